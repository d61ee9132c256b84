"""Two centers and a hub in one process for transfer tests: each center its own SQLite file, its
own application (its real message endpoint over the test client) and its own fake bank; the two
banks connected, so that a payment to the other center's fund account credits it.

Every center's process has one hub link installed globally (``hpf.transfers.link``); here two
centers share a process, so each action runs with its center's link installed (``Center.use``),
and so does each delivery the hub makes to a center.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

from factories import employer_payload, member_payload
from hpf import bootstrap
from hpf.access.permissions import Principal, Role
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.accounts.service import Member
from hpf.app import create_app
from hpf.check import check_center
from hpf.contributions import service as contributions
from hpf.contributions.rules import Kind, ListRow
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger import service as ledger
from hpf.messages.keys import KeyPair
from hpf.messages.transport import PATH
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.settlement import service as settlement
from hpf.settlement.fakebank import FakeBank, in_process
from hpf.transfers import link as hub_link
from hpf.transfers import service as transfers
from hub_support import HUB_CODE, HUB_KEYS, InProcessHub, make_hub
from signing_in import FAST_PASSWORDS, PASSWORD

SECRET = b"transfer-tests-shared-bank-key-0123456789"
BASE_FEN = 800_000
PART_FEN = (BASE_FEN * 12 + 50) // 100  # 12% of 8,000.00 yuan: 960.00 yuan
MONTHLY_FEN = 2 * PART_FEN  # employer + member: 1,920.00 yuan


@dataclass
class Center:
    code: str
    name: str
    engine: Engine
    clock: FixedClock
    app: Any
    client: TestClient
    fake: FakeBank
    bank: Any
    ctx: Context
    people: dict[str, Principal] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)

    @contextmanager
    def use(self) -> Iterator[None]:
        """This center's hub link installed (the process-wide one) for the block."""
        hub_link.install(self.app.state.hub_link, bootstrap.message_handlers())
        yield

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.use(), write_transaction(self.engine) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with read_transaction(self.engine) as conn:
            yield conn

    def deliver(self) -> transfers.Round:
        with self.use():
            return transfers.deliver_due(self.engine, self.ctx, self.post)

    post: Any = None  # to the hub

    def take_bank_notices(self) -> list[str]:
        """Apply every SBDC100 notice the bank holds for this center; their outcomes."""
        outcomes = []
        while self.fake.outbox:
            notice = self.fake.outbox.popleft()
            with self.write() as conn:
                outcomes.append(settlement.apply_notice(conn, self.ctx, notice).outcome)
        return outcomes

    def pay(self) -> dict[str, int]:
        with self.use():
            return settlement.send_reserved(self.engine, self.ctx, self.bank)

    def balance(self, member: str) -> int:
        with self.read() as conn:
            return sum(ledger.member_balances(conn, [self.members[member].id])[self.members[member].id])

    def check(self) -> list[Any]:
        with self.read() as conn:
            return [f for f in check_center(conn) if not f.passed]


def _rows(members: list[Member]) -> list[ListRow]:
    return [ListRow(n, m.account_no, m.name, BASE_FEN, PART_FEN, PART_FEN) for n, m in enumerate(members, 1)]


