"""Benchmark the month-end job (allocation of every funded list, arrears) on a large center.

    python bench/bench_month_end.py --members 1000000 --employers 50000 [--postgres] [--seed 42]

Builds a demo center (``hpf.sim.build_demo_center``), then — set-based, outside the timing —
one pending 汇缴 list per employer for every active member and a bank receipt covering each,
and times ``run_month_end`` for the whole center. In the same run it times the baseline the
issue asks for: a bare bulk insert of the same number of journal lines (COPY on PostgreSQL,
one executemany on SQLite) into a scratch table with journal_line's columns, and prints the ratio.

``--postgres`` starts a throwaway cluster (``hpf.db.testing.start_cluster``: production durability — fsync, synchronous
commit and full-page writes on; ``--fast-unsafe`` turns them off, as for tests) with ``BATCH_PG_SETTINGS``, the settings a
production server on this 24 GiB machine would have for batch work: shared_buffers 2GB,
work_mem 64MB, maintenance_work_mem 512MB, max_wal_size 8GB and checkpoint_timeout 30min (no
checkpoint in the middle of the job), wal_buffers 64MB, temp_buffers 256MB (the posting engine's
staging tables stay in memory). wal_level stays at its default (replica).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    Select,
    Table,
    func,
    literal_column,
    select,
    text,
)

from hpf import bootstrap
from hpf.contributions.month_end import run_month_end
from hpf.db.bulk import bulk_insert
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.db.testing import BATCH_PG_SETTINGS, start_cluster
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger import service as ledger
from hpf.ledger.tables import journal_line
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.sim import build_demo_center

MONTH = "2025-03"
START = date(2025, 3, 1)


def prepare(engine: Engine, ctx: Context) -> int:
    """One funded pending list per employer with active staff; returns the lines month-end will post."""
    with write_transaction(engine) as conn:
        conn.execute(
            text("UPDATE employer SET paid_through = '2025-02', state = '01' WHERE state IN ('01', '02')")
        )
        conn.execute(
            text(
                "INSERT INTO remittance (employer_id, kind, month, state, members, employer_part_fen, member_part_fen,"
                " total_fen, source, idempotency_key, created_on, recorded_at, actor) "
                "SELECT m.employer_id, '01', :month, 'pending', COUNT(*), SUM(m.base_fen * 12 / 100),"
                " SUM(m.base_fen * 12 / 100), 2 * SUM(m.base_fen * 12 / 100), 'bench', 'bench:' || m.employer_id,"
                " :day, :now, 'bench' FROM member m JOIN employer e ON e.id = m.employer_id"
                " WHERE m.state = '01' AND e.state = '01' GROUP BY m.employer_id"
            ),
            {"month": MONTH, "day": START, "now": ctx.clock.now()},
        )
        conn.execute(
            text(
                "INSERT INTO remittance_row (remittance_id, member_id, base_fen, employer_fen, member_fen) "
                "SELECT r.id, m.id, m.base_fen, m.base_fen * 12 / 100, m.base_fen * 12 / 100 "
                "FROM remittance r JOIN member m ON m.employer_id = r.employer_id AND m.state = '01'"
            )
        )
        lists = conn.scalar(text("SELECT COUNT(*) FROM remittance"))
        rows = conn.scalar(text("SELECT COUNT(*) FROM remittance_row"))
        names = (
            "entry_key",
            "subject_code",
            "side",
            "amount_fen",
            "member_id",
            "employer_id",
            "balance_part",
        )

        def lines(*sql: str) -> Select[Any]:
            columns = (literal_column(x).label(n) for x, n in zip(sql, names, strict=True))
            return select(*columns).select_from(text("remittance"))

        no_id, no_part = "CAST(NULL AS BIGINT)", "CAST(NULL AS VARCHAR(8))"
        receipts = lines("'bench-receipts'", "'21901'", "'C'", "total_fen", no_id, "employer_id", no_part)
        bank = lines("'bench-receipts'", "'101'", "'D'", "SUM(total_fen)", no_id, no_id, no_part)
        header = ledger.EntryHeader("01", "BENCH", "bench-receipts", START, START, memo="bench receipts")
        ledger.post_set(conn, [header], receipts.union_all(bank), ctx.clock)
    print(f"prepared {lists} lists, {rows} rows", flush=True)
    return int(rows) + int(lists)


def baseline(engine: Engine, lines: int, *, with_indexes: bool) -> float:
    """Seconds to bulk insert ``lines`` journal lines into a scratch table shaped like journal_line.

    ``with_indexes``: the scratch table also gets journal_line's three secondary indexes (what a
    journal line costs to store here); without, it is a bare heap with the same columns.
    Member ids ascend, the cheapest order for the (member_id, value_date, id) index.
    """
    meta = MetaData()
    columns = [Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)]
    columns += [Column(c.name, c.type, nullable=True) for c in journal_line.columns if c.name != "id"]
    scratch = Table("bench_scratch_line", meta, *columns)
    if with_indexes:
        Index("bench_scratch_entry", scratch.c.entry_id)
        Index("bench_scratch_member", scratch.c.member_id, scratch.c.value_date, scratch.c.id)
        partial = text("employer_id IS NOT NULL")  # as journal_line's (migration 0007)
        Index("bench_scratch_employer", scratch.c.employer_id, postgresql_where=partial, sqlite_where=partial)
    with write_transaction(engine) as conn:
        scratch.drop(conn, checkfirst=True)
        scratch.create(conn)
    cols = [c.name for c in scratch.columns if c.name != "id"]
    row = {
        "entry_id": 1,
        "subject_code": "201",
        "side": "C",
        "amount_fen": 12_345,
        "employer_id": None,
        "balance_part": "current",
        "value_date": START,
        "accrual_days": 122,
    }
    data = [
        tuple(i if c == "member_id" else i // 20 if c == "entry_id" else row[c] for c in cols)
        for i in range(lines)
    ]
    started = time.perf_counter()
    with write_transaction(engine) as conn:
        bulk_insert(conn, scratch, cols, data)
    seconds = time.perf_counter() - started
    with write_transaction(engine) as conn:
        scratch.drop(conn)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--employers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--postgres", action="store_true", help="use a throwaway local PostgreSQL cluster")
    parser.add_argument(
        "--fast-unsafe",
        action="store_true",
        help="PostgreSQL with fsync, synchronous commit and full-page writes off (not a production figure)",
    )
    args = parser.parse_args(argv)
    # A development center: the development key ring, the item handlers, the event listeners.
    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True
    )
    cluster = start_cluster(BATCH_PG_SETTINGS, durable=not args.fast_unsafe) if args.postgres else None
    if cluster is not None:
        print(cluster.durability(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = cluster.url() if cluster else f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            ctx = Context("bench", FixedClock(START), "990001", source="bench")
            t = time.perf_counter()
            build_demo_center(engine, ctx, seed=args.seed, employers=args.employers, members=args.members)
            print(f"demo center built in {time.perf_counter() - t:.1f} s", flush=True)
            lines = prepare(engine, ctx)
            ctx.clock.set(date(2025, 3, 31))  # type: ignore[attr-defined]
            started = time.perf_counter()
            summary = run_month_end(engine, ctx, MONTH)
            seconds = time.perf_counter() - started
            heap = baseline(engine, lines, with_indexes=False)
            indexed = baseline(engine, lines, with_indexes=True)
            with read_transaction(engine) as conn:
                posted = conn.scalar(
                    select(func.count())
                    .select_from(journal_line)
                    .where(
                        journal_line.c.entry_id.in_(
                            select(text("posted_entry_id")).select_from(text("remittance"))
                        )
                    )
                )
            print(f"engine: {engine.dialect.name}, members: {args.members}, employers: {args.employers}")
            print(
                f"month-end: {seconds:.2f} s for {summary.lists_allocated} lists, {posted} journal lines "
                f"({posted / seconds:,.0f} lines/s); arrears marked: {summary.arrears_marked}"
            )
            print(
                f"baseline: bulk insert of {lines} journal lines with journal_line's indexes: {indexed:.2f} s "
                f"(ratio {seconds / indexed:.2f}x); into a bare heap without indexes: {heap:.2f} s "
                f"(ratio {seconds / heap:.2f}x)"
            )
        finally:
            engine.dispose()
            if cluster:
                cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
