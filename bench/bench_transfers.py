"""Benchmark cross-center transfers: N members move from one city to another through the hub.

    python bench/bench_transfers.py [--transfers 10000] [--dir DIR] [--batch 100] [--approve 50]
        [--pay-batch 500] [--notices 200] [--file 200]

Set-up (not timed): two centers built by the demo generator with the same seed — the same
people —, the old one (440300) with every member's account sealed and its balance, the new one
(330100) with the same people hired (accounts open); each knows the other (their keys as the
hub's BDC909 would give them); the hub (000000) with both registered. Then each center
(``hpf serve``), the hub (``hpf hub serve``) and the two connected fake banks
(``transfer_banks.py``, notices posted to the centers) in their own processes, on SQLite, with
batch messages on (``HPF_TRANSFER_BATCH``).

Timed, from the first application to the last credit:

- the new center's counter files the N applications (``AC-TRANSFER-IN``, approved straight
  through: the contact letters queued) in bulk, ``--file`` (200) per call and transaction
  (``services.bulk.submit_many``, decision 0044; ``--file 0``: one by one through the engine, 200
  a transaction, as before), from this process, with a pause (``--pause``) between transactions
  for the server's own writers; more than 9,999 are filed over as many days as they need (a
  center numbers 9,999 letters a day);
- the new center's worker packs them into BDC902s, the hub forwards them, the old center takes
  them;
- the old center's staff approve in bulk over its API (``POST /api/v1/transfers/approve``,
  ``--approve`` (50) a call, set-based: interest to date, the payouts reserved, the accounts closed,
  the BDC905s queued);
- the old center's payment run (``hpf settlement pay``'s function, ``--approve`` a run) pays the payouts
  in BDC103 batches of ``--pay-batch`` (decision 0041);
  the bank credits the new center, whose notices (``--notices`` per request) and BDC906s meet:
  each member credited.

Prints the filing transactions' own time (per application), the end-to-end time, transfers per
second, p50/p95 from application to credit, and, beside
it, the bare cost of signing and sending as many messages one by one, measured in the same run:
SM2-sign and seal N contact letters, hop-sign them, verify and open them, and N bare HTTP round
trips to the hub.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bare_baseline import bare_round_trips
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from hpf import bootstrap
from hpf.access.permissions import Role
from hpf.accounts.tables import member
from hpf.cli import app as hpf_cli
from hpf.db.calendar import set_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.identity import identity, tokens
from hpf.kernel.clock import CHINA_TZ, FixedClock, SystemClock
from hpf.kernel.context import Context
from hpf.messages import protocol
from hpf.messages.bodies import ContactLetter
from hpf.messages.keys import KeyPair
from hpf.schema import upgrade
from hpf.services import bulk as applications_bulk
from hpf.services import service as applications
from hpf.settings import Settings
from hpf.settlement.adapter import HttpBank, bank_secret
from hpf.settlement.service import send_reserved
from hpf.sim import build_demo_center
from hpf.transfers.tables import peer_center, transfer

HPF = str(Path(sys.executable).with_name("hpf"))
HUB, OLD, NEW = "000000", "440300", "330100"
NAMES = {OLD: "深圳市住房公积金管理中心", NEW: "杭州住房公积金管理中心"}
ACCOUNTS = {OLD: "955880000000000440", NEW: "955880000000000330"}
SEED = 11
LETTERS_A_DAY = 9999


def _chunks(people: list[int], size: int, per_day: int) -> list[list[int]]:
    """``people`` in runs of ``size`` (200 when 0), none across a day's 9,999 letters."""
    size = size or 200
    out: list[list[int]] = []
    for day_start in range(0, len(people), per_day):
        day = people[day_start : day_start + per_day]
        out += [day[i : i + size] for i in range(0, len(day), size)]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _public(keys: KeyPair) -> str:
    return f"{keys.public().sign}:{keys.public().encrypt}"


