"""How long each request of the withdrawal flow holds SQLite's writer turn (decision 0046).

    python bench/bench_withdrawal_turn.py [--flows 40] [--members 600] [--calls]

The flow of ``bench_withdrawal.py`` — create a serious-illness withdrawal, upload its four
materials, complete it (approved straight through, payout reserved) — run in process through the
test client, one flow after another, on a small center built like that benchmark's. For each request type it prints
the writer turn's hold per flow — from ``BEGIN IMMEDIATE`` to the turn's release — as the holding
thread's CPU time and as wall time, and the worker threads' CPU per flow; ``--calls`` counts the
Python calls made while the turn is held instead (deterministic: a figure that does not depend on
what else the machine runs; the profiler that counts them inflates the times).
The turn's hold is what limits a SQLite center with several server processes (``--workers 2``):
every process queues on it, so the time it is held bounds the throughput of writes.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import secrets
import shutil
import sys
import tempfile
import time
import types
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

import hpf.db.engine as db_engine

MATERIALS = ("M-ID", "M-DIAGNOSIS", "M-MEDICAL", "M-BANK")
PDF = b"%PDF-1.4\n" + b"x" * 2000

_request = types.SimpleNamespace(
    name="other", count_calls=False
)  # the request under way (flows run one at a time)
_held: dict[str, list[tuple[float, float, int]]] = collections.defaultdict(list)
_take, _release = db_engine._take_turn, db_engine.release_turn


def _timed_take(info: dict[str, Any], engine: Any) -> None:
    _take(info, engine)
    profile = cProfile.Profile() if _request.count_calls else None
    info["bench.turn"] = (time.thread_time(), time.perf_counter(), profile)
    if profile is not None:
        profile.enable()


def _timed_release(conn: Any) -> None:
    taken = conn.info.pop("bench.turn", None)
    if taken is not None:
        cpu, wall, profile = taken
        calls = 0
        if profile is not None:
            profile.disable()
            calls = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
        name = _request.name
        _held[name].append((time.thread_time() - cpu, time.perf_counter() - wall, calls))
    _release(conn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=40)
    parser.add_argument("--members", type=int, default=600)
    parser.add_argument(
        "--calls", action="store_true", help="count the Python calls in the turn (profiled: times inflated)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    # Installed before anything imports ``release_turn`` by name (the unit of work does): every
    # writer takes and gives back its turn here.
    db_engine._take_turn = _timed_take
    db_engine.release_turn = _timed_release
    _request.count_calls = args.calls
    from hpf import bootstrap
    from hpf.settings import Settings

    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))
    import bench_withdrawal

    work = Path(tempfile.mkdtemp(prefix="hpf-bench-turn-"))
    url = f"sqlite:///{work / 'center.sqlite3'}"
    try:
        teller, today = bench_withdrawal.build(url, args.members)
        _run(args.flows, url, teller, today)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(flows: int, url: str, teller: Any, today: Any) -> None:
    from starlette.testclient import TestClient

    from hpf.accounts.tables import member
    from hpf.app import create_app
    from hpf.identity import tokens
    from hpf.kernel.clock import CHINA_TZ
    from hpf.kernel.identifiers import luhn_check_digit
    from hpf.ledger.service import member_balances
    from hpf.settings import Settings

    secret = secrets.token_urlsafe(32)
    settings = Settings.from_env({
        "HPF_ENV": "development", "HPF_DATABASE_URL": url, "HPF_BUSINESS_DATE": today.isoformat(),
        "HPF_TOKEN_SECRET": secret, "HPF_BANK_URL": "fake",
    })  # fmt: skip
    app = create_app(settings)
    with db_engine.read_transaction(app.state.engine) as conn:
        rows = conn.execute(select(member.c.id, member.c.account_no).where(member.c.state == "01")).all()
        balances = member_balances(conn, [r.id for r in rows])
    funded = [r.account_no for r in rows if sum(balances.get(r.id, (0, 0))) >= 200_000]
    if len(funded) < flows:
        sys.exit(f"only {len(funded)} members with 2,000 yuan; use more --members or fewer --flows")
    token, _ = tokens.make_access_token(
        teller, datetime.now(CHINA_TZ), tokens.TokenConfig.from_settings(secret, "development")
    )
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        cpu_before, main_before = time.process_time(), time.thread_time()
        for n in range(flows):
            card = f"62220203{n:03d}{n:06d}"
            payload = {"payee_name": "本人", "payee_card": card + luhn_check_digit(card), "payee_bank": "中国工商银行",
                       "cost_fen": 100_000, "requested_fen": 100_000}  # fmt: skip
            _request.name = "create"
            created = client.post("/api/v1/applications", headers=headers, json={
                "item_code": "WD-ILLNESS", "applicant_kind": "member", "member_account_no": funded[n],
                "payload": payload,
            })  # fmt: skip
            created.raise_for_status()
            app_id = created.json()["id"]
            _request.name = "material"
            for code in MATERIALS:
                client.post(
                    f"/api/v1/applications/{app_id}/materials", headers=headers, data={"material_code": code},
                    files={"file": (f"{code}.pdf", PDF, "application/pdf")},
                ).raise_for_status()  # fmt: skip
            _request.name = "complete"
            done = client.post(f"/api/v1/applications/{app_id}/complete", headers=headers)
            if done.status_code != 200 or done.json().get("state") != "approved":
                sys.exit(f"not approved: {done.status_code} {done.text[:300]}")
        # The test client's event loop runs on another thread, so the workers' CPU is the
        # process's less the main thread's (which only waits).
        workers = (time.process_time() - cpu_before) - (time.thread_time() - main_before)
    counted = _request.count_calls
    print(f"{flows} withdrawal flows (create, {len(MATERIALS)} materials, complete), in process, SQLite"
          + (" — Python calls counted, times inflated by the profiler" if counted else ""))  # fmt: skip
    total = [0.0, 0.0, 0.0]
    for name in ("create", "material", "complete", "flow"):
        held = _held.get(name, [])
        cpu, wall, calls = (sum(h[i] for h in held) / flows for i in range(3)) if name != "flow" else total
        total = [total[0] + cpu, total[1] + wall, total[2] + calls] if name != "flow" else total
        shown = (
            f"{calls:8.0f} Python calls"
            if counted
            else f"CPU {cpu * 1000:6.2f} ms, wall {wall * 1000:6.2f} ms"
        )
        print(f"  {name:9} writer turn held per flow: {shown}")
    print(f"  worker threads' CPU per flow: {workers / flows * 1000:.2f} ms")


if __name__ == "__main__":
    main()
