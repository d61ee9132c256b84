"""fields_of: the one mapping view of a typed service result."""

from dataclasses import dataclass
from datetime import date

import pytest
from pydantic import BaseModel

from hpf.kernel.records import fields_of


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    opened: date


class Model(BaseModel):
    id: int
    name: str


def test_a_dataclass_gives_its_fields_shallow() -> None:
    assert fields_of(Row(7, date(2024, 3, 1))) == {"id": 7, "opened": date(2024, 3, 1)}


def test_a_model_and_a_mapping_give_their_fields() -> None:
    assert fields_of(Model(id=1, name="张三")) == {"id": 1, "name": "张三"}
    src = {"id": 2}
    out = fields_of(src)
    assert out == src and out is not src


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError):
        fields_of(3)
    with pytest.raises(TypeError):
        fields_of(Row)
