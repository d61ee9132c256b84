"""Benchmark a straight-through withdrawal over HTTP: submission to payout instruction.

    python bench/bench_withdrawal.py [--clients 20] [--rounds 15] [--members 3000]

Builds a small center into a fresh SQLite file (the demo generator, then four simulated months
so members have balances and deposit history), starts ``hpf serve`` on it as its own process
(uvicorn, one worker, the fake bank in memory), and lets ``--clients`` threads each file
``--rounds`` serious-illness withdrawals (WD-ILLNESS, a different member each time) at the
counter API, as a teller does: create the application, upload its four materials, then submit
it (``POST /applications/{id}/complete``): the rules run, no risk is raised, it is approved
straight through and the payout is reserved with its payment order. The figure of the issue is
that last request — submission to payout instruction — and the whole flow is reported beside it.
Prints the machine, p50/p95/p99/max of both, and the throughput. ``--postgres``: the center in a
throwaway local PostgreSQL cluster with production durability (``--fast-unsafe`` turns it off),
where ``--workers 2`` lets the server use both cores (on SQLite one writer at a time does not gain). ``--think S``: each client waits
S seconds between two withdrawals (people filling forms); 0 (the default) is a saturation test,
each client firing its next withdrawal as soon as the last one is answered.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime
from pathlib import Path

import httpx
from bare_baseline import bare_round_trips, server_cpu_seconds
from sqlalchemy import select

from hpf import bootstrap
from hpf.access.permissions import Principal, Role
from hpf.accounts.tables import member
from hpf.db.calendar import set_business_date, stored_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.db.testing import PgCluster, start_cluster
from hpf.identity import identity, tokens
from hpf.kernel.clock import CHINA_TZ, FixedClock
from hpf.kernel.context import Context
from hpf.kernel.identifiers import luhn_check_digit
from hpf.ledger.service import member_balances
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.sim import build_demo_center
from hpf.sim.simulator import simulate

MATERIALS = ("M-ID", "M-DIAGNOSIS", "M-MEDICAL", "M-BANK")
PDF = b"%PDF-1.4\n" + b"x" * 2000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def build(url: str, members: int) -> tuple[Principal, date]:
    """The center, lived four months; the teller who files and the business date."""
    engine = make_engine(url)
    upgrade(engine)
    start = date(2025, 1, 1)
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(
        engine,
        Context("bench", FixedClock(start), "990001"),
        seed=5,
        employers=members // 30,
        members=members,
    )
    simulate(engine, "990001", months=4, seed=5)
    with read_transaction(engine) as conn:
        today = stored_business_date(conn)
    assert today is not None
    with write_transaction(engine) as conn:
        ctx = Context("bench", FixedClock(today), "990001")
        teller = identity.create_staff(
            conn, ctx, "bench-teller", "压测柜员", [Role.TELLER], secrets.token_urlsafe(16)
        )
    engine.dispose()
    return teller, today


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument(
        "--think", type=float, default=0.0, help="seconds a client waits between two withdrawals (0: none)"
    )
    parser.add_argument("--workers", type=int, default=1, help="server processes (hpf serve --workers)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway local PostgreSQL cluster")
    parser.add_argument(
        "--fast-unsafe",
        action="store_true",
        help="PostgreSQL with fsync, synchronous commit and full-page writes off (not a production figure)",
    )
    args = parser.parse_args()
    settings = Settings.from_env({"HPF_ENV": "development"})  # the demo key ring
    bootstrap.start(settings)  # the development key ring, item handlers, event listeners
    cluster = start_cluster(durable=not args.fast_unsafe) if args.postgres else None
    try:
        _run(args, cluster)
    finally:
        if cluster is not None:
            cluster.stop()


def _run(args: argparse.Namespace, cluster: PgCluster | None) -> None:
    work = Path(tempfile.mkdtemp(prefix="hpf-bench-wd-"))
    url = cluster.url() if cluster else f"sqlite:///{work}/bench.sqlite3"
    started = time.perf_counter()
    teller, today = build(url, args.members)
    print(f"center built in {time.perf_counter() - started:.1f}s")
    engine = make_engine(url)
    with read_transaction(engine) as conn:
        rows = conn.execute(select(member.c.id, member.c.account_no).where(member.c.state == "01")).all()
        balances = member_balances(conn, [r.id for r in rows])
    need = args.clients * args.rounds
    funded = [r.account_no for r in rows if sum(balances.get(r.id, (0, 0))) >= 200_000][:need]
    if len(funded) < need:
        sys.exit(f"only {len(funded)} members with 2,000 yuan; use more --members")
    secret = secrets.token_urlsafe(32)
    port = _free_port()
    env = {
        **os.environ,
        "HPF_ENV": "development",  # the development key ring of the demo center
        "HPF_DATABASE_URL": url,
        "HPF_BUSINESS_DATE": today.isoformat(),
        "HPF_TOKEN_SECRET": secret,
        "HPF_BANK_URL": "fake",
    }
    hpf = Path(sys.executable).with_name("hpf")
    server = subprocess.Popen(
        [str(hpf), "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/v1/services", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        config = tokens.TokenConfig.from_settings(secret, "development")
        token, _ = tokens.make_access_token(teller, datetime.now(CHINA_TZ), config)
        headers = {"Authorization": f"Bearer {token}"}
        submit_times: list[float] = []
        flow_times: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()

        def client(n: int) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                for r in range(args.rounds):
                    account_no = funded[n * args.rounds + r]
                    card = f"62220203{n:03d}{r:06d}"
                    payload = {
                        "payee_name": "本人", "payee_card": card + luhn_check_digit(card),
                        "payee_bank": "中国工商银行", "cost_fen": 100_000, "requested_fen": 100_000,
                    }  # fmt: skip
                    t0 = time.perf_counter()
                    created = http.post("/api/v1/applications", json={
                        "item_code": "WD-ILLNESS", "applicant_kind": "member",
                        "member_account_no": account_no, "payload": payload,
                    })  # fmt: skip
                    if created.status_code != 201:
                        failures.append(created.text[:200])
                        continue
                    app_id = created.json()["id"]
                    for code in MATERIALS:
                        http.post(
                            f"/api/v1/applications/{app_id}/materials",
                            data={"material_code": code}, files={"file": (f"{code}.pdf", PDF, "application/pdf")},
                        ).raise_for_status()  # fmt: skip
                    t1 = time.perf_counter()
                    done = http.post(f"/api/v1/applications/{app_id}/complete")
                    t2 = time.perf_counter()
                    body = done.json()
                    if done.status_code != 200 or body.get("state") != "approved":
                        failures.append(f"{done.status_code} {body.get('state')} {str(body)[:200]}")
                        continue
                    assert body["outputs"]["payment_order_no"]
                    with lock:
                        submit_times.append(t2 - t1)
                        flow_times.append(t2 - t0)
                    if args.think:
                        time.sleep(args.think)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        cpu_before = server_cpu_seconds(server.pid)
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        server_cpu = server_cpu_seconds(server.pid) - cpu_before
        bare = bare_round_trips(base, args.clients, 6 * args.rounds)
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
        if errors.strip():
            print("server said:", errors.decode()[-2000:])
    database = cluster.durability() if cluster else "SQLite (WAL)"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {database}, {args.workers} uvicorn worker(s)")  # fmt: skip
    print(f"{args.clients} concurrent clients × {args.rounds} withdrawals, {args.think:g}s between two: {len(submit_times)} approved "
          f"straight through, {len(failures)} not, in {elapsed:.1f}s ({len(submit_times) / elapsed:.1f}/s)")  # fmt: skip
    requests = 6 * len(submit_times)
    if server_cpu and requests:
        print(f"server CPU while the clients ran: {server_cpu:.2f} s, {server_cpu / requests * 1000:.2f} ms per request "
              f"({requests} requests of approved flows), {server_cpu / elapsed * 100:.0f} % of one core")  # fmt: skip
    for label, times in (
        ("submission → payout instruction", submit_times),
        ("whole flow (6 requests)", flow_times),
    ):
        if times:
            ms = [t * 1000 for t in times]
            print(f"{label:34} p50 {statistics.median(ms):7.1f} ms  p95 {_percentile(ms, 95):7.1f} ms  "
                  f"p99 {_percentile(ms, 99):7.1f} ms  max {max(ms):7.1f} ms")  # fmt: skip
    if bare:
        ms = [t * 1000 for t in bare]
        print(f"{'baseline: bare round trip (static)':34} p50 {statistics.median(ms):7.1f} ms  p95 "
              f"{_percentile(ms, 95):7.1f} ms  p99 {_percentile(ms, 99):7.1f} ms  max {max(ms):7.1f} ms "
              f"({len(ms)} requests, same clients, same server)")  # fmt: skip
    for failure in failures[:5]:
        print("  not approved:", failure)


if __name__ == "__main__":
    main()
