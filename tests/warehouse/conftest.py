"""A small simulated center lived once per test process, its warehouse built nightly by the
simulator; a fresh copy of both per test."""

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
from warehouse_city import MONTHS, START, TODAY


@pytest.fixture(scope="session")
def lived_center(tmp_path_factory: pytest.TempPathFactory, wiring: object) -> Path:
    """400 members at 20 employers, fourteen months lived, the warehouse built after each month-end."""
    folder = tmp_path_factory.mktemp("warehouse-city")
    path = folder / "city.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with write_transaction(engine) as conn:
        set_business_date(conn, START)
    build_demo_center(engine, Context("demo", FixedClock(START), "990001"), seed=5, employers=20, members=400)
    summary = simulate(engine, "990001", months=MONTHS, seed=5, warehouse=folder / "warehouse.duckdb")
    assert summary.last_business_date == TODAY.isoformat()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return folder


@pytest.fixture
def center(lived_center: Path, tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    """The center's database and its warehouse (copies)."""
    shutil.copy(lived_center / "city.sqlite3", tmp_path / "city.sqlite3")
    shutil.copy(lived_center / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    engine = make_engine(f"sqlite:///{tmp_path / 'city.sqlite3'}")
    yield engine, tmp_path / "warehouse.duckdb"
    engine.dispose()
