"""Shared fixtures: a business clock, a context, and migrated databases on both engines.

Integration tests take the ``engine`` fixture and run once on SQLite and once on PostgreSQL
(a throwaway cluster from the local binaries). Each test gets a fresh database: SQLite a new
file, PostgreSQL a copy of a migrated template database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from databases import fresh_database
from hpf.db.engine import make_engine
from hpf.db.testing import PgCluster, find_pg_bin, start_cluster
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.schema import upgrade

# Without HPF_ENV the server is in production mode; the tests run a development center (the
# development keys, FakeSms). Subprocesses started by tests inherit it.
os.environ.setdefault("HPF_ENV", "development")

BUSINESS_DATE = date(2025, 3, 15)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(BUSINESS_DATE)


@pytest.fixture
def ctx(clock: FixedClock) -> Context:
    return Context(actor="tester", clock=clock, center_code="990001", source="test")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    if find_pg_bin() is None:
        if os.environ.get("HPF_REQUIRE_POSTGRES"):
            pytest.fail("HPF_REQUIRE_POSTGRES is set but initdb/pg_ctl are not installed")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    cluster = start_cluster()
    template = make_engine(cluster.url())
    with template.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE DATABASE hpf_template"))
    template.dispose()
    migrated = make_engine(cluster.url("hpf_template"))
    upgrade(migrated)
    migrated.dispose()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated database, once per engine."""
    yield from fresh_database(request, tmp_path, stem="t", migrate=upgrade, template="hpf_template")


@pytest.fixture
def sign_in():
    """``sign_in(client, login="tester", roles=ALL_STAFF_ROLES, session=False)``: a signed-in client.

    Creates the staff principal in the client's app and gives the client a bearer token, or
    (``session=True``) a page session with its CSRF token. See ``tests/signing_in.py``.
    """
    from signing_in import sign_in as signer

    return signer


@pytest.fixture(scope="session", autouse=True)
def wiring():
    """The dependencies of a development center (``hpf.bootstrap``): the development key ring,
    the item handlers and the event listeners, built once per test process and installed before
    any fixture (a module-scoped center is set up before the first test's ``_started``)."""
    from hpf import bootstrap
    from hpf.settings import Settings

    built = bootstrap.build(Settings(database_url="sqlite://", env="development"))
    bootstrap.install(built)
    return built


@pytest.fixture(autouse=True)
def _started(wiring):
    """Every test runs in a process started through bootstrap; one that started it otherwise (the
    CLI, create_app with other keys, a test that took the ring away) leaves nothing behind."""
    from hpf import bootstrap

    bootstrap.install(wiring)
    yield
    bootstrap.install(wiring)


@pytest.fixture
def fake(clock):
    """The fake bank's state (``hpf.settlement.fakebank``): accounts, faults, notices."""
    from hpf.settlement.fakebank import FakeBank
    from settlement_support import SECRET

    return FakeBank(secret=SECRET, today=clock.today())


@pytest.fixture
def bank(fake):
    """The center's adapter, speaking HTTP to the fake bank in-process (no sockets)."""
    from hpf.settlement.fakebank import in_process
    from settlement_support import SECRET

    return in_process(fake, center_code="990001", secret=SECRET, base_url="http://bank")
