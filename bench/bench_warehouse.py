"""Benchmark the center's warehouse: the full build, one month's incremental build, and the
dashboards' queries.

    python bench/bench_warehouse.py [--city FILE] [--out DIR] [--queries 300]

Issue 17: "building the warehouse from a 1,000,000-member center with two years of history in
≤ 60 s (incremental month ≤ 10 s), and the dashboard's queries p95 ≤ 300 ms on it". The center is
``governance_city.py``'s (default ``/work/govcity/governance-1000000-24.sqlite3``; build it with
``bench_governance.py`` if missing; it is only read here, never written). In one run this prints

- the bare baselines (no SQLAlchemy, nothing computed): every member ledger line read through
  ADBC into Arrow record batches, as the build reads (what the full build must at least read),
  the same lines fetched into Python by plain ``sqlite3`` (the old baseline), and the lines of
  the last month alone through ADBC (what an incremental month must at least read);
- the full build (``hpf warehouse build`` into a new file) and its rows per table;
- the last month rebuilt (``--month``), as a nightly build of a new month does;
- the dashboards' queries as the pages run them (open the file read-only, query, close): each
  board's chart under random filters (month range, employer type, region) and the rows behind a
  random point of it (drill-down), p50/p95/max, beside a bare scan of the largest fact table;

each against its target, and what the center lacks (the governance city has no loans and no
service applications: those boards are empty there).
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

import duckdb

from hpf import bootstrap
from hpf.db.engine import make_engine
from hpf.settings import Settings
from hpf.warehouse import dashboards
from hpf.warehouse.build import build

DEFAULT_CITY = Path("/work/govcity/governance-1000000-24.sqlite3")
THROUGH = date(2025, 1, 1)  # the governance city's history: 2023-01 … 2024-12


BARE_SQL = (
    "SELECT l.member_id, e.posting_date, e.business_type, l.side, l.amount_fen FROM journal_line l "
    "JOIN journal_entry e ON e.id = l.entry_id WHERE l.member_id IS NOT NULL"
)


def _bare_sql(month: str | None) -> str:
    # the month's bounds are our own literals (ADBC's SQLite driver binds only Arrow data)
    return BARE_SQL + (f" AND e.posting_date BETWEEN '{month}-01' AND '{month}-31'" if month else "")


def bare_lines(path: Path, month: str | None = None) -> tuple[int, float]:
    """Rows and seconds: the member ledger lines (with their entry's date and type) fetched into
    Python by plain sqlite3, all of them or one posting month's."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    began = time.perf_counter()
    rows = 0
    cursor = db.execute(_bare_sql(month))
    while batch := cursor.fetchmany(100_000):
        rows += len(batch)
    seconds = time.perf_counter() - began
    db.close()
    return rows, seconds


def bare_lines_adbc(path: Path, month: str | None = None) -> tuple[int, float]:
    """Rows and seconds: the same lines read through ADBC into Arrow record batches, as the build
    reads them (what the full build must at least spend reading)."""
    import adbc_driver_sqlite.dbapi

    db = adbc_driver_sqlite.dbapi.connect(f"file:{path}?mode=ro")
    began = time.perf_counter()
    rows = 0
    cursor = db.cursor()
    cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "131072"})
    cursor.execute(_bare_sql(month))
    for batch in cursor.fetch_record_batch():
        rows += batch.num_rows
    seconds = time.perf_counter() - began
    cursor.close()
    db.close()
    return rows, seconds


