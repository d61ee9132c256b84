"""A network of three cities (issue 14 item 5, decision 0035): ``hpf network demo``.

A hub and three centers, in different cities and provinces and with different policies, each its
own SQLite database (``DIR/hub.sqlite3``, ``DIR/<center code>.sqlite3``) and its own process
(``hpf hub serve``, ``hpf serve``) on its own port, and one fake bank process holding the three
centers' fund accounts (``hpf network bank``: three connected :class:`FakeBank` — a payment from
one center's account to another's credits it, and the bank tells that center by an SBDC100
notice to its endpoint). The centers talk only through the hub, over HTTP, by their own delivery
workers.

Each simulated month, this process (the orchestrator) lives the month of every center with the
one-center simulator (:func:`hpf.sim.simulator.simulate`, one month, unchanged), then moves
people between the cities and acts as their staff:

1. a member leaves an employer in city A: the account is sealed (封存) there, and the person is
   hired by an employer in city B (an account opened there);
2. at B the member applies for the transfer (转移接续) through the catalog item
   ``AC-TRANSFER-IN`` (at the counter) — at once, or a month later when A's local condition
   ``transfer.out_min_sealed_months`` asks for a sealed month;
3. the letter (BDC901) goes B → hub → A; A's staff approve it when its checks pass (else refuse
   with the reason), and A's payment run pays the balance with interest to B's fund account at
   the bank; the bank credits B, B matches the credit with the BDC905 and credits the member.

The orchestrator writes into a center's database as that center (``hpf.bootstrap`` started with
its settings, as any ``hpf`` command of that center is) while the center's own process serves
it; it waits for the messages and the money by reading the databases.

Supervision reporting (decisions 0039, 0040; issue 15): the hub keeps its national warehouse in
``DIR/warehouse`` (``HPF_WAREHOUSE_DIR``) and the three centers hold one national reporting key
(``HPF_REPORT_PSEUDONYM_KEY``, generated per network and kept in ``DIR/network.json``), so that
the simulator reports each center's month to the hub (SUP101) the day after its month-end; the
hub's intake runs the month's reporting run (classification of the centers, problems raised and
dispatched). :func:`national_checks` holds the hub's national and provincial figures of every
reported month to the sum of what the centers sent, and asks that the hub classified every
center every month.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, select

from hpf import bootstrap
from hpf.accounts import queries as accounts_queries
from hpf.accounts import service as accounts
from hpf.db.calendar import StoredClock, set_business_date, stored_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.hub import national, registry
from hpf.hub import warehouse as hub_warehouse
from hpf.hub.app import open_warehouse
from hpf.hub.schema import upgrade as hub_upgrade
from hpf.hub.settings import HubSettings
from hpf.hub.staff import NATION
from hpf.hub.supervision import problems as hub_problems
from hpf.hub.supervision import run as hub_run
from hpf.hub.supervision.scope import Supervisor
from hpf.kernel.context import Context
from hpf.loans.queries import unsettled_loans_subquery
from hpf.messages.keys import KeyPair
from hpf.policy.queries import transfer_policy_at
from hpf.policy.service import policy_at, schedule_change
from hpf.schema import upgrade
from hpf.services import service as applications
from hpf.services.queries import handled_applications_subquery
from hpf.settings import Settings
from hpf.settlement import adapter
from hpf.settlement.fakebank import FakeBank, create_fake_bank
from hpf.settlement.service import send_reserved
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate
from hpf.sim.withdrawals import staff
from hpf.supervision import service as supervision
from hpf.transfers import process, report_feed
from hpf.transfers import service as transfers

Say = Callable[[str], None]

HUB_CODE = "000000"
START = date(2025, 1, 1)  # the first simulated month (deterministic runs)
NOTICES = "/api/v1/settlement/notices"
ENDED = frozenset({"completed", "refused", "cancelled", "payment_failed"})
MOVE_SHARE = 0.03  # of a city's members who move to the next city in a month


@dataclass(frozen=True)
class City:
    code: str
    name: str
    province: str
    account: str  # the center's fund account at the bank
    wage_floor_yuan: int
    wage_cap_yuan: int
    policy: tuple[tuple[str, object], ...]  # the center's own values (key, value) from the start
    move_to: str  # the city its movers go to


CITIES = (
    City("330100", "杭州住房公积金管理中心", "浙江", "955880000000330100", 2_490, 36_000,
         (("base_floor_fen", 249_000), ("base_cap_fen", 3_600_000), ("loan.max_amount_fen", 100_000_000)),
         "440300"),
    City("440300", "深圳市住房公积金管理中心", "广东", "955880000000440300", 2_360, 44_000,
         (("base_floor_fen", 236_000), ("base_cap_fen", 4_400_000), ("loan.max_amount_fen", 126_000_000),
          ("transfer.out_min_sealed_months", 1)),
         "510100"),
    City("510100", "成都住房公积金管理中心", "四川", "955880000000510100", 2_100, 28_000,
         (("base_floor_fen", 210_000), ("base_cap_fen", 2_800_000), ("loan.max_amount_fen", 70_000_000),
          ("loan.min_continuous_deposit_months", 12)),
         "330100"),
)  # fmt: skip
CITY = {c.code: c for c in CITIES}


@dataclass(frozen=True)
class Ports:
    hub: int = 8100
    centers: tuple[int, int, int] = (8101, 8102, 8103)
    bank: int = 8104

    @classmethod
    def from_base(cls, base: int) -> Ports:
        return cls(base, (base + 1, base + 2, base + 3), base + 4)

    def center(self, code: str) -> int:
        return self.centers[[c.code for c in CITIES].index(code)]


@dataclass(frozen=True)
class Layout:
    """Where everything of one network lives: files in ``data_dir``, processes on ``ports``."""

    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    host: str = "127.0.0.1"

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def hub_url(self) -> str:
        return self.url(self.ports.hub)

    def center_url(self, code: str) -> str:
        return self.url(self.ports.center(code))

    def bank_url(self, code: str) -> str:
        return f"{self.url(self.ports.bank)}/{code}"

    def database(self, name: str) -> str:
        return f"sqlite:///{self.data_dir / f'{name}.sqlite3'}"

    def keys(self, name: str) -> Path:
        return self.data_dir / f"{name}-keys.json"

    @property
    def config(self) -> Path:
        return self.data_dir / "network.json"

    def bank_secret(self) -> str:
        return str(json.loads(self.config.read_text())["bank_secret"])

    @property
    def warehouse_dir(self) -> Path:
        """The hub's national warehouse (Parquet by center and month, decision 0039)."""
        return self.data_dir / "warehouse"

    def report_key(self) -> str:
        """The network's national reporting key (64 hex digits), shared by its three centers."""
        return str(json.loads(self.config.read_text())["report_key"])

    def hub_env(self) -> dict[str, str]:
        return {
            "HPF_ENV": "development", "HPF_DATABASE_URL": self.database("hub"),
            "HPF_MESSAGE_KEY_FILE": str(self.keys("hub")), "HPF_HUB_CODE": HUB_CODE,
            "HPF_DELIVER_EVERY_SECONDS": "0.2", "HPF_DELIVER_BACKOFF_SECONDS": "0.5",
            "HPF_WAREHOUSE_DIR": str(self.warehouse_dir),
        }  # fmt: skip

    def hub_settings(self) -> HubSettings:
        return HubSettings.from_env(self.hub_env())

    def center_env(self, code: str) -> dict[str, str]:
        hub = KeyPair.from_file(self.keys("hub")).public()
        city = CITY[code]
        return {
            "HPF_ENV": "development", "HPF_DATABASE_URL": self.database(code), "HPF_CENTER_CODE": code,
            "HPF_CENTER_NAME": city.name, "HPF_BANK_URL": self.bank_url(code), "HPF_BANK_ACCOUNT": city.account,
            "HPF_BANK_SECRET": self.bank_secret(), "HPF_HUB_URL": self.hub_url, "HPF_HUB_CODE": HUB_CODE,
            "HPF_HUB_PUBLIC_KEYS": f"{hub.sign}:{hub.encrypt}", "HPF_MESSAGE_KEY_FILE": str(self.keys(code)),
            "HPF_DELIVER_EVERY_SECONDS": "0.2", "HPF_DELIVER_BACKOFF_SECONDS": "0.5",
            "HPF_REPORT_PSEUDONYM_KEY": self.report_key(),
        }  # fmt: skip

    def settings(self, code: str) -> Settings:
        return Settings.from_env(self.center_env(code))