def _build_center(url: str, code: str, n: int, today: date, *, sealed: bool) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with write_transaction(engine) as conn:
        set_business_date(conn, today)
    ctx = Context("bench", FixedClock(today), code)
    build_demo_center(engine, ctx, seed=SEED, employers=max(1, n // 20), members=n)
    with write_transaction(engine) as conn:  # set-based: every account sealed, or open
        conn.execute(update(member).values(state="02" if sealed else "01"))
    engine.dispose()


def _know(url: str, other: str, keys: KeyPair) -> None:
    """The other center as the hub's BDC909 answer would describe it."""
    engine = make_engine(url)
    with write_transaction(engine) as conn:
        conn.execute(
            peer_center.insert().values(
                code=other, name=NAMES[other], province="广东" if other == OLD else "浙江", state="active",
                sign_key=keys.public().sign, encrypt_key=keys.public().encrypt, looked_up_at=datetime.now(UTC),
            )
        )  # fmt: skip
    engine.dispose()


def build(work: Path, n: int, today: date) -> dict[str, Any]:
    bootstrap.start(
        Settings(database_url=f"sqlite:///{work}/{OLD}.sqlite3", env="development")
    )  # the key ring
    keys = {who: KeyPair.generate() for who in (HUB, OLD, NEW)}
    for who, pair in keys.items():
        pair.write(work / f"{who}-keys.json")
    urls = {who: f"sqlite:///{work}/{who}.sqlite3" for who in (HUB, OLD, NEW)}
    _build_center(urls[OLD], OLD, n, today, sealed=True)
    _build_center(urls[NEW], NEW, n, today, sealed=False)
    _know(urls[OLD], NEW, keys[NEW])
    _know(urls[NEW], OLD, keys[OLD])
    return {"keys": keys, "urls": urls}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def _wait_up(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not start")


def bare_baseline(n: int, keys: dict[str, KeyPair], hub_base: str) -> dict[str, float]:
    """The bare cost of N single messages: compose (sign + seal), hop-sign, verify and open, and
    N bare HTTP round trips to the hub."""
    now = datetime.now(UTC)
    letter = ContactLetter(
        letter_no=f"{NEW}2501010001", out_center_code=OLD, name="张三", cert_no="110101199003070011",
        old_account_no="440300000000000001", in_fund_account_no=ACCOUNTS[NEW],
        in_fund_account_name=NAMES[NEW], in_bank_name="结算银行", created_on=now.date(),
    )  # fmt: skip
    old_public = keys[OLD].public()
    from hpf.messages.keys import public_key

    t0 = time.perf_counter()
    envelopes = [
        protocol.compose(
            keys[NEW],
            sender=NEW,
            recipient=OLD,
            recipient_encrypt_key=public_key(old_public.encrypt),
            message_type="BDC901",
            body=letter,
            now=now,
        )
        for _ in range(n)
    ]
    t1 = time.perf_counter()
    deliveries = [protocol.hop(keys[NEW], NEW, e, now) for e in envelopes]
    t2 = time.perf_counter()
    new_sign = public_key(keys[NEW].public().sign)
    for d in deliveries:
        protocol.check_hop(d, new_sign)
        protocol.check_envelope(d.envelope, new_sign)
        protocol.open_body(d.envelope, keys[OLD])
    t3 = time.perf_counter()
    trips = bare_round_trips(hub_base, 4, max(1, n // 4))
    return {"compose": t1 - t0, "hop": t2 - t1, "verify_open": t3 - t2, "http": sum(trips) / 4}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=10_000)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the databases go (default: a new temp dir)"
    )
    parser.add_argument("--batch", type=int, default=100, help="items per BDC902/BDC906 (0: single messages)")
    parser.add_argument(
        "--approve", type=int, default=50, help="letters per bulk approval (and payouts per run)"
    )
    parser.add_argument("--pay-batch", type=int, default=500, help="payouts per BDC103 (0: one BDC101 each)")
    parser.add_argument("--notices", type=int, default=200, help="bank notices per request (1: one each)")
    parser.add_argument(
        "--file", type=int, default=200,
        help="applications per bulk filing call and transaction (0: one by one, 200 a transaction)",
    )  # fmt: skip
    parser.add_argument(
        "--pause", type=float, default=0.2, help="seconds between two transactions of 200 applications"
    )
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    args = parser.parse_args()
    n = args.transfers
    work = args.dir or Path(tempfile.mkdtemp(prefix="hpf-bench-transfers-"))
    work.mkdir(parents=True, exist_ok=True)
    today = datetime.now(CHINA_TZ).date()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpu, Python {platform.python_version()}; dir {work}"
    )
    started = time.perf_counter()
    built = build(work, n, today)
    keys, urls = built["keys"], built["urls"]
    print(f"set-up (two centers of {n} members, not timed): {time.perf_counter() - started:.1f}s")

    ports = {who: _free_port() for who in (HUB, OLD, NEW, "bank-old", "bank-new")}
    base = {who: f"http://127.0.0.1:{port}" for who, port in ports.items()}
    token_secret, bank_key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    common = {
        "HPF_ENV": "development",
        "HPF_DELIVER_EVERY_SECONDS": "0.2",
        "HPF_DELIVER_BACKOFF_SECONDS": "0.5",
    }
    hub_env = {
        **common,
        "HPF_DATABASE_URL": urls[HUB],
        "HPF_MESSAGE_KEY_FILE": str(work / f"{HUB}-keys.json"),
    }
    runner = CliRunner()
    for code in (OLD, NEW):
        done = runner.invoke(
            hpf_cli,
            ["hub", "register-center", "--code", code, "--name", NAMES[code], "--province", "广东",
             "--endpoint", base[code], "--public-keys", _public(keys[code])],
            env=hub_env,
        )  # fmt: skip
        assert done.exit_code == 0, done.output
    center_env = {
        code: {
            **common,
            "HPF_DATABASE_URL": urls[code],
            "HPF_CENTER_CODE": code,
            "HPF_CENTER_NAME": NAMES[code],
            "HPF_BUSINESS_DATE": today.isoformat(),
            "HPF_TOKEN_SECRET": token_secret,
            "HPF_HUB_URL": base[HUB],
            "HPF_HUB_PUBLIC_KEYS": _public(keys[HUB]),
            "HPF_MESSAGE_KEY_FILE": str(work / f"{code}-keys.json"),
            "HPF_TRANSFER_BATCH": str(args.batch),
            "HPF_BANK_URL": base["bank-old" if code == OLD else "bank-new"],
            "HPF_BANK_SECRET": bank_key,
            "HPF_BANK_ACCOUNT": ACCOUNTS[code],
        }
        for code in (OLD, NEW)
    }
    engines = {code: make_engine(urls[code]) for code in (OLD, NEW)}
    with write_transaction(engines[OLD]) as conn:
        reviewer = identity.create_staff(
            conn, Context("bench", SystemClock(), OLD), "bench-reviewer", "压测复核", [Role.REVIEWER],
            secrets.token_urlsafe(16),
        )  # fmt: skip
        teller_ctx = Context("bench", SystemClock(), NEW)
    with write_transaction(engines[NEW]) as conn:
        teller = identity.create_staff(
            conn, teller_ctx, "bench-teller", "压测柜员", [Role.TELLER], secrets.token_urlsafe(16)
        )
    with read_transaction(engines[OLD]) as conn:
        old_accounts = dict(conn.execute(select(member.c.id, member.c.account_no)).all())
    with read_transaction(engines[NEW]) as conn:
        new_accounts = dict(conn.execute(select(member.c.id, member.c.account_no)).all())
    people = sorted(set(old_accounts) & set(new_accounts))[:n]

    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_start(
            [sys.executable, str(Path(__file__).with_name("transfer_banks.py")),
             "--port-a", str(ports["bank-old"]), "--account-a", ACCOUNTS[OLD], "--name-a", NAMES[OLD],
             "--notify-a", f"{base[OLD]}/api/v1/settlement/notices",
             "--port-b", str(ports["bank-new"]), "--account-b", ACCOUNTS[NEW], "--name-b", NAMES[NEW],
             "--notify-b", f"{base[NEW]}/api/v1/settlement/notices", "--notify-group", str(args.notices)],
            {"HPF_BANK_SECRET": bank_key}, work / "banks.log",
        ))  # fmt: skip
        processes.append(_start([HPF, "hub", "serve", "--port", str(ports[HUB])], hub_env, work / "hub.log"))
        for code in (OLD, NEW):
            processes.append(
                _start([HPF, "serve", "--port", str(ports[code])], center_env[code], work / f"{code}.log")
            )
        for who in (HUB, OLD, NEW):
            _wait_up(base[who] + "/login")
        print(f"processes: hub {base[HUB]}, old {base[OLD]}, new {base[NEW]}; logs in {work}")
        figures = _run(args, n, people, old_accounts, new_accounts, engines, center_env, teller, reviewer,
                       token_secret, base)  # fmt: skip
        bare = bare_baseline(n, keys, base[HUB])
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    total, latencies = figures
    print(f"\n{n} transfers between two centers through the hub, SQLite, batches of {args.batch}:")
    print(f"  end to end {total:.1f}s, {n / total:.1f} transfers/s")
    if latencies:
        print(f"  application → credit: p50 {_percentile(latencies, 50):.1f}s, p95 {_percentile(latencies, 95):.1f}s,"
              f" max {max(latencies):.1f}s")  # fmt: skip
    print(f"  bare, {n} single messages one by one: compose (SM2 sign + seal) {bare['compose']:.1f}s,"
          f" hop-sign {bare['hop']:.1f}s, verify + open {bare['verify_open']:.1f}s,"
          f" {n} bare HTTP round trips {bare['http']:.1f}s (4 clients);"
          f" in all {sum(bare.values()):.1f}s")  # fmt: skip
    settled = len(latencies) == n
    print(f"  target: all {n} settled in ≤ 120 s: {'met' if settled and total <= 120 else 'NOT met'}")


def _run(
    args: argparse.Namespace,
    n: int,
    people: list[int],
    old_accounts: dict[int, str],
    new_accounts: dict[int, str],
    engines: dict[str, Any],
    center_env: dict[str, dict[str, str]],
    teller: Any,
    reviewer: Any,
    token_secret: str,
    base: dict[str, str],
) -> tuple[float, list[float]]:
    settings = Settings.from_env(center_env[NEW])
    bootstrap.start(settings)  # this process files the applications as the new center's counter
    config = tokens.TokenConfig.from_settings(token_secret, "development")
    token, _ = tokens.make_access_token(reviewer, datetime.now(CHINA_TZ), config)
    headers = {"Authorization": f"Bearer {token}"}
    bank = HttpBank(
        base["bank-old"], center_code=OLD, center_account=ACCOUNTS[OLD], center_name=NAMES[OLD],
        secret=bank_secret(center_env[OLD]["HPF_BANK_SECRET"]),  # type: ignore[arg-type]
    )  # fmt: skip
    applied: dict[str, float] = {}
    stop = threading.Event()
    errors: list[str] = []

    def old_center_staff() -> None:
        """The old center's reviewer and finance, taking turns: approve up to ``--approve``
        letters, then run the payment run for as many; a short pause between, so that the
        center's own writers (the delivery worker, the messages and notices coming in) get their
        turns at SQLite's one writer."""
        ctx = Context("bench-pay", SystemClock(), OLD, source="cli")
        approved = paid = 0
        with httpx.Client(base_url=base[OLD], headers=headers, timeout=300) as http:
            while paid < n and not stop.is_set():
                got = 0
                if approved < n:
                    answer = http.post("/api/v1/transfers/approve", json={"most": args.approve})
                    if answer.status_code == 200:
                        got = len(answer.json()["approved"])
                        approved += got
                    else:
                        errors.append(f"approve {answer.status_code} {answer.text[:200]}")
                try:
                    counts = send_reserved(engines[OLD], ctx, bank, limit=args.approve, batch=args.pay_batch)
                except OperationalError as exc:  # the server held SQLite's writer past the busy timeout
                    errors.append(f"pay: {str(exc)[:100]}")
                    counts = {}
                paid += sum(counts.values())
                time.sleep(0.1 if got or counts else 0.5)

    t0 = time.perf_counter()
    wall0 = time.time()
    threads = [threading.Thread(target=old_center_staff, daemon=True)]
    for t in threads:
        t.start()
    # A center numbers at most 9,999 letters a day (联系函编号: code, YYMMDD, 4 digits): beyond,
    # the applications are filed on the days before, 9,999 a day, the last ones today.
    today = datetime.now(CHINA_TZ).date()
    days = (len(people) - 1) // LETTERS_A_DAY
    clocks = [FixedClock(today - timedelta(days=days - d)) for d in range(days + 1)]
    filing = 0.0
    for chunk in _chunks(people, args.file, LETTERS_A_DAY):
        first = people.index(chunk[0])
        ctx = Context("bench-teller", clocks[first // LETTERS_A_DAY], NEW, source="counter")
        items = [
            applications_bulk.BulkItem(
                {"from_center": OLD, "old_account_no": old_accounts[m], "old_employer_name": "原单位"},
                new_accounts[m],
            )
            for m in chunk
        ]
        t_file = time.perf_counter()
        with write_transaction(engines[NEW]) as conn:
            if args.file > 0:  # the bulk form: one call per chunk (decision 0044)
                outcomes = applications_bulk.submit_many(conn, ctx, teller, "AC-TRANSFER-IN", items)
                for o in outcomes:
                    if isinstance(o, applications_bulk.Refused):
                        errors.append(f"item {o.index}: {o.code}")
                    else:
                        applied[str(o.outputs["letter_no"])] = time.time()
            else:  # one by one through the engine, as before (``--file 0``)
                for member_id, bulk_item in zip(chunk, items, strict=True):
                    done = applications.submit(
                        conn, ctx, teller, "AC-TRANSFER-IN", bulk_item.payload,
                        member_account_no=new_accounts[member_id], complete=True,
                    )  # fmt: skip
                    if done.state != "approved":
                        errors.append(f"application {done.id} {done.state}")
                        continue
                    applied[done.outputs["letter_no"]] = time.time()
        filing += time.perf_counter() - t_file
        # SQLite has one writer, and a process waiting for it retries by sleeping: without a
        # pause, this process's next 200 would keep the server's own writers (its delivery
        # worker, the messages coming in) out until the filing ends
        time.sleep(args.pause)
    per = filing / max(1, len(applied)) * 1000
    print(f"  filing transactions alone: {filing:.1f}s, {per:.2f} ms an application")
    print(f"  applications filed: {len(applied)} in {time.perf_counter() - t0:.1f}s")
    deadline = t0 + args.timeout
    completed = 0
    last_print = 0.0
    while time.perf_counter() < deadline:
        with read_transaction(engines[NEW]) as conn:
            completed = int(
                conn.scalar(
                    select(func.count()).where(transfer.c.side == "in", transfer.c.state == "completed")
                ) or 0
            )  # fmt: skip
        if completed >= len(applied):
            break
        if time.perf_counter() - last_print > 10:
            last_print = time.perf_counter()
            print(f"  … {completed} credited after {last_print - t0:.0f}s", flush=True)
        time.sleep(0.25)
    total = time.perf_counter() - t0
    stop.set()
    if errors:
        print(f"  errors ({len(errors)}): {errors[:5]}")
    if completed < len(applied):
        print(f"  only {completed} of {len(applied)} credited within {args.timeout:.0f}s")
    with read_transaction(engines[NEW]) as conn:
        rows = conn.execute(
            select(transfer.c.letter_no, transfer.c.updated_at).where(
                transfer.c.side == "in", transfer.c.state == "completed"
            )
        ).all()
    latencies = [r.updated_at.timestamp() - applied[r.letter_no] for r in rows if r.letter_no in applied]
    del wall0
    return total, latencies


if __name__ == "__main__":
    main()
