"""Benchmark the data-quality scan and the electronic-audit pack on a large center.

    python bench/bench_governance.py [--members 1000000] [--employers 50000] [--months 24] [--dir DIR]

Issue 16: "the full quality scan and the audit pack over a 1,000,000-member center with two years
of history: each in ≤ 60 s on this machine, beside the time of one bare full read of the same
tables". The center is ``governance_city.py``'s (built once into DIR and kept: the first run takes
about half an hour for a million members). In one run this prints

- the bare baseline: every row of every table the two scans read, by plain ``sqlite3`` (no
  SQLAlchemy, nothing computed), table by table: read inside SQLite to each row's last column,
  and fetched into Python (``SELECT *``);
- ``hpf data scan``'s time (``hpf.quality.scan``: every rule, the findings stored, the scores);
- ``hpf inspection scan``'s time (``hpf.inspection.service.scan``: the whole pack, findings and
  cases stored);

each with the ratio to the baseline, and the number of findings.
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
from pathlib import Path

from governance_city import build_city, city_path

from hpf import bootstrap
from hpf.settings import Settings

# What the two scans read (their SQL names these tables); the baseline reads every row of each.
SCANNED = (
    "employer",
    "member",
    "account_history",
    "remittance",
    "remittance_row",
    "journal_entry",
    "journal_line",
    "member_balance",
    "employer_balance",
    "withdrawal",
    "payment_order",
    "loan",
    "application",
    "approval_request",
    "principal",
)
AT = date(2024, 12, 31)


def bare_read(path: Path, *, fetch: bool) -> tuple[float, dict[str, tuple[int, float]]]:
    """Seconds to read every row of every scanned table with plain sqlite3, in all and per table.

    ``fetch``: every row fetched into Python (``SELECT *``); otherwise read inside the engine only,
    every row's record to its last column (``SUM(last IS NULL) + SUM(last IS NOT NULL)``), nothing sent back: the
    floor of any set-based scan of these tables."""
    per: dict[str, tuple[int, float]] = {}
    db = sqlite3.connect(path)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    began = time.perf_counter()
    for table in SCANNED:
        if table not in names:
            continue
        t = time.perf_counter()
        if fetch:
            rows = 0
            cursor = db.execute(f"SELECT * FROM {table}")
            while batch := cursor.fetchmany(10_000):
                rows += len(batch)
        else:
            last = [r[1] for r in db.execute(f"PRAGMA table_info({table})")][-1]
            sql = f'SELECT COALESCE(SUM("{last}" IS NULL) + SUM("{last}" IS NOT NULL), 0) FROM {table}'
            rows = db.execute(sql).fetchone()[0]
        per[table] = (rows, time.perf_counter() - t)
    total = time.perf_counter() - began
    db.close()
    return total, per


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--employers", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the quality scan's ID pass")
    parser.add_argument("--skip", choices=("quality", "inspection"), action="append", default=[])
    args = parser.parse_args(argv)
    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))
    path = city_path(args.dir, args.members, args.months)
    engine = build_city(path, members=args.members, employers=args.employers, months=args.months)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, SQLite (WAL)"
    )
    print(f"center: {args.members:,} members, {args.months} months of history ({path})")

    bare, per = bare_read(path, fetch=False)
    fetched, _ = bare_read(path, fetch=True)
    rows = sum(n for n, _ in per.values())
    print(
        f"baseline: bare full read of {len(per)} tables, {rows:,} rows: {bare:.1f} s inside SQLite, "
        f"{fetched:.1f} s fetched into Python"
    )
    for table, (n, seconds) in sorted(per.items(), key=lambda kv: -kv[1][1])[:6]:
        print(f"  {table:18} {n:>12,} rows {seconds:6.1f} s")

    if "quality" not in args.skip:
        from hpf.quality.service import scan as quality_scan

        began = time.perf_counter()
        quality = quality_scan(engine, at=AT, workers=args.workers)
        took = time.perf_counter() - began
        print(
            f"hpf data scan ({args.workers} workers): {took:6.1f} s ({took / bare:.1f}× the bare read in SQLite)"
        )
        print(f"  {quality}")
    if "inspection" not in args.skip:
        from hpf.inspection.service import scan as inspection_scan

        began = time.perf_counter()
        audit = inspection_scan(engine, at=AT)
        took = time.perf_counter() - began
        print(f"hpf inspection scan: {took:6.1f} s ({took / bare:.1f}× the bare read in SQLite)")
        print(f"  {audit}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