# ------------------------------------------------------------------------------ building


def prepare(layout: Layout, *, members: int, seed: int, say: Say) -> None:
    """Keys, the hub's registry, and each center's city with its own policy (fresh files)."""
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(layout.warehouse_dir, ignore_errors=True)
    for name in ("hub", *CITY):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{layout.data_dir / name}.sqlite3{suffix}").unlink(missing_ok=True)
        layout.keys(name).unlink(missing_ok=True)
        KeyPair.generate().write(layout.keys(name))
    layout.config.write_text(
        json.dumps(
            {
                "bank_secret": secrets.token_hex(24),
                "report_key": secrets.token_hex(32),  # the national reporting key (HMAC-SM3)
                "centers": [
                    {"code": c.code, "name": c.name, "account": c.account,
                     "notify_url": layout.center_url(c.code) + NOTICES}
                    for c in CITIES
                ],
            },
            ensure_ascii=False,
            indent=2,
        )
    )  # fmt: skip
    hub_engine = make_engine(layout.database("hub"))
    hub_upgrade(hub_engine)
    with write_transaction(hub_engine) as conn:
        for city in CITIES:
            registry.register(
                conn, code=city.code, name=city.name, province=city.province,
                endpoint=layout.center_url(city.code), keys=KeyPair.from_file(layout.keys(city.code)).public(),
                actor="network-demo", now=datetime.now(UTC), hub_code=HUB_CODE,
            )  # fmt: skip
    hub_engine.dispose()
    employers = max(3, members // 25)
    for n, city in enumerate(CITIES):
        with as_center(layout, city.code) as (engine, ctx):
            upgrade(engine)
            with write_transaction(engine) as conn:
                set_business_date(conn, START)
            built = build_demo_center(
                engine, ctx, seed=seed * 10 + n, employers=employers, members=members,
                wage_floor_yuan=city.wage_floor_yuan, wage_cap_yuan=city.wage_cap_yuan,
            )  # fmt: skip
            with write_transaction(engine) as conn:
                for key, value in city.policy:
                    schedule_change(conn, ctx, key, START, value, "本中心政策（演示网络）")
        say(f"{city.code} {city.name}：单位 {built.employers} 家，职工 {built.members} 人")


@contextmanager
def as_center(layout: Layout, code: str) -> Iterator[tuple[Engine, Context]]:
    """This process acting as center ``code``: its wiring installed, its engine, its context."""
    settings = layout.settings(code)
    bootstrap.start(settings)
    engine = make_engine(settings.database_url)
    try:
        yield engine, Context(actor="network-sim", clock=StoredClock(engine), center_code=code, source="sim")
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------- the bank


def bank_app(config: dict[str, Any]) -> Any:
    """The fake bank of the network: one connected :class:`FakeBank` per center under
    ``/<center code>`` (its ``/bdc/…`` and ``/admin/…``), each one's notices posted to its center."""
    from fastapi import FastAPI

    secret = adapter.bank_secret(str(config["bank_secret"]))
    banks: dict[str, tuple[FakeBank, str]] = {}
    for c in config["centers"]:
        fake = FakeBank(center_account=c["account"], center_name=c["name"], secret=secret)
        for other, _ in banks.values():
            other.connect(fake)
        banks[c["code"]] = (fake, c["notify_url"])
    stop = threading.Event()

    def notify() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                for fake, url in banks.values():

                    def post(body: bytes, headers: dict[str, str], url: str = url) -> int:
                        return client.post(url, content=body, headers=headers).status_code

                    fake.deliver(post)
                stop.wait(0.2)

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        sender = threading.Thread(target=notify, name="bank-notices", daemon=True)
        sender.start()
        yield
        stop.set()
        sender.join(5)

    app = FastAPI(title="OpenHPF network fake bank", lifespan=lifespan)

    @app.get("/admin/balances")
    def balances() -> dict[str, int]:
        return {code: fake.balance_fen for code, (fake, _) in banks.items()}

    for code, (fake, _) in banks.items():
        app.mount(f"/{code}", create_fake_bank(fake))
    return app


# ------------------------------------------------------------------------------ processes


def hpf_command() -> list[str]:
    return [sys.executable, "-m", "hpf.cli"]


@dataclass
class Processes:
    """The network's processes; stopped (terminated, then waited for) by :meth:`stop`."""

    layout: Layout
    log_dir: Path
    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: list[str], env: dict[str, str], name: str) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.running.append(
            subprocess.Popen([*hpf_command(), *args], env={**os.environ, **env}, stdout=log, stderr=log)
        )

    def start_all(self) -> None:
        layout, ports = self.layout, self.layout.ports
        self.start(["network", "bank", "--config", str(layout.config), "--port", str(ports.bank),
                    "--host", layout.host], {"HPF_ENV": "development"}, "bank")  # fmt: skip
        self.start(["hub", "serve", "--port", str(ports.hub), "--host", layout.host], layout.hub_env(), "hub")
        for city in CITIES:
            self.start(["serve", "--port", str(ports.center(city.code)), "--host", layout.host],
                       layout.center_env(city.code), city.code)  # fmt: skip
        urls = [layout.url(ports.bank) + "/admin/balances", layout.hub_url + "/login"]
        urls += [layout.center_url(c.code) + "/login" for c in CITIES]
        for url in urls:
            wait_for(partial(self._answers_while_running, url), 90, f"{url} did not answer")

    def _answers_while_running(self, url: str) -> bool:
        """Whether ``url`` answers; a process that stopped (a port taken, say) fails at once
        rather than after the whole wait."""
        if any(p.poll() is not None for p in self.running):
            raise RuntimeError(f"a process of the network stopped (logs in {self.log_dir})")
        return _answers(url)

    def stop(self) -> None:
        for p in self.running:
            if p.poll() is None:
                p.terminate()
        for p in self.running:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.running.clear()

    def wait(self) -> None:
        for p in self.running:
            p.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def wait_for(condition: Callable[[], Any], seconds: float, failure: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(failure)
        time.sleep(0.2)


# ------------------------------------------------------------------------------ the months


@dataclass(frozen=True)
class Move:
    old: str
    new: str
    old_account_no: str
    old_employer_name: str
    new_account_no: str
    apply_on_month: int  # the month index after which the member applies


@dataclass
class NetworkSummary:
    months: int = 0
    moved: int = 0
    applied: int = 0
    rejected: int = 0  # applications the new center refused (its own conditions)
    approved: int = 0
    refused: int = 0
    completed: int = 0
    moved_fen: int = 0
    reports: int = 0  # center-months reported to the hub (SUP101)
    letters: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)


