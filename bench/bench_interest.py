"""Benchmark annual interest settlement (``hpf.interest.service.settle_year``) against a bare insert.

    python bench/bench_interest.py [--members 1000000] [--url URL | --pg] [--chunk-size 50000]

Builds a center of N members straight into a fresh database (employer and member rows with
``bulk_insert``; each member's balances posted with ``ledger.post_set``: a carried-over part
valued 2024-07-01 and a current-year part valued 2025-01-15, so the year has real 积数), then
times ``settle_year`` for the year ending 2025-06-30 at 1.50%, basis 360. In the same run, in
the same database, it times the baseline: one bare ``bulk_insert`` (COPY on PostgreSQL,
``executemany`` on SQLite) of as many rows as the settlement wrote journal lines, shaped like
``journal_line``, into a scratch table without indexes or keys. Prints the machine, N, seconds,
lines/s and the ratio settlement / baseline.

``--url`` must name an empty database; ``--pg`` starts a throwaway PostgreSQL cluster
(``hpf.db.testing.start_cluster``: fsync, synchronous commit and full-page writes on, as in
production; ``--fast-unsafe`` turns them off, as for tests) and removes it afterwards. Default: a temporary SQLite file. The cluster gets
``BATCH_PG_SETTINGS``, the settings a production server on this 24 GiB machine would have for
batch work: shared_buffers 2GB, work_mem 64MB, maintenance_work_mem 512MB, max_wal_size 8GB and
checkpoint_timeout 30min (no checkpoint in the middle of the job), wal_buffers 64MB,
temp_buffers 256MB (the posting engine's staging tables stay in memory). wal_level stays at its
default (replica). The built center is vacuumed and analysed before the timing, as autovacuum
has a live center's tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Engine, String, func, literal, select, text, union_all

from hpf import bootstrap
from hpf.accounts.tables import employer, member
from hpf.check import check_center
from hpf.db.bulk import bulk_insert
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.interest import service as interest
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger import service as ledger
from hpf.ledger.tables import journal_line, member_balance
from hpf.policy.rules import DepositRate
from hpf.protection import protect
from hpf.schema import upgrade
from hpf.settings import Settings

YEAR_END = date(2025, 6, 30)
RATES = (DepositRate(date(2016, 2, 21), Decimal("0.015"), Decimal("0.015")),)
MEMBERS_PER_EMPLOYER = 20
BUILD_CHUNK = 100_000
EMPLOYER_COLUMNS = (
    "id", "account_no", "uscc", "name", "address", "legal_rep_name", "contact_name", "contact_phone_enc",
    "bank_name", "bank_account_no_enc", "payday", "employer_rate", "member_rate", "state", "opened_on", "version",
)  # fmt: skip
MEMBER_COLUMNS = (
    "id", "account_no", "certificate_type", "resident_id_enc", "resident_id_bidx", "name", "name_pinyin",
    "gender", "birth_date", "employer_id", "base_fen", "state", "opened_on", "version",
)  # fmt: skip
LINE_COLUMNS = (
    "entry_id", "line_no", "subject_code", "side", "amount_fen", "member_id", "employer_id",
    "balance_part", "value_date", "accrual_days",
)  # fmt: skip


def build_center(engine: Engine, ctx: Context, members: int) -> None:
    """N members of N/20 employers, each with a carried and a current balance (set-based)."""
    opened = date(2010, 1, 1)
    employers = -(-members // MEMBERS_PER_EMPLOYER)
    # Personal data is stored encrypted (hpf.protection.protect); every row shares one sealed
    # value per field here, but each member's ID number needs its own blind index (unique).
    keys = protect.ring()
    phone = protect.seal("employer", "contact_phone", "13800138000")
    account = protect.seal("employer", "bank_account_no", "6222000000000000000")
    rid = protect.seal("member", "resident_id", "110101199001011234")
    rid_ctx = protect.context("member", "resident_id")
    with write_transaction(engine) as conn:
        rate = Decimal("0.12") if conn.dialect.name == "postgresql" else "0.12"
        bulk_insert(conn, employer, EMPLOYER_COLUMNS, (
            (e, f"E{e:011d}", f"B{e:017d}", f"单位{e}", "地址", "法人", "联系人", phone, "银行",
             account, 10, rate, rate, "01", opened, 1)
            for e in range(1, employers + 1)
        ))  # fmt: skip
    for lo in range(1, members + 1, BUILD_CHUNK):
        hi = min(lo + BUILD_CHUNK - 1, members)
        with write_transaction(engine) as conn:
            bulk_insert(conn, member, MEMBER_COLUMNS, [
                (m, f"M{m:011d}", "01", rid, keys.blind_index(f"R{m:017d}", context=rid_ctx), "张三",
                 "zhang san", "1", date(1990, 1, 1), (m - 1) // MEMBERS_PER_EMPLOYER + 1, 800_000, "01", opened, 1)
                for m in range(lo, hi + 1)
            ])  # fmt: skip
            ledger.open_member_balances(conn, range(lo, hi + 1))
            _post_balances(conn, ctx, lo, hi)
        print(f"  built {hi:,}/{members:,} members", file=sys.stderr)
    if engine.dialect.name == "postgresql":
        with write_transaction(engine) as conn:
            for table in ("employer", "member"):
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                ))  # fmt: skip
        # A live center's rows were written over years and autovacuum has visited them (hint
        # bits, visibility map); rows written a second ago have not been, and the settlement's
        # first scan would pay for that instead (as bench_loan_month_end does).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def _post_balances(conn: Any, ctx: Context, lo: int, hi: int) -> None:
    """Opening balances of members lo..hi from SQL: carried 10.00–50,009.99 yuan, current 0–2,999.99."""
    mb = member_balance.c
    carried = (mb.member_id * 7919) % 5_000_000 + 1_000
    current = (mb.member_id * 104_729) % 300_000
    headers, parts = [], []
    for part, amount, day in (
        ("carried", carried, date(2024, 7, 1)),
        ("current", current, date(2025, 1, 15)),
    ):
        key = f"bench:{part}:{lo}-{hi}"
        headers.append(ledger.EntryHeader("99", f"BENCH-{part}", key, day, day, "bench opening"))
        scope = mb.member_id.between(lo, hi)
        parts += [
            select(literal(key), literal("201"), literal("C"), amount, mb.member_id, literal(None, BigInteger),
                   literal(part)).where(scope, amount > 0),
            select(literal(key), literal("101"), literal("D"), func.sum(amount), literal(None, BigInteger),
                   literal(None, BigInteger), literal(None, String)).where(scope),
        ]  # fmt: skip
    ledger.post_set(conn, headers, union_all(*parts), ctx.clock)


def baseline(engine: Engine, rows: int, *, with_indexes: bool = False) -> float:
    """Seconds for one bulk insert of ``rows`` journal-line-shaped rows into a scratch table:
    a bare heap, or ``with_indexes`` carrying journal_line's three secondary indexes."""
    with write_transaction(engine) as conn:
        conn.execute(text(
            "CREATE TABLE bench_scratch_line (id BIGINT PRIMARY KEY, entry_id BIGINT, line_no SMALLINT, "
            "subject_code VARCHAR(10), side VARCHAR(1), amount_fen BIGINT, member_id BIGINT, employer_id BIGINT, "
            "balance_part VARCHAR(8), value_date DATE, accrual_days SMALLINT)"
        ))  # fmt: skip
        if with_indexes:
            conn.execute(text("CREATE INDEX bench_scratch_e ON bench_scratch_line (entry_id)"))
            conn.execute(
                text("CREATE INDEX bench_scratch_m ON bench_scratch_line (member_id, value_date, id)")
            )
            conn.execute(  # partial, as journal_line's (migration 0007)
                text(
                    "CREATE INDEX bench_scratch_r ON bench_scratch_line (employer_id) WHERE employer_id IS NOT NULL"
                )
            )
    day = YEAR_END if engine.dialect.name == "postgresql" else YEAR_END.isoformat()
    data = [
        (i, 1 + i // 50_000, i % 30_000, "201", "C", 1_000 + i, i, None, "carried", day, 0)
        for i in range(rows)
    ]
    started = time.perf_counter()
    with write_transaction(engine) as conn:
        bulk_insert(conn, "bench_scratch_line", ("id", *LINE_COLUMNS), data)
    seconds = time.perf_counter() - started
    with write_transaction(engine) as conn:
        conn.execute(text("DROP TABLE bench_scratch_line"))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--url", help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--pg", action="store_true", help="start a throwaway PostgreSQL cluster")
    parser.add_argument(
        "--fast-unsafe",
        action="store_true",
        help="PostgreSQL with fsync, synchronous commit and full-page writes off (not a production figure)",
    )
    parser.add_argument("--check", action="store_true", help="run hpf check after settlement (slow)")
    args = parser.parse_args(argv)
    # A development center: the development key ring, the item handlers, the event listeners.
    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))

    print(f"machine: nproc={os.cpu_count()} python={platform.python_version()} ({platform.machine()}) "
          f"sqlite={sqlite3.sqlite_version}")  # fmt: skip
    cluster = None
    with tempfile.TemporaryDirectory(prefix="hpf-bench-") as tmp:
        url = args.url or f"sqlite:///{tmp}/interest.sqlite3"
        if args.pg:
            from hpf.db.testing import BATCH_PG_SETTINGS, start_cluster

            cluster = start_cluster(BATCH_PG_SETTINGS, durable=not args.fast_unsafe)
            if cluster is not None:
                print(cluster.durability(), flush=True)
            url = cluster.url()
        try:
            return _run(make_engine(url), args)
        finally:
            if cluster is not None:
                cluster.stop()


