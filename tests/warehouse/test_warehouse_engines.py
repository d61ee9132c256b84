"""The build reads both engines alike: a demo center's opening balances on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import duckdb
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
