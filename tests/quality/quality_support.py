"""A small simulated center for the quality tests, and what a scan found."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from hpf.db.calendar import set_business_date, stored_business_date
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.quality import service as quality
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate

TIMELINESS = frozenset({"Q-TIM-REMITTANCE-LATE", "Q-TIM-RECEIPT-LATE"})  # the simulator's own defects


def small_center(engine: Engine, *, employers: int, members: int, months: int, seed: int = 4) -> date:
    """A demo center simulated ``months`` months from 2025-05-01; its business date after."""
    start = date(2025, 5, 1)
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(
        engine, Context("demo", FixedClock(start), "990001"), seed=seed, employers=employers, members=members
    )
    simulate(engine, "990001", months=months, seed=seed)
    with read_transaction(engine) as conn:
        today = stored_business_date(conn)
    assert today is not None
    return today


def found(engine: Engine, run_id: int) -> set[tuple[str, str]]:
    with read_transaction(engine) as conn:
        return {(rule, obj) for rule, obj, _ in quality.current_findings(conn, run_id)}
