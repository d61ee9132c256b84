"""Code tables (代码表) of the HPF data standard, shipped as package data.

This module owns the code values OpenHPF stores in its two-character code fields: account
states, 归集和提取业务类型, 提取原因, loan code tables, 住建部编码 tables and GB/T 2261.1
gender. The values live in ``code_tables.json`` next to this file (read with
``importlib.resources``, so they ship in the wheel); that file's ``docs`` fields record
where each table comes from and that most JGJ/T 320-2014 attributions are UNVERIFIED.

Table ids are snake_case English (``member_account_state``, ``business_type`` ...); codes
are strings (``"01"``, never ``1``). An unknown table or code is refused with
:class:`~hpf.kernel.errors.InvalidInput` (``code_table.unknown_table`` /
``code_table.unknown_code``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from importlib import resources
from types import MappingProxyType
from typing import Any

from hpf.kernel.errors import InvalidInput

__all__ = [
    "Code",
    "CodeTable",
    "UnknownCodeTable",
    "code_table",
    "load_code_tables",
    "lookup",
    "require_code",
]

_RESOURCE = "code_tables.json"


@dataclass(frozen=True)
class Code:
    """One value of a code table."""

    code: str
    name_zh: str
    name_en: str
    local_extension: bool = False
    """True for a local (e.g. Bijie) extension that is not a value of the standard."""


class UnknownCodeTable(InvalidInput, KeyError):
    """No code table has the requested id (also a ``KeyError``, as for a mapping)."""

    __str__ = InvalidInput.__str__  # not KeyError's quoted repr


@dataclass(frozen=True)
class CodeTable:
    """A code table: its id, Chinese name, standard field code, source tag and values."""

    id: str
    name_zh: str
    field: str | None
    source: str
    codes: tuple[Code, ...]
    docs: str = ""
    _by_code: Mapping[str, Code] = dataclass_field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_code: dict[str, Code] = {}
        for entry in self.codes:
            if entry.code in by_code:
                raise ValueError(f"code table {self.id!r}: duplicate code {entry.code!r}")
            by_code[entry.code] = entry
        object.__setattr__(self, "_by_code", MappingProxyType(by_code))

    def get(self, code: str) -> Code:
        """The entry for ``code``; ``InvalidInput`` ``code_table.unknown_code`` if absent."""
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise InvalidInput(
                "code_table.unknown_code",
                f"{self.name_zh}代码无效",
                f"{code!r} is not a code of table {self.id!r} ({self.name_zh}).",
                table=self.id,
                value=code if isinstance(code, str) else repr(code),
            ) from None

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._by_code

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)


def _table_from_json(raw: Mapping[str, Any]) -> CodeTable:
    return CodeTable(
        id=raw["id"],
        name_zh=raw["name_zh"],
        field=raw.get("field"),
        source=raw["source"],
        docs=raw.get("docs", ""),
        codes=tuple(
            Code(
                code=c["code"],
                name_zh=c["name_zh"],
                name_en=c["name_en"],
                local_extension=bool(c.get("local_extension", False)),
            )
            for c in raw["codes"]
        ),
    )


@functools.cache
def load_code_tables() -> Mapping[str, CodeTable]:
    """All code tables by id (read once from the package data, then cached; read-only)."""
    text = resources.files("hpf.kernel").joinpath(_RESOURCE).read_text("utf-8")
    tables: dict[str, CodeTable] = {}
    for raw in json.loads(text)["tables"]:
        table = _table_from_json(raw)
        if table.id in tables:
            raise ValueError(f"duplicate code table id {table.id!r} in {_RESOURCE}")
        tables[table.id] = table
    return MappingProxyType(tables)


def code_table(table_id: str) -> CodeTable:
    """The table ``table_id``; :class:`UnknownCodeTable` (``code_table.unknown_table``)."""
    try:
        return load_code_tables()[table_id]
    except (KeyError, TypeError):
        raise UnknownCodeTable(
            "code_table.unknown_table",
            "代码表不存在",
            f"There is no code table {table_id!r}.",
            table=table_id if isinstance(table_id, str) else repr(table_id),
        ) from None


def lookup(table_id: str, code: str) -> Code:
    """The entry ``code`` of table ``table_id`` (see :func:`code_table`, :meth:`CodeTable.get`)."""
    return code_table(table_id).get(code)


def require_code(table_id: str, value: object, *, field: str) -> str:
    """``value`` when it is a code of table ``table_id``; otherwise :class:`InvalidInput`
    ``code_table.unknown_code`` naming ``field`` (what every door that takes a code calls)."""
    table = code_table(table_id)
    if isinstance(value, str) and value in table:
        return value
    shown = value if isinstance(value, str) else repr(value)
    return _refuse(table, field, shown)


def _refuse(table: CodeTable, field: str, shown: str) -> str:
    allowed = "、".join(f"{c.code}（{c.name_zh}）" for c in table.codes)
    raise InvalidInput(
        "code_table.unknown_code",
        f"{table.name_zh}代码无效：{shown[:20]}，可选值：{allowed}",
        f"{field}: {shown!r} is not a code of table {table.id!r} ({table.name_zh}).",
        field=field,
        table=table.id,
        value=shown,
    )