def _run(engine: Engine, args: argparse.Namespace) -> int:
    upgrade(engine)
    clock = FixedClock(date(2025, 1, 15))
    ctx = Context(actor="bench", clock=clock, center_code="990001", source="sim")
    started = time.perf_counter()
    build_center(engine, ctx, args.members)
    print(f"database: {engine.url.render_as_string(hide_password=True)}")
    print(f"center: {args.members:,} members built in {time.perf_counter() - started:.1f} s")

    clock.set(YEAR_END)
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 2 or done == total:
            last[0] = now
            print(f"  {now - started:7.1f}s {stage} chunk {done}/{total}", file=sys.stderr)

    started = time.perf_counter()
    summary = interest.settle_year(
        engine, ctx, YEAR_END, day_basis=360, rates=RATES, chunk_size=args.chunk_size, progress=progress
    )
    seconds = time.perf_counter() - started
    with read_transaction(engine) as conn:
        lines = int(
            conn.scalar(
                select(func.count()).select_from(journal_line).where(journal_line.c.value_date == YEAR_END)
            )
            or 0
        )
        if args.check:
            findings = check_center(conn)
            print(f"hpf check: {'clean' if not findings else findings[:3]}")
    base = baseline(engine, lines)
    indexed = baseline(engine, lines, with_indexes=True)
    engine.dispose()
    print(f"settlement: {summary.members_credited:,} members credited "
          f"{summary.interest_fen / 100:,.2f} yuan, {summary.carried_over_fen / 100:,.2f} yuan carried over; "
          f"{lines:,} journal lines in {summary.chunks} chunks")  # fmt: skip
    print(f"  settle_year: {seconds:.2f} s ({lines / seconds:,.0f} lines/s, "
          f"{args.members / seconds:,.0f} members/s)")  # fmt: skip
    print(f"  baseline:    {base:.2f} s bare bulk insert of {lines:,} rows ({lines / base:,.0f} rows/s)")
    print(f"  baseline with journal_line's indexes: {indexed:.2f} s")
    print(f"  ratio settlement/baseline = {seconds / base:.1f}x bare, {seconds / indexed:.1f}x indexed"
          "   (targets: ≤ 10 s, ≤ 3x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