def _today(engine: Engine) -> date:
    with read_transaction(engine) as conn:
        day = stored_business_date(conn)
    assert day is not None
    return day


OPEN_APPLICATION = ("submitted", "accepted", "under_review", "approved")


def _busy(conn: Connection) -> set[int]:
    """Members with an application under way or an unsettled loan: they stay where they are
    (a withdrawal waiting for review must not find the account transferred out)."""
    applied = handled_applications_subquery()
    loans = unsettled_loans_subquery()
    busy = {
        int(i) for i in conn.scalars(select(applied.c.member_id).where(applied.c.state.in_(OPEN_APPLICATION)))
    }
    return busy | {int(i) for i in conn.scalars(select(loans.c.borrower_id))}


def _movers(conn: Connection, rng: random.Random, count: int) -> list[accounts.Member]:
    """Members depositing normally, with money, who never applied for anything here."""
    member = accounts_queries.member_refs_subquery()
    applied = handled_applications_subquery()
    ever = select(applied.c.id).where(applied.c.member_id == member.c.id).exists()
    normal = list(
        conn.scalars(select(member.c.account_no).where(member.c.state == "01", ~ever).order_by(member.c.id))
    )
    busy = _busy(conn)
    found = []
    for account_no in rng.sample(normal, min(len(normal), count * 3)):
        m = accounts.get_member(conn, account_no)
        if m.balance_fen > 0 and m.id not in busy:
            found.append(m)
        if len(found) == count:
            break
    return found


