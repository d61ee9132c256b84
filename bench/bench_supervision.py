"""Benchmark the hub's monthly reporting run (decision 0040): classify every center and raise
and dispatch its problems, for a national month.

    python bench/bench_supervision.py [--centers 340] [--months 2]

Builds a hub database (a temporary SQLite file) with ``--centers`` registered centers spread
over 31 provinces, each reporting the four scored indicators and 归集余额 for ``--months``
months (about one in five centers over the 个贷率 line in the last month), then times
``run.reporting_run`` for the last month — the classification, the monitoring lines and every
SUP201 sealed and signed to its center — beside the bare time of reading the month's values
once (``inputs.indicator_values``). Prints the machine, the sizes, seconds, centers/s and the
problems dispatched.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal

from hpf.db.engine import make_engine, write_transaction
from hpf.hub import registry, service
from hpf.hub.schema import upgrade
from hpf.hub.supervision import inputs, run
from hpf.messages.keys import KeyPair

PROVINCES = [f"省{n:02d}" for n in range(1, 32)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--centers", type=int, default=340)
    parser.add_argument("--months", type=int, default=2)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="hpf-bench-supervision-")
    engine = make_engine(f"sqlite:///{folder}/hub.sqlite3")
    upgrade(engine)
    hub = service.Hub("000000", KeyPair.generate())
    center_keys = KeyPair.generate().public()  # one key pair for all: signing is not what is timed
    rng = random.Random(15)
    now = datetime.now(UTC)
    months = [inputs.months_back("2025-12", n) for n in range(args.months - 1, -1, -1)]
    with write_transaction(engine) as conn:
        for n in range(args.centers):
            code = f"{110000 + n:06d}"
            registry.register(conn, code=code, name=f"第{n + 1}住房公积金管理中心", province=PROVINCES[n % 31],
                              endpoint=f"http://{code}.test", keys=center_keys, actor="bench", now=now,
                              hub_code=hub.code)  # fmt: skip
            for month in months:
                values = {
                    "0302020301": Decimal(rng.randint(600, 900)) / 10,
                    "0302020401": Decimal(rng.randint(1, 12)) / 100,
                    "0301020101": Decimal(rng.randint(650, 990)) / 10,
                    "0301020501": Decimal(rng.randint(650, 990)) / 10,
                    "0301008101": Decimal(rng.randint(1_000_000, 1_300_000)),
                }
                inputs.record_values(conn, code, month, values, now)
    started = time.perf_counter()
    with write_transaction(engine) as conn:
        rows = inputs.indicator_values(conn, months[-1])
    bare = time.perf_counter() - started
    started = time.perf_counter()
    with write_transaction(engine) as conn:
        done = run.reporting_run(conn, hub, months[-1], today=date(2026, 1, 5), now=datetime.now(UTC))
    seconds = time.perf_counter() - started
    print(
        f"machine: {platform.node()} {platform.machine()} cpus={os.cpu_count()} python {sys.version.split()[0]}"
    )
    print(f"centers {args.centers}, months {args.months}, values read {len(rows)} in {bare:.3f} s (bare)")
    print(
        f"reporting run {months[-1]}: {seconds:.2f} s, {len(done.classified) / seconds:.0f} centers/s, "
        f"problems dispatched {len(done.problems)}, ratio to the bare read {seconds / max(bare, 1e-9):.0f}×"
    )


if __name__ == "__main__":
    main()
