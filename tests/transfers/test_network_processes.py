"""Real processes: the hub and two centers, each ``hpf … serve`` on its own port with its own
SQLite file. A BDC909 lookup queued while the hub is down is delivered once it is up (the
center's worker retries with backoff); a BDC904 status query goes from one center to the other
through the hub and its answer comes back; a message delivered twice has its effect once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from hpf import bootstrap, events
from hpf.cli import app as hpf_cli
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.hub.tables import hub_message
from hpf.kernel.clock import SystemClock
from hpf.kernel.context import Context
from hpf.messages import protocol
from hpf.messages.envelope import CenterInfo
from hpf.messages.keys import KeyPair
from hpf.messages.transport import PATH
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.transfers import service as transfers
from hpf.transfers.tables import exchanged_message

HPF = str(Path(sys.executable).with_name("hpf"))
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _public(keys: KeyPair) -> str:
    return f"{keys.public().sign}:{keys.public().encrypt}"


def _start(running: ExitStack, args: list[str], env: dict[str, str]) -> None:
    """``hpf ARGS`` in its own process until the test ends (started, not yet waited for)."""
    process = subprocess.Popen(
        [HPF, *args], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            process.wait(30)

    running.callback(stop)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _wait(condition: Callable[[], Any], seconds: float, failure: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(failure)


def test_hub_down_then_up_two_centers_and_duplicates(tmp_path):
    hub_keys, a_keys, b_keys = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    for name, keys in (("hub", hub_keys), ("a", a_keys), ("b", b_keys)):
        keys.write(tmp_path / f"{name}-keys.json")
    ports = {"hub": _free_port(), "a": _free_port(), "b": _free_port()}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    fast = {
        "HPF_ENV": "development",
        "HPF_DELIVER_EVERY_SECONDS": "0.1",
        "HPF_DELIVER_BACKOFF_SECONDS": "0.2",
    }
    hub_env = {
        **fast,
        "HPF_DATABASE_URL": f"sqlite:///{tmp_path}/hub.sqlite3",
        "HPF_MESSAGE_KEY_FILE": str(tmp_path / "hub-keys.json"),
    }
    # The hub's registry, by its command (which also migrates the hub's own database).
    runner = CliRunner()
    for code, name, keys, who in (
        ("330100", "杭州住房公积金管理中心", a_keys, "a"),
        ("440300", "深圳市住房公积金管理中心", b_keys, "b"),
    ):
        done = runner.invoke(
            hpf_cli,
            ["hub", "register-center", "--code", code, "--name", name, "--province", "浙江",
             "--endpoint", base[who], "--public-keys", _public(keys)],
            env=hub_env,
        )  # fmt: skip
        assert done.exit_code == 0, done.output
    center_env = {}
    engines = {}
    for who, code in (("a", "330100"), ("b", "440300")):
        url = f"sqlite:///{tmp_path}/{who}.sqlite3"
        engines[who] = make_engine(url)
        upgrade(engines[who])
        center_env[who] = {
            **fast,
            "HPF_DATABASE_URL": url,
            "HPF_CENTER_CODE": code,
            "HPF_HUB_URL": base["hub"],
            "HPF_HUB_PUBLIC_KEYS": _public(hub_keys),
            "HPF_MESSAGE_KEY_FILE": str(tmp_path / f"{who}-keys.json"),
        }
    a_settings = Settings.from_env(center_env["a"])
    a_ctx = Context(actor="teller", clock=SystemClock(), center_code="330100", source="test")

    def a_out(message_id: object) -> Any:
        with read_transaction(engines["a"]) as conn:
            return transfers.message_of(conn, message_id)

    with ExitStack() as running:
        _start(running, ["serve", "--port", str(ports["a"])], center_env["a"])
        _start(running, ["serve", "--port", str(ports["b"])], center_env["b"])
        for who in ("a", "b"):
            _wait(lambda w=who: _answers(base[w] + "/login"), 60, f"center {who} did not start")
        # A asks the hub about B while the hub is down: written in A's transaction, retried.
        bootstrap.start(a_settings)  # this test process writes into A's database as A
        with write_transaction(engines["a"]) as conn:
            lookup = transfers.lookup_centers(conn, a_ctx, ["440300"])
        _wait(
            lambda: (m := a_out(lookup)).state == "queued" and m.attempts >= 2, 20, "A's worker did not retry"
        )
        assert a_out(lookup).last_error.startswith("0 transport.unreachable")
        _start(running, ["hub", "serve", "--port", str(ports["hub"])], hub_env)
        _wait(lambda: a_out(lookup).answered_by, 30, "the lookup was not answered once the hub came back")
        assert a_out(lookup).state == "delivered"
        with read_transaction(engines["a"]) as conn:
            assert transfers.peers(conn) == {"440300": "active"}
        # A asks B where a letter stands: A → hub → B, B's answer B → hub → A.
        with write_transaction(engines["a"]) as conn:
            asked = transfers.ask_status(conn, a_ctx, "440300", "4403002612060001")
        answer_id = _wait(lambda: a_out(asked).answered_by, 30, "B's answer did not come back")
        with read_transaction(engines["b"]) as conn:
            at_b = transfers.messages(conn)
        assert [(m.direction, m.type, m.peer, m.state) for m in at_b] == [
            ("in", "BDC904", "330100", "handled"),
            ("out", "BDC904", "330100", "delivered"),
        ]
        assert at_b[1].message_id == answer_id and at_b[1].reply_to == str(asked)
        # Delivered twice, taken once: A's query again to the hub (a new hop, A's key) …
        with read_transaction(engines["a"]) as conn:
            stored = conn.scalar(
                select(exchanged_message.c.envelope).where(exchanged_message.c.message_id == str(asked))
            )
        again = protocol.hop(a_keys, "330100", protocol.envelope_of(stored), datetime.now(UTC))
        twice = httpx.post(base["hub"] + PATH, json=again.model_dump(mode="json"), timeout=10)
        assert twice.status_code == 200 and twice.json()["status"] == "duplicate"
        # … and B's answer again to A, as the hub would after losing A's acknowledgement.
        hub_engine = make_engine(hub_env["HPF_DATABASE_URL"])
        with read_transaction(hub_engine) as conn:
            assert (
                conn.scalar(select(func.count()).select_from(hub_message)) == 4
            )  # 909, its answer, 904, its answer
            forwarded = conn.scalar(
                select(hub_message.c.envelope).where(hub_message.c.message_id == answer_id)
            )
        b_info = {"code": "440300", "name": "深圳市住房公积金管理中心", "province": "浙江", "state": "active",
                  "sign_key": b_keys.public().sign, "encrypt_key": b_keys.public().encrypt}  # fmt: skip
        redelivered = protocol.hop(
            hub_keys,
            "000000",
            protocol.envelope_of(forwarded),
            datetime.now(UTC),
            sender=CenterInfo(**b_info),
        )
        for _ in range(2):
            repeat = httpx.post(base["a"] + PATH, json=redelivered.model_dump(mode="json"), timeout=10)
            assert repeat.status_code == 200 and repeat.json()["status"] == "duplicate"
        with read_transaction(engines["a"]) as conn:
            inbox = transfers.messages(conn, direction="in")
            told = [
                e
                for e in events.events_of(conn, "hub_message", asked)
                if e.type == "hub_message.status_answered"
            ]
        assert sorted(m.type for m in inbox) == ["BDC904", "BDC909"]  # once each
        assert [e.payload["feedback_code"] for e in told] == ["1"]  # its effect once
        # A tampered redelivery is refused by the real center, with no effect.
        tampered = redelivered.model_dump(mode="json")
        tampered["envelope"]["recipient"] = "330101"
        refused = httpx.post(base["a"] + PATH, json=tampered, timeout=10)
        assert refused.status_code == 401 and refused.json()["code"] == "message.bad_signature"
        hub_engine.dispose()
    for engine in engines.values():
        engine.dispose()
