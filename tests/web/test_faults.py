"""Faults with real processes (issue 11): the server killed with SIGKILL under load and started
again, and PostgreSQL stopped for ten seconds under load.

Writers keep money-moving and application writes going, each under its own key (a receipt's bank
reference, an application's Idempotency-Key) and retry a write with the same key until it is
answered 2xx, as a client that lost its answer must. Afterwards every write answered 2xx is in the
database exactly once, the ledger (``hpf check``) and the audit chain (``hpf audit verify``) are
clean; while the database is away the server answers 503 with Retry-After at once, and it serves
again when the database is back, without a restart.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from auth_center import AuthCenter, build_auth_center
from hpf.access.permissions import Role
from hpf.contributions.tables import receipt
from hpf.db.engine import make_engine
from hpf.db.testing import PgCluster, find_pg_bin, start_cluster
from hpf.identity import tokens
from hpf.schema import upgrade
from hpf.services.tables import application

SECRET = "fault-test-token-secret-of-32-bytes-or-more"
HPF = str(Path(sys.executable).with_name("hpf"))
AMOUNT_FEN = 123


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "HPF_ENV": "development",
        "HPF_DATABASE_URL": url,
        "HPF_TOKEN_SECRET": SECRET,
        "HPF_BUSINESS_DATE": "2025-03-15",
        "HPF_DB_WAIT_SECONDS": "3",
    }


@dataclass
class Server:
    url: str
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [HPF, "serve", "--port", str(self.port)],
            env=_env(self.url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/v1/services", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail("hpf serve did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@contextmanager
def serving(url: str) -> Iterator[Server]:
    server = Server(url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _token(center: AuthCenter, role: Role) -> dict[str, str]:
    config = tokens.TokenConfig.from_settings(SECRET, "development")
    token, _ = tokens.make_access_token(center.principals[role], center.clock.now(), config)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Writers:
    """Threads writing under their own keys until told to stop; each write retried until 2xx."""

    center: AuthCenter
    base: str
    stop: threading.Event = field(default_factory=threading.Event)
    receipts: list[str] = field(default_factory=list)  # bank refs answered 201
    applications: list[str] = field(default_factory=list)  # idempotency keys answered 201
    answers: list[tuple[int, float]] = field(default_factory=list)  # (status or 0, seconds)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _until_2xx(self, send: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(base_url=self.base, timeout=20) as http:
            while True:
                started = time.monotonic()
                try:
                    status = send(http).status_code
                except httpx.HTTPError:
                    status = 0
                with self.lock:
                    self.answers.append((status, time.monotonic() - started))
                if 200 <= status < 300:
                    return
                assert status in (0, 503), f"unexpected answer {status}"
                time.sleep(0.2)

    def receipts_of(self, n: int) -> None:
        headers = _token(self.center, Role.FINANCE)
        account = self.center.employer.account_no
        i = 0
        while not self.stop.is_set():
            ref = f"K{n}-{i}"
            body = {"amount_fen": AMOUNT_FEN, "bank_ref": ref, "value_date": "2025-03-15"}
            self._until_2xx(
                lambda h, body=body: h.post(
                    f"/api/v1/employers/{account}/receipts", json=body, headers=headers
                )
            )
            with self.lock:
                self.receipts.append(ref)
            i += 1

    def applications_of(self, n: int) -> None:
        headers = _token(self.center, Role.MEMBER)
        i = 0
        while not self.stop.is_set():
            key = f"A{n}-{i}"
            body = {
                "item_code": "AC-CHANGE",
                "payload": {"field": "phone", "value": f"1390014{i % 10000:04d}"},
            }
            self._until_2xx(
                lambda h, body=body, key=key: h.post(
                    "/api/v1/applications", json=body, headers={**headers, "Idempotency-Key": key}
                )
            )
            with self.lock:
                self.applications.append(key)
            i += 1

    @contextmanager
    def running(self) -> Iterator[None]:
        threads = [threading.Thread(target=self.receipts_of, args=(n,)) for n in range(2)]
        threads += [threading.Thread(target=self.applications_of, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        try:
            yield
        finally:
            self.stop.set()
            for t in threads:
                t.join(120)


def _assert_each_write_once(engine: Engine, writers: Writers) -> None:
    with engine.connect() as conn:
        refs = conn.execute(
            select(receipt.c.bank_ref, func.count())
            .where(receipt.c.bank_ref.like("K%"))
            .group_by(receipt.c.bank_ref)
        ).all()
        keys = conn.execute(
            select(application.c.idempotency_key, func.count())
            .where(application.c.idempotency_key.like("A%"))
            .group_by(application.c.idempotency_key)
        ).all()
        total = conn.scalar(select(func.sum(receipt.c.amount_fen)).where(receipt.c.bank_ref.like("K%")))
    assert writers.receipts and writers.applications
    assert dict(refs) == dict.fromkeys(writers.receipts, 1)
    assert dict(keys) == dict.fromkeys(writers.applications, 1)
    assert total == AMOUNT_FEN * len(writers.receipts)  # no fen lost or doubled


def _hpf_ok(url: str, *args: str) -> None:
    done = subprocess.run([HPF, *args], env=_env(url), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_sigkill_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kill.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    center = build_auth_center(engine)
    server = Server(url)
    server.start()
    writers = Writers(center, server.base)
    try:
        with writers.running():
            for _ in range(2):  # twice, each time with writes in flight
                time.sleep(2.0)
                server.kill()
                time.sleep(0.5)
                server.start()
            time.sleep(1.5)
    finally:
        server.stop()
    assert any(status == 0 for status, _ in writers.answers)  # writes really were cut off
    _assert_each_write_once(engine, writers)
    _hpf_ok(url, "check")
    _hpf_ok(url, "audit", "verify")
    engine.dispose()


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    """A cluster of this test's own: it is stopped and started in the middle of the test."""
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    cluster = start_cluster()
    yield cluster
    cluster.stop()


def test_postgresql_away_for_ten_seconds_then_back(own_cluster: PgCluster) -> None:
    url = own_cluster.url()
    engine = make_engine(url)
    upgrade(engine)
    center = build_auth_center(engine)
    engine.dispose()
    reads: list[tuple[str, int, float]] = []  # (phase, status or 0, seconds)
    phase = "before"
    with serving(url) as server:
        writers = Writers(center, server.base)
        headers = _token(center, Role.TELLER)
        account = center.member.account_no
        halt = threading.Event()

        def reader() -> None:
            with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
                while not halt.is_set():
                    started = time.monotonic()
                    answer = http.get(f"/api/v1/members/{account}")
                    reads.append((phase, answer.status_code, time.monotonic() - started))
                    if answer.status_code == 503:
                        assert answer.headers.get("Retry-After", "").isdigit()
                    time.sleep(0.05)

        threads = [threading.Thread(target=reader) for _ in range(2)]
        with writers.running():
            for t in threads:
                t.start()
            time.sleep(2)
            phase = "away"
            own_cluster.stop_server()
            time.sleep(10)
            own_cluster.start_server()
            phase = "back"
            time.sleep(6)
            halt.set()
            for t in threads:
                t.join(60)
        away = [(status, took) for p, status, took in reads if p == "away"]
        back = [status for p, status, _ in reads if p == "back"]
    assert away and {status for status, _ in away} <= {200, 503}
    assert any(status == 503 for status, _ in away)
    assert max(took for _, took in away) < 5  # told at once, not held
    assert back[-5:] == [200] * 5  # serving again, the same process
    engine = make_engine(url)
    _assert_each_write_once(engine, writers)
    engine.dispose()
    _hpf_ok(url, "check")