def populate(center: Center, opened: date, months: tuple[str, ...], today: date, *, seq: int) -> None:
    """An employer that opened ``opened`` and 张三 (resident ID of ``make_resident_id(1)``: the
    same person at every center) with the lists of ``months`` remitted on the 10th of the next
    month; a teller and a reviewer."""
    clock, ctx = center.clock, center.ctx
    clock.set(opened)
    with center.write() as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(seq, contact_phone="13800138001"))
        zhang = accounts.open_member(
            conn, ctx, emp.account_no, member_payload(1, name="张三", base_fen=BASE_FEN)
        )
        center.people["zhang"] = identity.create_member_login(
            conn, ctx, zhang.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
        )
        for login, role in (("teller01", Role.TELLER), ("reviewer01", Role.REVIEWER)):
            center.people[login] = identity.create_staff(
                conn, ctx, login, login, [role], PASSWORD, passwords=FAST_PASSWORDS
            )
    for month in months:
        year, mm = int(month[:4]), int(month[5:])
        clock.set(date(year + mm // 12, mm % 12 + 1, 10))
        with center.write() as conn:
            rem = contributions.submit_list(
                conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month=month, rows=_rows([zhang]),
                source="api", idempotency_key=f"e-{month}",
            )  # fmt: skip
            contributions.record_receipt(
                conn, ctx, emp.account_no, rem.total_fen, f"BANK-{month}", clock.today()
            )
            contributions.allocate(conn, ctx, rem.id)
    clock.set(today)
    with center.read() as conn:
        center.members["zhang"] = accounts.get_member(conn, zhang.account_no)
    center.members["employer"] = emp  # type: ignore[assignment]


@dataclass
class Network:
    hub: InProcessHub
    centers: dict[str, Center]
    log: list[tuple[str, dict[str, Any]]]
    # while a list: the hub's deliveries to centers are kept here (and taken as delivered), for
    # a test to hand them over itself, in any order and any number of times (``hand``)
    held: dict[str, list[tuple[str, dict[str, Any]]] | None] = field(default_factory=lambda: {"list": None})

    def hand(self, url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One delivery the hub made, handed to its center's real endpoint."""
        center = self.centers[url.split("//")[1][:6]]
        with center.use():
            response = center.client.post(PATH, json=payload)
        return response.status_code, response.json()

    def run(self, rounds: int = 4) -> None:
        """Deliver everything queued, both ways, until nothing moves."""
        for _ in range(rounds):
            moved = sum(c.deliver().attempted for c in self.centers.values())
            moved += self.hub.deliver().attempted
            if not moved:
                return


def make_network(
    tmp: Path, today: date, codes: dict[str, str], engines: dict[str, Engine] | None = None
) -> Network:
    """A hub and one center per ``{code: name}``, registered, each knowing the others (BDC909);
    a center's database is a SQLite file unless ``engines`` gives one (migrated)."""
    centers: dict[str, Center] = {}
    log: list[tuple[str, dict[str, Any]]] = []
    held: dict[str, list[tuple[str, dict[str, Any]]] | None] = {"list": None}

    def to_centers(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        log.append((url, payload))
        if held["list"] is not None:
            held["list"].append((url, payload))
            return 200, {"status": "accepted"}
        for center in centers.values():
            if url == f"http://{center.code}.test{PATH}":
                with center.use():
                    response = center.client.post(PATH, json=payload)
                return response.status_code, response.json()
        return 0, {"code": "transport.unreachable"}

    hub = make_hub(tmp, post=to_centers)
    public = HUB_KEYS.public()
    fakes: list[FakeBank] = []
    for n, (code, name) in enumerate(codes.items()):
        keys = KeyPair.generate()
        keys.write(tmp / f"{code}-keys.json")
        hub.register(code, keys, f"http://{code}.test", name=name)
        account = f"95588000000000{n + 1:04d}"
        settings = Settings(
            database_url=f"sqlite:///{tmp}/{code}.sqlite3", env="development", center_code=code, center_name=name,
            bank_account=account, hub_url="http://hub.test", hub_code=HUB_CODE,
            hub_public_keys=f"{public.sign}:{public.encrypt}", message_key_file=str(tmp / f"{code}-keys.json"),
        )  # fmt: skip
        engine = (engines or {}).get(code)
        if engine is None:
            engine = make_engine(settings.database_url)
            upgrade(engine)
        clock = FixedClock(today)
        fake = FakeBank(center_account=account, center_name=name, secret=SECRET, today=today)
        bank = in_process(fake, center_code=code, secret=SECRET, base_url=f"http://bank-{code}")
        app = create_app(settings, engine=engine, clock=clock, bank=bank, deliver_messages=False)
        ctx = Context(actor=f"staff-{code}", clock=clock, center_code=code, source="test")
        center = Center(code, name, engine, clock, app, TestClient(app), fake, bank, ctx)

        def post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            response = hub.client.post(PATH, json=payload)
            return response.status_code, response.json()

        center.post = post
        centers[code] = center
        for other in fakes:
            other.connect(fake)
        fakes.append(fake)
    network = Network(hub, centers, log, held)
    for center in centers.values():
        with center.write() as conn:
            transfers.lookup_centers(conn, center.ctx, [c for c in centers if c != center.code])
    network.run()
    return network


NEW, OLD = "330100", "440300"
TODAY = date(2025, 4, 15)


def two_cities(tmp: Path, old_engine: Engine | None = None) -> Network:
    """Hangzhou (new) and Shenzhen (old): 张三 deposited January–March 2025 at Shenzhen, whose
    account is sealed, and opened an account at Hangzhou on 1 April 2025; today 15 April.
    Shenzhen's database is ``old_engine`` when given (PostgreSQL), else a SQLite file."""
    network = make_network(
        tmp, TODAY, {NEW: "杭州住房公积金管理中心", OLD: "深圳市住房公积金管理中心"},
        {OLD: old_engine} if old_engine is not None else None,
    )  # fmt: skip
    old, new = network.centers[OLD], network.centers[NEW]
    populate(old, date(2025, 1, 2), ("2025-01", "2025-02", "2025-03"), TODAY, seq=1)
    populate(new, date(2025, 4, 1), (), TODAY, seq=2)
    with old.write() as conn:
        accounts.seal_member(conn, old.ctx, old.members["zhang"].account_no, "离职封存")
    return network