def _new_moves(layout: Layout, month: int, months: int, rng: random.Random, members: int) -> list[Move]:
    """People leave their employer in each city (sealed) and are hired in the next city."""
    moves: list[Move] = []
    count = max(1, round(members * MOVE_SHARE))
    for city in CITIES:
        with as_center(layout, city.code) as (engine, ctx), write_transaction(engine) as conn:
            wait = transfer_policy_at(conn, ctx.clock.today()).out_min_sealed_months
            if month + wait >= months:
                continue  # they could not apply before the run ends
            people = _movers(conn, rng, count)
            names = accounts.employers_named(conn, {m.employer_id for m in people})
            for m in people:
                accounts.seal_member(conn, ctx, m.account_no, "离职（迁往外地）")
        with as_center(layout, city.move_to) as (engine, ctx), write_transaction(engine) as conn:
            terms = policy_at(conn, ctx.clock.today())
            employers = [e.account_no for e in accounts_queries.employers_in_states(conn, ("01",))]
            for m in people:
                base = min(max(m.base_fen, terms.base_floor_fen), terms.base_cap_fen)
                hired = accounts.open_member(
                    conn, ctx, rng.choice(employers),
                    {"resident_id": m.resident_id, "name": m.name, "base_fen": base,
                     "phone": m.phone or "13800000000"},
                )  # fmt: skip
                moves.append(
                    Move(city.code, city.move_to, m.account_no, names[m.employer_id].name, hired.account_no,
                         month + wait)
                )  # fmt: skip
    return moves


