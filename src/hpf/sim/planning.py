"""The simulator's part of planning (decision 0038): a policy what-if run forward on copies of
the center's database, and the early-warning rules measured on a simulated history.

``hpf.planning`` sits below the simulator: it records what-if runs and installs what runs them
(:func:`whatif_runner`, installed by ``hpf whatif`` and ``hpf serve``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from hpf.db.calendar import stored_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput
from hpf.ledger.queries import subject_entries_subquery
from hpf.loans.calculator import rates
from hpf.loans.queries import loan_book_subquery
from hpf.planning import warning
from hpf.planning.liquidity import indicators
from hpf.planning.whatif import RATE_CHANGE, Outcome, Runner, WhatIfParams, WhatIfResult
from hpf.policy.service import schedule_change
from hpf.sim.simulator import simulate
from hpf.withdrawals.queries import withdrawals_subquery

DISBURSEMENT_TYPE = "01"  # the journal's business type of a loan's disbursement (贷款发放)


def copy_sqlite(engine: Engine, target: Path) -> Path:
    """A consistent copy of the engine's SQLite database (the online backup API: safe while the
    center works); refused on another engine."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        raise InvalidInput(
            "planning.whatif_sqlite_only",
            "政策模拟需复制数据库文件，仅支持SQLite；PostgreSQL请将备份恢复到临时库后对其运行 hpf whatif",
            "a what-if copies the database file: SQLite only. On PostgreSQL restore a pg_dump into a "
            "scratch database and run `hpf whatif` with HPF_DATABASE_URL pointing at it",
        )
    source = sqlite3.connect(engine.url.database)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target


def outcome(conn: Connection, since: date, on: date) -> Outcome:
    """The figures compared side by side: liquidity, 个贷率, loans made and withdrawals paid since
    ``since``, and the people served (borrowers plus members who withdrew)."""
    ind = indicators(conn, on, [])
    moves = subject_entries_subquery(["121"], "loans")
    made = conn.execute(
        select(
            func.count(func.distinct(moves.c.business_id)), func.coalesce(func.sum(moves.c.net_debit_fen), 0)
        ).where(
            moves.c.business_type == DISBURSEMENT_TYPE,
            moves.c.posting_date >= since,
            moves.c.net_debit_fen > 0,
        )
    ).one()
    w = withdrawals_subquery("w")
    paid = conn.execute(
        select(func.count(func.distinct(w.c.member_id)), func.coalesce(func.sum(w.c.allowed_fen), 0)).where(
            w.c.state == "paid", w.c.applied_on >= since
        )
    ).one()
    book = loan_book_subquery("book")
    weighted = conn.execute(
        select(func.sum(book.c.principal_fen * book.c.rate_e7), func.sum(book.c.principal_fen)).where(
            book.c.disbursed_on >= since
        )
    ).one()
    new_rate = (
        None
        if not weighted[1]
        else str((Decimal(weighted[0]) / Decimal(weighted[1]) / Decimal(100_000)).quantize(Decimal("0.0001")))
    )
    return Outcome(
        start=since.isoformat(),
        end=on.isoformat(),
        bank_fen=ind.bank_fen,
        loan_balance_fen=ind.loan_balance_fen,
        deposits_fen=ind.deposits_fen,
        loan_ratio=str(ind.loan_ratio) if ind.loan_ratio is not None else None,
        coverage_30=str(ind.coverage_30) if ind.coverage_30 is not None else None,
        loans_made=int(made[0]),
        loans_made_fen=int(made[1]),
        withdrawers=int(paid[0]),
        withdrawn_fen=int(paid[1]),
        new_loans_rate=new_rate,
        people_served=int(made[0]) + int(paid[0]),
    )


def _live(path: Path, center_code: str, params: WhatIfParams, change: bool) -> Outcome:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with read_transaction(engine) as conn:
            start = stored_business_date(conn)
        if start is None:
            raise InvalidInput("planning.whatif_no_date", "数据库未设置业务日期", "no business date")
        supposed: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if change and params["parameter"] == RATE_CHANGE:  # the national table, moved in this run only
            supposed = rates.supposing(int(params["value"]), start)
        elif change:
            ctx = Context("whatif", FixedClock(start), center_code, source="sim")
            with write_transaction(engine) as conn:
                schedule_change(conn, ctx, params["parameter"], start, params["value"], "政策模拟（副本）")
        with supposed:
            summary = simulate(engine, center_code, months=params["months"], seed=params["seed"])
        end = date.fromisoformat(summary.last_business_date)
        with read_transaction(engine) as conn:
            return outcome(conn, start, end)
    finally:
        engine.dispose()


def run_whatif(engine: Engine, center_code: str, params: WhatIfParams) -> WhatIfResult:
    """Both runs on copies of ``engine``'s database (the center's own is never written)."""
    with tempfile.TemporaryDirectory(prefix="hpf-whatif-") as folder:
        base = copy_sqlite(engine, Path(folder) / "base.sqlite3")
        changed = copy_sqlite(engine, Path(folder) / "changed.sqlite3")
        unchanged = _live(base, center_code, params, change=False)
        other = _live(changed, center_code, params, change=True)
    return WhatIfResult(params=params, base=unchanged, changed=other)


def whatif_runner(center_code: str) -> Runner:
    def run(engine: Engine, params: WhatIfParams) -> WhatIfResult:
        return run_whatif(engine, center_code, params)

    return run


def measure_early_warning(engine: Engine, center_code: str, *, months: int, seed: int = 7) -> warning.Measure:
    """Live ``months`` months in the simulator, the early-warning scan after each month-end, and
    measure the rules (writes the engine's database: give it a copy)."""
    measure = warning.Measure()

    def after_month(_what: str, _done: int, _total: int) -> None:
        with write_transaction(engine) as conn:
            on = stored_business_date(conn)
            assert on is not None
            warning.observe(conn, on, measure)

    simulate(engine, center_code, months=months, seed=seed, progress=after_month)
    return measure
