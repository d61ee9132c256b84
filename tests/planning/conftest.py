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
from planning_city import CENTER, MONTHS, START, TODAY


@pytest.fixture(scope="session")
def lived_city(tmp_path_factory: pytest.TempPathFactory, wiring: object) -> Path:
    """600 members at 20 employers, ten months lived by the simulator; copied for each test."""
    folder = tmp_path_factory.mktemp("planning-city")
    path = folder / "city.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with write_transaction(engine) as conn:
        set_business_date(conn, START)
    build_demo_center(engine, Context("demo", FixedClock(START), CENTER), seed=5, employers=20, members=600)
    summary = simulate(engine, CENTER, months=MONTHS, seed=5)
    assert summary.last_business_date == TODAY.isoformat()
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
