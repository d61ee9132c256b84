"""Benchmark the national warehouse: every national indicator of a month on DuckDB.

    python bench/bench_national.py [--centers 340] [--rows 17000000] [--dir DIR] [--threads N]
                                   [--spark local[2]]

Issue 15: "a national synthetic month of 340 centers at 1/10 of the real size (17 million member
rows, Parquet): every national indicator in ≤ 30 s with DuckDB on this machine, beside the bare
time of one full scan of the same files". The month is ``hpf.hub.synthetic``'s, generated
set-based in DuckDB into DIR and kept (the first run writes it, later runs reuse it). In one run
this prints

- the bare baseline: one full scan of every column of every member file (DuckDB reads each
  column and sums it, nothing else);
- the national indicators (``hpf.hub.national``): every additive indicator summed for the
  nation and by province, the member-level national figures (persons counted once across
  centers, multi-center persons, the member sums by center) and the annual report's tables
  (by center, province and nation) — each statement's time and the total;

and, with ``--spark MASTER``, the same statements on Spark and whether every answer is identical.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from hpf.hub import national, synthetic
from hpf.hub.warehouse import MEMBER_SCHEMA, Warehouse


def bare_scan_sql() -> str:
    parts = [
        f"SUM(LENGTH({f.name}))" if str(f.type) == "string" else f"SUM(CAST({f.name} AS BIGINT))"
        for f in MEMBER_SCHEMA
    ]
    return "SELECT COUNT(*), " + ", ".join(parts) + " FROM members"


def run(wh: Warehouse, sqls: dict[str, str]) -> tuple[dict[str, float], dict[str, list[tuple[Any, ...]]]]:
    seconds, answers = {}, {}
    for name, sql in sqls.items():
        started = time.perf_counter()
        answers[name] = wh.query(sql)
        seconds[name] = round(time.perf_counter() - started, 3)
    return seconds, answers


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--centers", type=int, default=340)
    parser.add_argument("--rows", type=int, default=17_000_000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "hpf-bench-national")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    parser.add_argument("--spark", default=None, help="also run on Spark at this master, e.g. local[2]")
    args = parser.parse_args()

    started = time.perf_counter()
    files = synthetic.build(args.dir / f"{args.centers}-{args.rows}", centers=args.centers, rows=args.rows)
    built = round(time.perf_counter() - started, 1)
    print(
        f"month: {args.centers} centers, {args.rows:,} member rows, {len(files.members)} member files ({built} s to build or reuse)"
    )
    month = synthetic.MONTH
    wh = Warehouse(files, threads=args.threads)
    started = time.perf_counter()
    wh.query(bare_scan_sql())
    bare = time.perf_counter() - started
    sqls = national.statements(month)
    started = time.perf_counter()
    seconds, answers = run(wh, sqls)
    total = time.perf_counter() - started
    wh.close()
    print(f"bare full scan of the member files: {bare:.2f} s")
    for name, s in seconds.items():
        print(f"  {name:<40} {s:>8.3f} s  ({len(answers[name])} rows)")
    print(
        f"every national indicator (DuckDB): {total:.2f} s = {total / bare:.1f} × the bare scan  (target ≤ 30 s)"
    )
    result: dict[str, Any] = {
        "centers": args.centers, "rows": args.rows, "bare_scan_s": round(bare, 3), "national_s": round(total, 3),
        "statements": seconds, "cpus": os.cpu_count(), "machine": platform.platform(),
    }  # fmt: skip
    if args.spark:
        spark = Warehouse(files, engine="spark", spark_master=args.spark)
        started = time.perf_counter()
        spark_seconds, spark_answers = run(spark, sqls)
        result["spark_s"] = round(time.perf_counter() - started, 3)
        result["spark_statements"] = spark_seconds
        result["spark_identical"] = all(
            national.normalise(answers[n]) == national.normalise(spark_answers[n]) for n in sqls
        )
        print(
            f"the same SQL on Spark {args.spark}: {result['spark_s']} s, identical: {result['spark_identical']}"
        )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
