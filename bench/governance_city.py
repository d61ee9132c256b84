"""A large center with two years of history, built once and kept, for the governance benchmarks.

    python bench/governance_city.py --members 1000000 --employers 50000 [--months 24] [--dir DIR]

The quality scan (``hpf data scan``) and the audit pack (``hpf inspection scan``) read the whole
center; issue 16 times them on 1,000,000 members with two years of history. This builds that
center into ``DIR/governance-<members>-<months>.sqlite3`` (default DIR: the system's temporary
directory) and leaves it there for the next run; a file that is already complete is reused.

What it holds: the demo city (``hpf.sim.build_demo_center``: employers, members, their opening
balances, ID numbers and phones sealed), then, month by month from January 2023, one 汇缴 list
per employer for every active member with a bank receipt covering it, allocated by the real
month-end job (``run_month_end``: the remittance rows, the journal lines, the balances), the
annual interest settlement of each 30 June (``settle_year``), and a paid withdrawal a year for
three members in ten (rows only: see ``_withdrawals``). The lists and receipts are written
set-based, as in ``bench_month_end.py``; the month-end and the interest are the center's own jobs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, literal_column, select, text

from hpf import bootstrap
from hpf.contributions.month_end import run_month_end
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.interest import service as interest
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger import service as ledger
from hpf.policy.rules import DepositRate
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.sim import build_demo_center

FIRST = date(2023, 1, 1)
RATES = (DepositRate(date(2016, 2, 21), Decimal("0.015"), Decimal("0.015")),)
CENTER = "990001"


def _month_start(first: date, k: int) -> date:
    year, month = divmod(first.month - 1 + k, 12)
    return date(first.year + year, month + 1, 1)


def _month_end(start: date) -> date:
    return _month_start(start, 1) - timedelta(days=1)


def _lists_and_receipts(engine: Engine, start: date, now: Any) -> None:
    """The month's 汇缴 list of every employer in good standing, and the bank receipts that fund them."""
    month = start.strftime("%Y-%m")
    before = _month_start(start, -1).strftime("%Y-%m")
    with write_transaction(engine) as conn:
        conn.execute(
            text("UPDATE employer SET paid_through = :before WHERE state = '01'"), {"before": before}
        )
        conn.execute(
            text(
                "INSERT INTO remittance (employer_id, kind, month, state, members, employer_part_fen,"
                " member_part_fen, total_fen, source, idempotency_key, created_on, recorded_at, actor) "
                "SELECT m.employer_id, '01', :month, 'pending', COUNT(*), SUM(m.base_fen * 12 / 100),"
                " SUM(m.base_fen * 12 / 100), 2 * SUM(m.base_fen * 12 / 100), 'bench',"
                " 'bench:' || :month || ':' || m.employer_id, :day, :now, 'bench'"
                " FROM member m JOIN employer e ON e.id = m.employer_id"
                " WHERE m.state = '01' AND e.state = '01' GROUP BY m.employer_id"
            ),
            {"month": month, "day": start, "now": now},
        )
        conn.execute(
            text(
                "INSERT INTO remittance_row (remittance_id, member_id, base_fen, employer_fen, member_fen) "
                "SELECT r.id, m.id, m.base_fen, m.base_fen * 12 / 100, m.base_fen * 12 / 100 "
                "FROM remittance r JOIN member m ON m.employer_id = r.employer_id AND m.state = '01' "
                "WHERE r.month = :month AND r.state = 'pending'"
            ),
            {"month": month},
        )
        names = (
            "entry_key",
            "subject_code",
            "side",
            "amount_fen",
            "member_id",
            "employer_id",
            "balance_part",
        )
        key = f"'bench-receipts-{month}'"

        def lines(*sql: str) -> Select[Any]:
            columns = (literal_column(x).label(n) for x, n in zip(sql, names, strict=True))
            return (
                select(*columns)
                .select_from(text("remittance"))
                .where(text("month = :month AND state = 'pending'").bindparams(month=month))
            )

        no_id, no_part = "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR(8))"
        receipts = lines(key, "'21901'", "'C'", "total_fen", no_id, "employer_id", no_part)
        bank = lines(key, "'101'", "'D'", "SUM(total_fen)", no_id, no_id, no_part)
        header = ledger.EntryHeader("01", "BENCH", key.strip("'"), start, start, memo="bench receipts")
        ledger.post_set(conn, [header], receipts.union_all(bank), FixedClock(start))


