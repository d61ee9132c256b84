"""Benchmark fund operation and planning (decision 0038) on a large center.

    python bench/bench_planning.py [--members 1000000] [--employers 50000] [--months 24] [--dir DIR]

The center is ``governance_city.py``'s (built once into DIR and kept; shared with
``bench_governance.py``). In one run this prints the time of

- the monthly series (``hpf.planning.series.monthly_history``: set-based over the journal and the
  withdrawal claims);
- the forecasts of every series (statsmodels fits and back-tests; ``hpf forecast``);
- the day's liquidity indicators (the liquidity page's reads);
- the annual plan drafted and written as xlsx and PDF (``hpf plan``);
- the early-warning scan (``hpf warning scan``);

each with the rows it read where it matters. The machine is shared while the code is written:
run it on a quiet one for figures to quote.
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

from governance_city import build_city, city_path

from hpf import bootstrap
from hpf.settings import Settings

ON = date(2025, 1, 1)  # the day after the city's two years (governance_city starts 2023-01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--employers", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))
    path = city_path(args.dir, args.members, args.months)
    engine = build_city(path, members=args.members, employers=args.employers, months=args.months)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, SQLite (WAL)"
    )
    print(f"center: {args.members:,} members, {args.months} months of history ({path})")

    from hpf.db.engine import read_transaction, write_transaction
    from hpf.planning import liquidity, plan, warning
    from hpf.planning.forecast import forecast_series
    from hpf.planning.series import monthly_history

    with read_transaction(engine) as conn:
        t = time.perf_counter()
        history = monthly_history(conn, ON)
        took = time.perf_counter() - t
    months = len(history[0].months) if history else 0
    print(f"monthly series: {took:6.2f} s ({len(history)} series, {months} months)")

    t = time.perf_counter()
    forecasts = [forecast_series(s) for s in history]
    took = time.perf_counter() - t
    ok = [f for f in forecasts if f.status == "ok"]
    print(f"forecasts:      {took:6.2f} s ({len(ok)} of {len(forecasts)} series forecast)")
    for f in ok:
        chosen = f.chosen
        print(f"  {f.name:24} {f.model:14} WAPE {chosen.wape if chosen else '—'}")

    with read_transaction(engine) as conn:
        t = time.perf_counter()
        ind = liquidity.indicators(conn, ON, forecasts)
        took = time.perf_counter() - t
    print(
        f"liquidity:      {took:6.2f} s (个贷率 {ind.loan_ratio}, 使用率 {ind.usage_ratio}, coverage {ind.coverage_30})"
    )

    with read_transaction(engine) as conn:
        t = time.perf_counter()
        drafted = plan.draft(conn, ON.year, ON, forecasts, plan.Assumptions())
        xlsx, pdf = plan.to_xlsx(drafted), plan.to_pdf(drafted)
        took = time.perf_counter() - t
    print(f"plan {ON.year}:      {took:6.2f} s (xlsx {len(xlsx):,} bytes, PDF {len(pdf):,} bytes)")

    with write_transaction(engine) as conn:
        t = time.perf_counter()
        new = warning.scan(conn, ON)
        took = time.perf_counter() - t
    print(f"early warning:  {took:6.2f} s ({sum(new.values())} new warnings)")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
