"""The pack's SQL on PostgreSQL: a small city lived there, defects planted, the scan finds them."""

from __future__ import annotations

from datetime import date

import pytest

from hpf.db.calendar import set_business_date
from hpf.db.engine import read_transaction, write_transaction
from hpf.inspection.rules import rules
from hpf.inspection.service import find, scan
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.sim.defects import plant
from hpf.sim.defects.audit import PLANTERS
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_planted_defects_are_found_on_postgresql(engine):
    start = date(2025, 2, 1)
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(engine, Context("demo", FixedClock(start), "990001"), seed=5, employers=8, members=160)
    summary = simulate(engine, "990001", months=8, seed=5)
    today = date.fromisoformat(summary.last_business_date)
    with read_transaction(engine) as conn:
        assert find(conn, today) == {rule.id: [] for rule in rules()}  # a healthy city
    planted = plant(engine, count=2, today=today, seed=5, planters=PLANTERS)
    assert {p.kind for p in planted} == set(PLANTERS)
    found = {(f.rule, f.object) for f in scan(engine, at=today).findings}
    assert found == {(p.kind, p.object) for p in planted}