def _ready(moves: list[Move], layout: Layout) -> list[Move]:
    """The moves whose member has nothing under way at the old center (the rest wait a month)."""
    ready = []
    for code in CITY:
        mine = [m for m in moves if m.old == code]
        if not mine:
            continue
        engine = make_engine(layout.database(code))
        member = accounts_queries.member_refs_subquery()
        try:
            with read_transaction(engine) as conn:
                busy = _busy(conn)
                chosen = select(member.c.account_no, member.c.id).where(
                    member.c.account_no.in_([m.old_account_no for m in mine])
                )
                ids = {str(r.account_no): int(r.id) for r in conn.execute(chosen)}
        finally:
            engine.dispose()
        ready += [m for m in mine if ids.get(m.old_account_no) not in busy]
    return ready


def _apply(layout: Layout, moves: list[Move], summary: NetworkSummary) -> list[str]:
    """Each mover applies at the new center's counter; the letters sent."""
    letters = []
    for code in CITY:
        mine = [m for m in moves if m.new == code]
        if not mine:
            continue
        with as_center(layout, code) as (engine, ctx), write_transaction(engine) as conn:
            teller, reviewer = staff(conn, ctx)
            for m in mine:
                payload = {"from_center": m.old, "old_account_no": m.old_account_no,
                           "old_employer_name": m.old_employer_name}  # fmt: skip
                done = applications.submit(
                    conn, ctx, teller, "AC-TRANSFER-IN", payload, applicant_kind="member",
                    member_account_no=m.new_account_no, idempotency_key=f"net:{m.old}:{m.old_account_no}",
                    complete=True,
                )  # fmt: skip
                summary.applied += 1
                if done.outputs and done.outputs.get("letter_no"):
                    letters.append(str(done.outputs["letter_no"]))
                elif done.state == "under_review":  # a condition fails here: the reviewer says which
                    rules = (done.evaluation or {}).get("rules", [])
                    failed = [str(r.get("title_zh")) for r in rules if not r.get("passed")]
                    applications.reject(conn, ctx, reviewer, done.id, (failed or ["不符合受理条件"])[0])
                    summary.rejected += 1
    return letters


