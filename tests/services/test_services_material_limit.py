"""At most ``rules.MAX_MATERIALS`` files per application: an endless upload loop stops there.

Each material is stored encrypted and listed on every read of the application; without a limit
one applicant could attach thousands of files to one application.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from hpf.db.engine import write_transaction
from hpf.kernel.errors import HpfError
from hpf.services import handlers, rules, service
from services_support import PNG, FakeWithdrawals, build_center


@pytest.fixture
def fake() -> Iterator[FakeWithdrawals]:
    handler = FakeWithdrawals()
    with handlers.registered(handler):
        yield handler


def test_the_twenty_first_material_is_refused(engine: Engine, fake: FakeWithdrawals) -> None:
    center = build_center(engine)
    a = center.people["a"]
    with write_transaction(engine) as conn:
        app = service.submit(conn, center.ctx, a, "WD-RENT", {"rent_monthly_fen": 150_000})
        for n in range(rules.MAX_MATERIALS):  # distinct bytes: each one a new blob
            service.add_material(conn, center.ctx, a, app.id, "M-ID", f"id{n}.png", PNG + bytes([n]))
    assert rules.MAX_MATERIALS == 20
    with pytest.raises(HpfError) as err, write_transaction(engine) as conn:
        service.add_material(conn, center.ctx, a, app.id, "M-ID", "one-more.png", PNG + b"x")
    assert err.value.code == "application.too_many_materials" and err.value.status == 422
    assert "20" in err.value.title
    with write_transaction(engine) as conn:
        assert len(service.materials(conn, app.id)) == rules.MAX_MATERIALS