def _withdrawals(engine: Engine, months: int) -> None:
    """Two years of paid withdrawals, set-based: each member with an id ending in 0–2 made one a
    year (a third of them rent, 租房 07, the rest 01–06 in turn), on a day of the month given by
    the id, with their own card (a card's blind index per member: no shared cards); what the audit
    pack's withdrawal rules read. Written as rows, as the legacy load of a center's history would;
    the ledger does not carry them (the benchmark times reads, not balances)."""
    with write_transaction(engine) as conn:
        for year in range(months // 12):
            conn.execute(
                text(
                    "INSERT INTO withdrawal (member_id, reason, requested_fen, allowed_fen, closes_account,"
                    " payee_name, payee_card_enc, payee_card_bidx, family_bidx, evidence, state, applied_on,"
                    " recorded_at, paid_on) "
                    "SELECT m.id, CASE WHEN m.id % 3 = 0 THEN '07' ELSE '0' || (1 + m.id % 6) END,"
                    " 150000, 150000, '0', '本人', 'bench', printf('%064x', m.id), '[]', '{}', 'paid',"
                    " date(:start, '+' || (m.id % 360) || ' days'), :now,"
                    " date(:start, '+' || (m.id % 360) || ' days') "
                    "FROM member m WHERE m.id % 10 < 3"
                ),
                {"start": f"{FIRST.year + year}-01-01", "now": f"{FIRST.year + year}-12-31T00:00:00+00:00"},
            )


def build_city(path: Path, *, members: int, employers: int, months: int, seed: int = 42) -> Engine:
    """The center at ``path``, built unless a complete one is there; its engine."""
    done = path.with_suffix(".done")
    engine = make_engine(f"sqlite:///{path}")
    if done.exists():
        upgrade(engine)  # the tables of what the benchmark runs, if they came after the city
        if not path.with_suffix(".withdrawals").exists():  # a city built before they were added
            _withdrawals(engine, months)
            path.with_suffix(".withdrawals").write_text("added\n")
        return engine
    for stale in (path, path.with_suffix(".sqlite3-wal"), path.with_suffix(".sqlite3-shm")):
        stale.unlink(missing_ok=True)
    engine.dispose()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    clock = FixedClock(FIRST)
    ctx = Context("bench", clock, CENTER, source="bench")
    began = time.perf_counter()
    build_demo_center(engine, ctx, seed=seed, employers=employers, members=members)
    print(f"  demo city of {members:,} members built in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    for k in range(months):
        start = _month_start(FIRST, k)
        clock.set(start)
        t = time.perf_counter()
        _lists_and_receipts(engine, start, clock.now())
        clock.set(_month_end(start))
        run_month_end(engine, ctx, start.strftime("%Y-%m"))
        if start.month == 6:
            interest.settle_year(engine, ctx, _month_end(start), day_basis=360, rates=RATES)
        print(f"  {start:%Y-%m} lived in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    _withdrawals(engine, months)
    path.with_suffix(".withdrawals").write_text("built\n")
    done.write_text(f"{members} members, {months} months\n")
    return engine


def city_path(directory: Path, members: int, months: int) -> Path:
    return directory / f"governance-{members}-{months}.sqlite3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--employers", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))
    path = city_path(args.dir, args.members, args.months)
    began = time.perf_counter()
    engine = build_city(path, members=args.members, employers=args.employers, months=args.months)
    with read_transaction(engine) as conn:
        lines = conn.scalar(text("SELECT COUNT(*) FROM journal_line"))
    print(f"{path}: {lines:,} journal lines, ready in {time.perf_counter() - began:.0f} s")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
