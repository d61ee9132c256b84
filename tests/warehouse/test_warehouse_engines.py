"""The build reads both engines alike: a demo center's opening balances on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from sqlalchemy import func, select

from hpf.db.calendar import set_business_date
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger.tables import member_balance
from hpf.sim.generator import build_demo_center
from hpf.warehouse.build import build


def test_a_demo_center_enters_the_warehouse(engine, tmp_path):
    start = date(2024, 1, 1)
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(engine, Context("demo", FixedClock(start), "990001"), seed=2, employers=4, members=40)
    with read_transaction(engine) as conn:
        total = conn.scalar(select(func.sum(member_balance.c.carried_fen + member_balance.c.current_fen)))
    path = tmp_path / "w.duckdb"
    summary = build(engine, path, through=date(2024, 2, 1))
    assert summary.months and summary.months[-1] == "2024-01"
    con = duckdb.connect(str(path), read_only=True)
    (balance,) = con.execute("SELECT sum(balance_fen) FROM fact_balance WHERE month = '2024-01'").fetchone()
    (members,) = con.execute("SELECT count(*) FROM dim_member").fetchone()
    con.close()
    assert total and balance == total and members == 40


def test_the_build_without_adbc_gives_the_same_warehouse(engine, tmp_path, monkeypatch):
    """An engine without an ADBC driver is read through its DB-API cursor: the same facts."""
    from hpf.warehouse import build as warehouse_build

    start = date(2024, 1, 1)
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(engine, Context("demo", FixedClock(start), "990001"), seed=3, employers=3, members=30)
    through = date(2024, 2, 1)
    build(engine, tmp_path / "adbc.duckdb", through=through)
    connected: list[object] = []
    real = warehouse_build._adbc_connect
    monkeypatch.setattr(warehouse_build, "_adbc_connect", lambda conn: connected.append(real) or None)
    build(engine, tmp_path / "dbapi.duckdb", through=through)
    assert connected, "the fallback was not taken"
    tables = ("fact_member_movement", "fact_balance", "dim_member", "dim_employer", "member_tag")
    seen = []
    for name in ("adbc", "dbapi"):
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
        seen.append(
            {
                t: sorted(
                    con.execute(
                        f"SELECT * EXCLUDE (as_of) FROM {t}"
                        if t in ("dim_member", "member_tag")
                        else f"SELECT * FROM {t}"
                    ).fetchall()
                )
                for t in tables
            }
        )
        con.close()
    assert seen[0] == seen[1]
    assert seen[0]["fact_balance"] and seen[0]["dim_member"]


def test_the_build_reads_in_one_read_only_snapshot(engine):
    """The ADBC connection cannot write, and on PostgreSQL reads in one REPEATABLE READ transaction."""

    from hpf.warehouse.build import _adbc_connect

    with read_transaction(engine) as conn:
        adbc = _adbc_connect(conn)
        assert adbc is not None
        cursor = adbc.cursor()
        try:
            if conn.dialect.name == "postgresql":
                cursor.execute(
                    "SELECT current_setting('transaction_isolation') AS i, "
                    "current_setting('transaction_read_only') AS r, now() = statement_timestamp() AS fresh"
                )
                assert cursor.fetchall() == [("repeatable read", "on", False)]
            else:
                with pytest.raises(Exception, match=r"readonly|read-only|read only"):
                    cursor.execute("CREATE TABLE wh_probe (a INTEGER)")
        finally:
            cursor.close()
            adbc.close()
