"""A small simulated center lived once per test process, and a fresh copy of it per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hpf.db.calendar import set_business_date
from hpf.db.engine import make_engine, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.schema import upgrade
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate
from inspection_city import MONTHS, START, TODAY


@pytest.fixture(scope="session")
def lived_city(tmp_path_factory: pytest.TempPathFactory, wiring: object) -> Path:
    """300 members at 15 employers, ten months lived by the simulator (its own monthly scans
    included); the file is copied for each test."""
    folder = tmp_path_factory.mktemp("inspection-city")
    path = folder / "city.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with write_transaction(engine) as conn:
        set_business_date(conn, START)
    build_demo_center(engine, Context("demo", FixedClock(START), "990001"), seed=3, employers=15, members=300)
    summary = simulate(engine, "990001", months=MONTHS, seed=3)
    assert summary.last_business_date == TODAY.isoformat()
    assert len(summary.inspection_findings) == MONTHS  # the pack ran at each month-end
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def city(lived_city: Path, tmp_path: Path) -> Iterator[Engine]:
    copy = tmp_path / "city.sqlite3"
    shutil.copy(lived_city, copy)
    engine = make_engine(f"sqlite:///{copy}")
    yield engine
    engine.dispose()