def _transfers(layout: Layout, code: str, letters: set[str]) -> list[process.Transfer]:
    engine = make_engine(layout.database(code))
    try:
        with read_transaction(engine) as conn:
            today = stored_business_date(conn) or START
            found = [process.by_letter(conn, today, n) for n in sorted(letters)]
        return [t for t in found if t is not None]
    finally:
        engine.dispose()


def _side(layout: Layout, letters: set[str], side: str) -> dict[str, process.Transfer]:
    found: dict[str, process.Transfer] = {}
    for code in CITY:
        for t in _transfers(layout, code, letters):
            if t.side == side:
                found[t.letter_no] = t
    return found


def _decide(layout: Layout, letters: set[str], summary: NetworkSummary, say: Say) -> None:
    """The old centers' staff decide every letter: approve when the checks pass, else refuse."""
    for code in CITY:
        with as_center(layout, code) as (engine, ctx):
            with read_transaction(engine) as conn:
                waiting = [t for t in process.listing(conn, ctx.clock.today(), side="out", limit=10_000)
                           if t.letter_no in letters and t.state == "received"]  # fmt: skip
            for t in waiting:
                failed = [c for c in t.checks if not c.get("passed")]
                with write_transaction(engine) as conn:
                    if failed:
                        reason = "不符合转出条件：" + "；".join(
                            str(c.get("message_zh", c.get("code"))) for c in failed
                        )
                        process.refuse(conn, ctx, t.id, reason[:200])
                        summary.refused += 1
                    else:
                        process.approve(conn, ctx, t.id)
                        summary.approved += 1


def _pay(layout: Layout, say: Say) -> None:
    """The old centers' payment runs of transfer payouts, at the network's bank (every account's
    bank date first set to its center's business date: a credit is dated by the payee's bank)."""
    for code in CITY:
        engine = make_engine(layout.database(code))
        day = _today(engine)
        engine.dispose()
        httpx.post(f"{layout.bank_url(code)}/admin/date", json={"day": day.isoformat()}, timeout=10)
    for code in CITY:
        with as_center(layout, code) as (engine, ctx):
            bank = adapter.from_settings(layout.settings(code))
            counts = send_reserved(engine, ctx, bank, owner_kind="transfer", limit=10_000)
            if counts:
                say(f"  {code} 转移接续付款：{counts}")


def _settle(layout: Layout, letters: set[str], summary: NetworkSummary, say: Say, seconds: float) -> None:
    """Wait for the letters at the old centers, decide them, pay, and wait until both sides end."""
    if not letters:
        return
    try:
        wait_for(lambda: len(_side(layout, letters, "out")) == len(letters), seconds,
                 "letters did not reach their old centers")  # fmt: skip
    except TimeoutError as exc:
        say(f"  [等待超时] {exc}")
    say("  联系函已到转出地")
    _decide(layout, letters, summary, say)
    _pay(layout, say)

    def ended() -> bool:
        new, old = _side(layout, letters, "in"), _side(layout, letters, "out")
        return all(new.get(n) and new[n].state in ENDED and old.get(n) and old[n].state in ENDED
                   for n in letters)  # fmt: skip

    try:
        wait_for(ended, seconds, "transfers did not end on both sides")
    except TimeoutError as exc:
        say(f"  [等待超时] {exc}")
    new = _side(layout, letters, "in")
    for n in sorted(letters):
        t = new.get(n)
        if t is not None and t.state == "completed":
            summary.completed += 1
            summary.moved_fen += t.amount_fen or 0
        elif t is None or t.state not in ENDED:
            summary.unfinished.append(n)


