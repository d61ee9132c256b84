"""End to end over real sockets: the fake bank as its own process (``hpf fakebank serve``), the
center served by uvicorn, a real client timeout, notices sent by the bank, and
``hpf settlement reconcile`` with its exit code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn
from settlement_process_data import BUSINESS_DATE, open_member
from typer.testing import CliRunner

from hpf import events
from hpf.app import create_app
from hpf.cli import app as hpf
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.settlement import owners, service
from hpf.settlement.adapter import HttpBank
from settlement_support import SECRET, deposit, payout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def center(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(database URL, base URL) of a center served on a free port."""
    url = f"sqlite:///{tmp_path}/hpf.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    app = create_app(
        Settings(env="development", database_url=url, bank_secret=SECRET.decode()),
        engine=engine,
        clock=FixedClock(BUSINESS_DATE),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="center", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the center did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield url, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        engine.dispose()


@pytest.fixture
def bank_process(center: tuple[str, str]) -> Iterator[str]:
    """``hpf fakebank serve`` in its own process; its notices go to the center."""
    port = _free_port()
    env = {**os.environ, "HPF_BANK_SECRET": SECRET.decode()}
    process = subprocess.Popen(
        [sys.executable, "-m", "hpf.cli", "fakebank", "serve", "--port", str(port), "--day", BUSINESS_DATE.isoformat(),
         "--delay", "1.5", "--notify-url", f"{center[1]}/api/v1/settlement/notices"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                if httpx.get(f"{base}/admin/state", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else "fake bank exited"
            assert time.monotonic() < deadline, "the fake bank did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.slow
def test_a_real_timeout_resolves_to_one_payment_and_the_cli_reconciles(center, bank_process, monkeypatch):
    db_url, _ = center
    engine = make_engine(db_url)
    ctx = Context(actor="tester", clock=FixedClock(BUSINESS_DATE), center_code="990001", source="test")
    heard: list[str] = []
    listening = events.listening(
        owners.listener("test", "the test owner", lambda _c, _x, o: heard.append(o.state))
    )
    with listening:
        try:
            with write_transaction(engine) as conn:
                member_id = open_member(conn, ctx)
                deposit(conn, ctx, member_id, 100_000)
                order = service.reserve(conn, ctx, payout(member_id, 30_000, "proc-1"))
            bank = HttpBank(
                bank_process, center_code="990001", center_account="955880000000000001", center_name="中心",
                secret=SECRET, timeout=0.5,
            )  # fmt: skip
            # the bank pays but answers only after 1.5 s, and holds its notice back until told
            httpx.post(f"{bank_process}/admin/faults", json={"mode": "late"}).raise_for_status()
            assert service.send(engine, ctx, order.id, bank).state == "unknown"  # a real client timeout
            assert service.resolve(engine, ctx, order.id, bank).state == "paid"
            assert httpx.get(f"{bank_process}/admin/state").json()["transfers"] == 1
            httpx.post(f"{bank_process}/admin/notices/release").raise_for_status()
            deadline = time.monotonic() + 10  # the bank's own (late) notice reaches the center's endpoint
            while True:
                with read_transaction(engine) as conn:
                    outcomes = conn.exec_driver_sql("SELECT outcome FROM bank_notice").scalars().all()
                if outcomes or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert outcomes == ["no_effect"] and heard == ["paid"]
        finally:
            engine.dispose()
    for name, value in {
        "HPF_DATABASE_URL": db_url, "HPF_BANK_URL": bank_process, "HPF_BANK_SECRET": SECRET.decode(),
        "HPF_BUSINESS_DATE": BUSINESS_DATE.isoformat(),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    differing = runner.invoke(hpf, ["settlement", "reconcile", "--day", BUSINESS_DATE.isoformat()])
    assert differing.exit_code == 1, differing.output
    assert (
        "ledger_only" in differing.output and "SEED-seed" in differing.output
    )  # the seed was no bank movement
    clean = runner.invoke(hpf, ["settlement", "reconcile", "--day", date(2025, 3, 14).isoformat()])
    assert clean.exit_code == 0, clean.output
    assert "0 difference(s)" in clean.output
    assert runner.invoke(hpf, ["check"]).exit_code == 0
