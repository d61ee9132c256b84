"""Load test of a served center: N people reading and writing at once for a while (issue 11).

    python bench/load/run_load.py [--users 50] [--seconds 60] [--think 0.5,1.5] [--postgres] [--members 3000]

Needs locust (``pip install -e '.[load]'``). Builds a center (the demo generator: ``--members``
members, two simulated months so statements have lines), gives 300 members and 60 employers a
sign-in and a teller one, serves it with ``hpf serve`` as its own process (one uvicorn worker,
development mode, SQLite by default; ``--postgres``: a throwaway local cluster with production
durability — fsync, synchronous commit and full-page writes on — or ``--fast-unsafe`` beside it),
then runs ``bench/load/locustfile.py`` headless against it. Prints the machine, every request
kind's count, failures and p50/p95/p99, the read/write split, and the answers by status (a 503
beyond capacity must be fast: its p95 is printed too). ``--think a,b``: seconds each person
waits between two requests (``0,0``: back to back). Several ``--users`` values run one after
the other on the same center, e.g. ``--users 50,200``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from hpf import bootstrap
from hpf.access.permissions import Role
from hpf.accounts.directory import DIRECTORY
from hpf.accounts.tables import employer, member
from hpf.db.calendar import set_business_date, stored_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.db.testing import start_cluster
from hpf.identity import identity, tokens
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.kernel.clock import CHINA_TZ, FixedClock
from hpf.kernel.context import Context
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.sim import build_demo_center
from hpf.sim.simulator import simulate

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # bench/: the shared bare baseline
from bare_baseline import bare_round_trips  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(url: str, members: int, secret: str) -> tuple[dict[str, object], date]:
    """The center, lived two months, and the people's tokens (minted with the server's key)."""
    engine = make_engine(url)
    upgrade(engine)
    start = date(2025, 1, 1)
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(
        engine,
        Context("bench", FixedClock(start), "990001"),
        seed=11,
        employers=members // 30,
        members=members,
    )
    simulate(engine, "990001", months=2, seed=11)
    with read_transaction(engine) as conn:
        today = stored_business_date(conn)
        assert today is not None
        people = conn.execute(
            select(member.c.id, member.c.account_no)
            .where(member.c.state == "01", member.c.phone_enc.is_not(None))
            .order_by(member.c.id)
            .limit(300)
        ).all()
        firms = conn.execute(
            select(employer.c.id, employer.c.account_no)
            .where(employer.c.state == "01")
            .order_by(employer.c.id)
            .limit(60)
        ).all()
    ctx = Context("bench", FixedClock(today), "990001")
    fast = Passwords(FAST_FOR_TESTS)  # nobody signs in with a password here: tokens are minted
    config = tokens.TokenConfig.from_settings(secret, "development")
    now = datetime.now(CHINA_TZ)

    def token(who: identity.Principal) -> str:
        return tokens.make_access_token(who, now, config)[0]

    password = secrets.token_urlsafe(16)
    with write_transaction(engine) as conn:
        teller = identity.create_staff(
            conn, ctx, "load-teller", "压测柜员", [Role.TELLER], password, passwords=fast
        )
        data = {
            "teller": token(teller),
            "members": [
                {
                    "account_no": p.account_no,
                    "token": token(
                        identity.create_member_login(
                            conn, ctx, p.id, password, passwords=fast, directory=DIRECTORY
                        )
                    ),
                }
                for p in people
            ],
            "employers": [
                {
                    "account_no": f.account_no,
                    "token": token(
                        identity.create_employer_login(
                            conn, ctx, f.id, password, passwords=fast, directory=DIRECTORY
                        )
                    ),
                }
                for f in firms
            ],
        }
    engine.dispose()
    return data, today


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def run_locust(base: str, data_file: Path, users: int, seconds: int, think: str, work: Path) -> None:
    prefix = work / f"u{users}"
    times = work / f"u{users}-times.json"
    env = {**os.environ, "HPF_LOAD_DATA": str(data_file), "HPF_LOAD_THINK": think, "HPF_LOAD_OUT": str(times)}
    locust = Path(sys.executable).with_name("locust")
    subprocess.run(
        [str(locust), "-f", str(HERE / "locustfile.py"), "--headless", "--host", base,
         "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", str(prefix),
         "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "30"],
        env=env, check=False, stdout=subprocess.DEVNULL, stderr=(work / f"u{users}-locust.log").open("wb"),
    )  # fmt: skip
    print(f"\n{users} users for {seconds} s, think {think} s:")
    with open(f"{prefix}_stats.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    print(f"  {'request':24} {'count':>7} {'fail':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}  (ms)")
    for row in rows:
        print(f"  {row['Name'][:24]:24} {row['Request Count']:>7} {row['Failure Count']:>5} {row['50%']:>6} "
              f"{row['95%']:>6} {row['99%']:>6} {float(row['Max Response Time']):7.0f}"
              + (f"   {float(row['Requests/s']):.1f} requests/s" if row["Name"] == "Aggregated" else ""))  # fmt: skip
    by_status: dict[str, list[float]] = json.loads(times.read_text()) if times.exists() else {}
    reads = sum(len(v) for k, v in by_status.items() if k.startswith("read"))
    writes = sum(len(v) for k, v in by_status.items() if k.startswith("write"))
    if reads + writes:
        print(
            f"  reads {reads} ({100 * reads / (reads + writes):.0f} %), writes {writes} ({100 * writes / (reads + writes):.0f} %)"
        )
    for key in sorted(by_status):
        ms = by_status[key]
        print(
            f"  answers '{key}': {len(ms)}, p50 {statistics.median(ms):.0f} ms, p95 {_pct(ms, 95):.0f} ms, max {max(ms):.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="50", help="simulated people at once; several: 50,200")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--think", default="0.5,1.5", help="seconds between two requests of one person: a,b")
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--postgres", action="store_true", help="a throwaway local PostgreSQL cluster")
    parser.add_argument("--fast-unsafe", action="store_true", help="PostgreSQL with fsync etc. off")
    args = parser.parse_args()
    settings = Settings.from_env({"HPF_ENV": "development"})
    bootstrap.start(settings)  # the development key ring, item handlers, event listeners
    work = Path(tempfile.mkdtemp(prefix="hpf-load-"))
    cluster = start_cluster(durable=not args.fast_unsafe) if args.postgres else None
    url = cluster.url() if cluster else f"sqlite:///{work}/load.sqlite3"
    secret = secrets.token_urlsafe(32)
    began = time.perf_counter()
    data, today = build(url, args.members, secret)
    data_file = work / "people.json"
    data_file.write_text(json.dumps(data))
    print(f"center of {args.members} members built in {time.perf_counter() - began:.0f} s")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{'PostgreSQL 15' if cluster else 'SQLite (WAL)'}, one uvicorn worker, locust on the same machine")  # fmt: skip
    if cluster:
        print(cluster.durability(), flush=True)
    port = _free_port()
    env = {**os.environ, "HPF_ENV": "development", "HPF_DATABASE_URL": url, "HPF_TOKEN_SECRET": secret,
           "HPF_BUSINESS_DATE": today.isoformat(), "HPF_BANK_URL": "fake"}  # fmt: skip
    hpf = Path(sys.executable).with_name("hpf")
    server = subprocess.Popen(
        [str(hpf), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/api/v1/services", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        for users in (int(u) for u in args.users.split(",")):
            run_locust(base, data_file, users, args.seconds, args.think, work)
        bare = [t * 1000 for t in bare_round_trips(base, 50, 40)]
        print(f"\nbaseline: 50 clients back to back fetching a static file, same server: {len(bare)} requests, "
              f"p50 {statistics.median(bare):.0f} ms, p95 {_pct(bare, 95):.0f} ms, max {max(bare):.0f} ms")  # fmt: skip
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
        if cluster:
            cluster.stop()
    tail = errors.decode(errors="replace").strip()
    if tail:
        print("\nserver's last words:", tail[-1500:])


if __name__ == "__main__":
    main()