def _look_up_peers(layout: Layout, seconds: float) -> None:
    """Each center learns the others through the hub (BDC909)."""
    for city in CITIES:
        with as_center(layout, city.code) as (engine, ctx), write_transaction(engine) as conn:
            transfers.lookup_centers(conn, ctx, [c.code for c in CITIES if c.code != city.code])
    for city in CITIES:
        engine = make_engine(layout.database(city.code))
        try:

            def known(engine: Engine = engine) -> bool:
                with read_transaction(engine) as conn:
                    return len(transfers.peers(conn)) == len(CITIES) - 1

            wait_for(known, seconds, f"{city.code} did not learn the other centers")
        finally:
            engine.dispose()


def _reports_delivered(layout: Layout) -> bool:
    """Every center has reported every transfer event and delivered every message (its
    supervision reports among them)."""
    for code in CITY:
        engine = make_engine(layout.database(code))
        try:
            if report_feed.waiting(engine):
                return False
            with read_transaction(engine) as conn:
                if report_feed.undelivered(conn):
                    return False
        finally:
            engine.dispose()
    return True


def live(
    layout: Layout, *, months: int, members: int, seed: int, say: Say, wait_seconds: float = 120
) -> NetworkSummary:
    """Live ``months`` months of the network (the processes running): see the module docstring."""
    rng = random.Random(seed)
    summary = NetworkSummary()
    _look_up_peers(layout, wait_seconds)
    waiting: list[Move] = []
    for month in range(months):
        for n, city in enumerate(CITIES):
            with as_center(layout, city.code) as (engine, _):
                key = supervision.pseudonym_key(layout.settings(city.code))
                lived = simulate(
                    engine, city.code, months=1, seed=seed * 1000 + month * 10 + n, report_key=key
                )
                summary.reports += lived.reports
        with as_center(layout, CITIES[0].code) as (engine, _):
            say(f"第 {month + 1} 个月已模拟，业务日期 {_today(engine)}")
        moves = _new_moves(layout, month, months, rng, members)
        say(f"  迁移 {len(moves)} 人")
        summary.moved += len(moves)
        waiting += moves
        due = _ready([m for m in waiting if m.apply_on_month <= month], layout)
        waiting = [m for m in waiting if m not in due]
        letters = set(_apply(layout, due, summary))
        say(f"  转入申请 {len(letters)} 笔，联系函已发出")
        summary.letters += sorted(letters)
        _settle(layout, letters, summary, say, wait_seconds)
        summary.months += 1
        say(f"  本月申请转移接续 {len(due)} 笔；累计办结 {summary.completed} 笔")
    try:
        wait_for(lambda: _reports_delivered(layout), wait_seconds, "the reports did not reach the hub")
    except TimeoutError as exc:
        say(f"[等待超时] {exc}")
    return summary


# ------------------------------------------------------------------------------ the checks


