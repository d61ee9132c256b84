"""Benchmark the demo city generator against a bare SQLite insert baseline.

    python bench/bench_demo.py --members 1000000 --employers 50000 [--url URL | --postgres] [--seed 42]

Builds into a fresh temporary SQLite file (or into ``--url``, which must be an empty database, or
with ``--postgres`` into a throwaway local PostgreSQL cluster from ``hpf.db.testing``),
runs ``hpf.db.migrate.upgrade`` first, then prints the machine, each stage's seconds, the total,
the rows written per second and, beside it, a baseline measured in the same run: one bare
``executemany`` of as many narrow rows into a scratch SQLite table (same pragmas: WAL,
synchronous=NORMAL), in one transaction. The ``encrypt`` stage is what encryption at rest adds
(the members' ID numbers and phones sealed and blind-indexed; the employers' two fields are
sealed inside the ``employers`` stage).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, func, select

from hpf import bootstrap
from hpf.accounts import service as accounts
from hpf.accounts.tables import account_history, employer, member
from hpf.db.engine import make_engine, read_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger.tables import employer_balance, journal_entry, journal_line, member_balance
from hpf.protection.protect import reveal
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.sim import build_demo_center

TABLES = (employer, member, member_balance, employer_balance, account_history, journal_entry, journal_line)


def lookup_times(conn: Connection, members: int, samples: int = 1000) -> list[float]:
    """Seconds per lookup of a member by resident ID number, as the search box does it."""
    rng = random.Random(1)
    ids = [rng.randrange(1, members + 1) for _ in range(samples)]
    tokens = dict(
        conn.execute(select(member.c.id, member.c.resident_id_enc).where(member.c.id.in_(ids))).all()
    )
    numbers = [reveal("member", "resident_id", tokens[i]) or "" for i in ids]
    times = []
    for number in numbers:
        started = time.perf_counter()
        found = accounts.find_members(conn, number, limit=1)
        times.append(time.perf_counter() - started)
        assert found, number
    return times


def baseline(rows: int, directory: Path) -> float:
    """Seconds for one executemany of ``rows`` narrow rows into a scratch SQLite table."""
    path = directory / "baseline.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE scratch (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, tag TEXT NOT NULL)"
        )
        data = [(i, i * 7, "x") for i in range(1, rows + 1)]
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO scratch (id, amount, tag) VALUES (?, ?, ?)", data)
        conn.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--employers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--url", help="database URL (default: a fresh temporary SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway local PostgreSQL cluster")
    parser.add_argument(
        "--fast-unsafe",
        action="store_true",
        help="PostgreSQL with fsync, synchronous commit and full-page writes off (not a production figure)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    # A development center: the development key ring, the item handlers, the event listeners.
    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))
    if args.postgres:
        from hpf.db.testing import start_cluster

        cluster = start_cluster(durable=not args.fast_unsafe)
        if cluster is not None:
            print(cluster.durability(), flush=True)
        try:
            return run(args, cluster.url())
        finally:
            cluster.stop()
    return run(args, args.url)


def run(args: argparse.Namespace, given_url: str | None) -> int:

    print(
        f"machine: nproc={os.cpu_count()} python={platform.python_version()} ({platform.machine()}) "
        f"sqlite={sqlite3.sqlite_version}"
    )
    with tempfile.TemporaryDirectory(prefix="hpf-bench-") as tmp:
        url = given_url or f"sqlite:///{tmp}/demo.sqlite3"
        engine = make_engine(url)
        started = time.perf_counter()
        upgrade(engine)
        upgrade_seconds = time.perf_counter() - started
        ctx = Context(actor="bench", clock=FixedClock(date(2025, 3, 15)), center_code="990001", source="sim")
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter()
            if not args.quiet and (now - last[0] > 5 or done == total):
                last[0] = now
                print(f"  {now - started:7.1f}s {stage:<10} {done:>9,}/{total:,}", file=sys.stderr)

        summary = build_demo_center(
            engine, ctx, seed=args.seed, employers=args.employers, members=args.members, progress=progress
        )
        with read_transaction(engine) as conn:
            counts = {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES}
            lookups = lookup_times(conn, summary.members)
        engine.dispose()
        rows = sum(counts.values())

        print(f"database: {engine.url.render_as_string(hide_password=True)}")
        print(
            f"city: {summary.employers:,} employers, {summary.members:,} members "
            f"({summary.sealed_members:,} sealed, {summary.closed_members:,} closed), "
            f"{summary.closed_employers:,} closed employers, "
            f"balance {summary.total_balance_fen / 100:,.2f} yuan"
        )
        print("rows: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()) + f"; total {rows:,}")
        print("stages (s):")
        print(f"  {'upgrade':<12}{upgrade_seconds:8.2f}")
        for stage, seconds in summary.stage_seconds.items():
            print(f"  {stage:<12}{seconds:8.2f}")
        print(f"  {'other':<12}{summary.seconds - sum(summary.stage_seconds.values()):8.2f}")
        print(f"  {'TOTAL':<12}{summary.seconds:8.2f}   ({rows / summary.seconds:,.0f} rows/s)")
        print(
            f"encryption (G2: SM4-GCM tokens + HMAC-SM3 blind indexes of ID numbers and phones): "
            f"{summary.stage_seconds.get('encrypt', 0.0):.2f} s of the total (target: adds <= 30 s)"
        )
        print(
            f"lookup by ID number through the blind index (accounts.find_members, {len(lookups)} random "
            f"members): median {statistics.median(lookups) * 1000:.2f} ms, "
            f"p99 {sorted(lookups)[int(len(lookups) * 0.99)] * 1000:.2f} ms (target < 5 ms)"
        )
        base = baseline(rows, Path(tmp))
        print(
            f"baseline: bare executemany of {rows:,} narrow rows into SQLite: {base:.2f} s "
            f"({rows / base:,.0f} rows/s); generator/baseline = {summary.seconds / base:.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