def queries(path: Path, count: int, seed: int) -> tuple[list[float], list[float]]:
    """Milliseconds of ``count`` chart queries and ``count`` drill-downs, as the pages run them."""
    rng = random.Random(seed)
    with dashboards.opened(path) as con:
        opts = dashboards.options(con)
    charts, drills = [], []
    for _ in range(count):
        key = rng.choice(list(dashboards.BOARDS))
        a, b = sorted(rng.sample(opts.months, 2)) if len(opts.months) > 1 else (None, None)
        filters = dashboards.Filters(
            a if rng.random() < 0.5 else None,
            b if rng.random() < 0.5 else None,
            rng.choice(opts.employer_types)[0] if rng.random() < 0.5 and opts.employer_types else None,
            rng.choice(opts.regions)[0] if rng.random() < 0.5 and opts.regions else None,
        )
        began = time.perf_counter()
        with dashboards.opened(path) as con:
            board = dashboards.board(con, key, filters)
        charts.append((time.perf_counter() - began) * 1000)
        points = [(m, s.key) for s in board.series for m, v in zip(board.months, s.values, strict=True) if v]
        if not points:
            continue
        month, series = rng.choice(points)
        began = time.perf_counter()
        with dashboards.opened(path) as con:
            drill = dashboards.drill(con, key, filters, month=month, series=series)
        drills.append((time.perf_counter() - began) * 1000)
        assert drill.total == board.value(month, series), (key, month, series)
    return charts, drills


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else (values[0] if values else 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--city", type=Path, default=DEFAULT_CITY)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    if not args.city.exists():
        print(f"no center at {args.city}: build it with bench/bench_governance.py")
        return 2
    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))
    engine = make_engine(f"sqlite:///{args.city}")
    target = args.out / f"warehouse-{args.city.stem}.duckdb"
    for stale in (target, target.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"SQLite (WAL), DuckDB {duckdb.__version__}")  # fmt: skip
    print(f"center: {args.city}; warehouse: {target}")

    lines, bare = bare_lines_adbc(args.city)
    print(f"baseline: {lines:,} member ledger lines read through ADBC into Arrow: {bare:.1f} s")
    py_lines, py_bare = bare_lines(args.city)
    print(f"  (the same {py_lines:,} lines fetched into Python by plain sqlite3: {py_bare:.1f} s)")
    full = build(engine, target, through=THROUGH)
    print(
        f"full build: {full.seconds:6.1f} s for {len(full.months)} months (target ≤ 60 s; "
        f"{full.seconds / bare:.1f}× the bare ADBC read)"
    )
    for table, n in full.rows.items():
        print(f"  {table:24} {n:>12,}")
    print("  steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in full.stages.items()))
    last = full.months[-1] if full.months else "2024-12"
    month_lines, month_bare = bare_lines_adbc(args.city, last)
    one = build(engine, target, through=THROUGH, month=last)
    print(f"baseline: {month_lines:,} lines of {last} read through ADBC: {month_bare:.2f} s")
    print(f"incremental month {last}: {one.seconds:6.2f} s (target ≤ 10 s)")
    print("  steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in one.stages.items()))

    con = duckdb.connect(str(target), read_only=True)
    began = time.perf_counter()
    (facts,) = con.execute("SELECT count(*) FROM fact_member_movement WHERE amount_fen <> 0").fetchone() or (
        0,
    )
    scan_ms = (time.perf_counter() - began) * 1000
    lacks = [
        name
        for name, sql in (
            ("loans (贷款)", "SELECT count(*) FROM fact_loan_movement"),
            ("service applications (服务渠道)", "SELECT count(*) FROM fact_service"),
        )
        if not (con.execute(sql).fetchone() or (0,))[0]
    ]
    con.close()
    charts, drills = queries(target, args.queries, args.seed)
    print(f"baseline: a bare scan of fact_member_movement ({facts:,} rows): {scan_ms:.0f} ms")
    for name, values in (("chart", charts), ("drill-down", drills)):
        if values:
            print(
                f"dashboard {name} queries ({len(values)}): p50 {statistics.median(values):.0f} ms, "
                f"p95 {p95(values):.0f} ms (target ≤ 300 ms), max {max(values):.0f} ms"
            )
    if lacks:
        print(f"the center lacks: {', '.join(lacks)} — those boards are empty and their queries trivial here")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