def run_checks(layout: Layout, say: Say) -> int:
    """Every center's ``hpf check`` and the hub's ``hpf hub reconcile``; how many failed."""
    failed = 0
    runs = [(c.code, ["check"], layout.center_env(c.code)) for c in CITIES]
    runs.append(("hub", ["hub", "reconcile"], layout.hub_env()))
    for name, args, env in runs:
        done = subprocess.run(
            [*hpf_command(), *args],
            env={**os.environ, **env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
        )
        say(f"$ hpf {' '.join(args)}  [{name}] → {done.returncode}")
        for line in (done.stdout + done.stderr).strip().splitlines()[:40]:
            say(f"    {line}")
        failed += done.returncode != 0
    return failed + bool(national_checks(layout, say))


Figures = dict[tuple[str, str], Decimal]


def _sent(layout: Layout) -> dict[str, dict[str, Figures]]:
    """Each center's figures of each reported month as it sent them (the latest version)."""
    sent: dict[str, dict[str, Figures]] = {}
    for code in CITY:
        engine = make_engine(layout.database(code))
        try:
            with read_transaction(engine) as conn:
                sent[code] = {
                    m: supervision.sent_figures(conn, m) for m in sorted(supervision.reported_months(conn))
                }
        finally:
            engine.dispose()
    return sent


def national_checks(layout: Layout, say: Say) -> list[str]:
    """The hub's national and provincial figures of every reported month against the sum of what
    the centers sent (additive indicators; ratios are recomputed, not summed), each center's member
    data set against its own 缴存余额, and the hub's class of every center every month: the
    differences, each said (none: one line of counts)."""
    sent = _sent(layout)
    months = sorted({m for by_month in sent.values() for m in by_month})
    differences: list[str] = [] if months else ["各中心均未向平台报送"]
    for code, by_month in sent.items():
        differences += [f"{m} {code} 中心未报送" for m in months if m not in by_month]
    settings = layout.hub_settings()
    hub = make_engine(settings.database_url)
    try:
        with read_transaction(hub) as conn:
            current = {
                (r.center, r.month)
                for r in hub_warehouse.reports(conn, limit=100_000)
                if r.state == "current"
            }
            files = {m: hub_warehouse.current_files(conn, settings.warehouse_dir, months=[m]) for m in months}
            classed = {code: {h.month: h.grade for h in hub_run.center_history(conn, code)} for code in CITY}
            nation_wide = Supervisor("network-demo", "网络演示", "supervisor", NATION)
            raised = [(p.center, p.month) for p in hub_problems.problems(conn, nation_wide)]
    finally:
        hub.dispose()
    compared = 0
    for month in months:
        own = {code: by_month.get(month, {}) for code, by_month in sent.items()}
        for code in CITY:
            if (code, month) not in current:
                differences.append(f"{month} {code} 平台无现行报送")
            if month not in classed[code]:
                differences.append(f"{month} {code} 平台未对中心分类")
        wh = open_warehouse(settings, files[month])
        try:
            nation = national.month_totals(wh, month)
            provinces = national.province_totals(wh, month)
            members = {str(r[0]): r[2] for r in wh.query(national.member_sums_by_center_sql(month))}
        finally:
            wh.close()
        keys = {k for f in own.values() for k in f if k[0] not in national.RATIO_CODES} | set(nation)
        for code, dim in sorted(keys):
            total = sum((f.get((code, dim), Decimal(0)) for f in own.values()), Decimal(0))
            held = nation.get((code, dim), Decimal(0))
            compared += 1
            if held != total:
                differences.append(
                    f"{month} 全国 {code}{'/' + dim if dim else ''}：平台 {held} ≠ 各中心合计 {total}"
                )
        for province in sorted({c.province for c in CITIES}):
            theirs = [own[c.code] for c in CITIES if c.province == province]
            for code, dim in sorted(keys):
                total = sum((f.get((code, dim), Decimal(0)) for f in theirs), Decimal(0))
                held = provinces.get((province, code, dim), Decimal(0))
                compared += 1
                if held != total:
                    differences.append(
                        f"{month} {province} {code}{'/' + dim if dim else ''}：平台 {held} ≠ 各中心合计 {total}"
                    )
        for code, figures in own.items():
            balance = figures.get((national.DEPOSIT_BALANCE, ""))
            if figures and Decimal(members.get(code) or 0) != balance:
                differences.append(f"{month} {code} 明细缴存余额 {members.get(code)} ≠ 指标 {balance}")
    say(
        f"全国及省级数字核对：{len(months)} 个月、{len(CITY)} 个中心，比对 {compared} 项，差异 {len(differences)} 笔"
    )
    for code in CITY:
        grades = "".join(classed[code].get(m, "-") for m in months)
        say(f"    {code} 各月分类：{grades}；平台发现问题 {sum(c == code for c, _ in raised)} 件")
    for line in differences[:40]:
        say(f"    {line}")
    return differences
