"""Shared fixtures: a business clock, a context, and migrated databases on both engines.

Integration tests take the ``engine`` fixture and run once on SQLite and once on PostgreSQL
(a throwaway cluster from the local binaries). Each test gets a fresh database: SQLite a new
file, PostgreSQL a copy of a migrated template database.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text

from hpf.db.engine import make_engine
from hpf.db.migrate import upgrade
from hpf.db.testing import PgCluster, find_pg_bin, start_cluster
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.identifiers import resident_id_check_digit, uscc_check_char

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


_db_numbers = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Engine]:
    """A freshly migrated database, once per engine."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path}/hpf.sqlite3")
        upgrade(eng)
        yield eng
        eng.dispose()
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = f"t{os.getpid()}_{next(_db_numbers)}"
    admin = make_engine(cluster.url())
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE hpf_template"))
    eng = make_engine(cluster.url(name))
    yield eng
    eng.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def make_resident_id(seq: int, birth: str = "19900307", region: str = "370102", female: bool = False) -> str:
    """A valid 18-digit resident ID for tests."""
    order = (seq % 500) * 2 + (0 if female else 1)
    body = f"{region}{birth}{order:03d}"
    return body + resident_id_check_digit(body)


def make_uscc(seq: int) -> str:
    """A valid unified social credit code for tests."""
    from stdnum.cn import uscc as std_uscc  # organisation code part must carry its own check

    org = f"{seq:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(d) * w for d, w in zip(org, weights, strict=True)) % 11
    org += {10: "X", 11: "0"}.get(check, str(check))
    body = f"91370102{org}"
    code = body + uscc_check_char(body)
    std_uscc.validate(code)
    return code


def employer_payload(seq: int = 1, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "uscc": make_uscc(seq),
        "name": f"济南示范科技有限公司{seq}",
        "address": "山东省济南市历下区泉城路1号",
        "legal_rep_name": "王建国",
        "contact_name": "李丽",
        "contact_phone": "13800138000",
        "bank_name": "中国工商银行济南分行",
        "bank_account_no": "1602000109000123456",
        "payday": 10,
        "employer_rate": "0.12",
        "member_rate": "0.12",
    }
    data.update(overrides)
    return data


def member_payload(seq: int = 1, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "resident_id": make_resident_id(seq),
        "name": "张三",
        "base_fen": 800_000,
        "phone": "13900139000",
    }
    data.update(overrides)
    return data
