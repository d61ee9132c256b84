"""Faults in a cross-center transfer (issue 14's acceptance): the money arrives once, the carried
history once, both sides end ``completed`` and the ledger checks clean on both centers.

In process, over the centers' and the hub's real HTTP endpoints (``transfer_support``), where
that is enough: every message delivered twice and out of order — the BDC905 before the BDC901
answer, the bank's credit before the BDC905, between and after — on the old center's SQLite and
PostgreSQL; tampered and replayed deliveries refused without effect; the bank's credit taken
while the hub has suspended the old center; an empty account's transfer (no payout number).

As real processes (the last test): the hub and both centers each ``hpf … serve`` on its own port
and SQLite file, the two connected fake banks served on their own ports: the hub killed (SIGKILL)
between each pair of steps and started again, a center down for a long time then back, the bank
timing out after paying (the payment run's answer lost: ``hpf settlement resolve`` finds it
paid), ``hpf check`` clean on both.

The figures are ``test_transfer_end_to_end``'s: 张三's three months at Shenzhen, 576,000 fen,
interest to 15 April 2025 840 fen; 576,840 fen move.
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
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select, update
from transfer_support import MONTHLY_FEN, NEW, OLD, SECRET, TODAY, Network, make_network, populate, two_cities

from hpf.accounts import service as accounts
from hpf.contributions.queries import member_posted_months
from hpf.db.calendar import set_business_date
from hpf.db.engine import read_transaction, write_transaction
from hpf.hub.tables import hub_center, hub_message
from hpf.ledger.tables import journal_entry
from hpf.messages import protocol
from hpf.messages.envelope import CenterInfo
from hpf.services import service as applications
from hpf.settlement.fakebank import FakeBank, create_fake_bank
from hpf.transfers import process
from hpf.transfers import service as transfers
from hpf.transfers.tables import exchanged_message
from hub_support import HUB_CODE, HUB_KEYS

pytestmark = pytest.mark.slow

PRINCIPAL = 3 * MONTHLY_FEN  # 576,000 fen
INTEREST = 840
AMOUNT = PRINCIPAL + INTEREST
MONTHS = ["2025-01", "2025-02", "2025-03"]
Delivery = tuple[str, dict[str, Any]]


def apply(net: Network) -> applications.Application:
    new, old = net.centers[NEW], net.centers[OLD]
    payload = {
        "from_center": OLD,
        "old_account_no": old.members["zhang"].account_no,
        "old_employer_name": "深圳某公司",
    }
    with new.write() as conn:
        return applications.submit(
            conn, new.ctx, new.people["zhang"], "AC-TRANSFER-IN", payload, complete=True
        )


def only_transfer(center: Any) -> process.Transfer:
    with center.read() as conn:
        found = process.listing(conn, TODAY)
    assert len(found) == 1
    return found[0]


@contextmanager
def held(net: Network) -> Iterator[list[Delivery]]:
    """The hub's deliveries to centers kept (the hub takes them as delivered) for the block."""
    kept: list[Delivery] = []
    net.held["list"] = kept
    try:
        yield kept
    finally:
        net.held["list"] = None


def run_held(net: Network) -> list[Delivery]:
    """One delivery round everywhere; what the hub would have delivered to the centers."""
    with held(net) as kept:
        net.run()
    return kept


def of_type(net: Network, kept: list[Delivery], message_type: str, *, answer: bool) -> Delivery:
    (found,) = [
        (url, payload)
        for url, payload in kept
        if payload["envelope"]["type"] == message_type
        and (payload["envelope"].get("reply_to") is not None) == answer
    ]
    return found


def twice(net: Network, delivery: Delivery) -> None:
    """Handed over twice: taken the first time, a duplicate the second."""
    first, second = net.hand(*delivery), net.hand(*delivery)
    assert first[0] == 200 and first[1]["status"] == "accepted", first
    assert second[0] == 200 and second[1]["status"] == "duplicate", second


def credit_twice(net: Network) -> None:
    """The new center's bank notice of the money (the payment run has paid) applied twice."""
    new = net.centers[NEW]
    notices = list(new.fake.outbox)
    assert len(notices) == 1
    new.fake.outbox.extend(notices)  # the bank sends its notice a second time
    outcomes = new.take_bank_notices()
    assert outcomes[0] == "unmatched" and len(outcomes) == 2


def posted_in(center: Any) -> int:
    """Ledger entries of business type 08 外部转入 at ``center``."""
    with center.read() as conn:
        return int(
            conn.scalar(
                select(func.count()).select_from(journal_entry).where(journal_entry.c.business_type == "08")
            )
            or 0
        )


def assert_arrived_once(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    assert (old.balance("zhang"), new.balance("zhang")) == (0, AMOUNT)
    assert new.fake.balance_fen == new.fake.opening_fen + AMOUNT
    assert old.fake.balance_fen == old.fake.opening_fen - AMOUNT
    assert posted_in(new) == 1
    with new.read() as conn:
        assert sorted(member_posted_months(conn, new.members["zhang"].id)) == MONTHS
    assert only_transfer(new).state == "completed" and only_transfer(old).state == "completed"
    assert old.check() == [] and new.check() == []


@pytest.fixture
def net(tmp_path: Path, engine: Any) -> Network:
    """The old center on each engine (SQLite, then PostgreSQL), the new on SQLite."""
    return two_cities(tmp_path, engine)


@pytest.mark.parametrize("credit_at", ["before_905", "between", "after_all"])
def test_every_message_twice_and_out_of_order(net: Network, credit_at: str) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    for center in (new, old):  # each center's sending to the hub made twice (a lost acknowledgement)
        post = center.post

        def again(url: str, payload: dict[str, Any], post: Any = post) -> tuple[int, dict[str, Any]]:
            post(url, payload)
            return post(url, payload)  # type: ignore[no-any-return]

        center.post = again
    submitted = apply(net)
    letter = of_type(net, run_held(net), "BDC901", answer=False)
    twice(net, letter)
    assert only_transfer(old).state == "received"
    with old.write() as conn:
        process.approve(conn, old.ctx, only_transfer(old).id)
    kept = run_held(net)
    answer, info = of_type(net, kept, "BDC901", answer=True), of_type(net, kept, "BDC905", answer=False)
    if credit_at == "before_905":
        assert old.pay() == {"paid": 1}
        credit_twice(net)
        assert new.balance("zhang") == 0  # the money waits, unclaimed, for its BDC905
    twice(net, info)  # the BDC905 before the BDC901's answer
    if credit_at == "between":
        assert only_transfer(new).state == "info_received"
        assert old.pay() == {"paid": 1}
        credit_twice(net)
    twice(net, answer)  # the answer (08) late: the transfer has moved on, nothing changes
    if credit_at == "after_all":
        assert only_transfer(new).state == "info_received" and new.balance("zhang") == 0
        assert old.pay() == {"paid": 1}
        credit_twice(net)
    assert only_transfer(new).state == "completed"
    done = of_type(net, run_held(net), "BDC905", answer=True)
    twice(net, done)
    assert old.pay() == {}  # nothing left to pay: the payout went once
    for delivery in [letter, answer, info, done]:  # and once more, all of them, in reverse
        assert net.hand(*delivery)[1]["status"] == "duplicate"
    assert_arrived_once(net)
    with new.read() as conn:
        assert applications.get(conn, submitted.id).state == "executed"


def test_tampered_and_replayed_deliveries_are_refused_without_effect(tmp_path: Path) -> None:
    net = two_cities(tmp_path)
    new, old = net.centers[NEW], net.centers[OLD]
    apply(net)
    letter = of_type(net, run_held(net), "BDC901", answer=False)
    url, payload = letter

    def refused(changed: dict[str, Any], status: int, code: str) -> None:
        got = net.hand(url, changed)
        assert (got[0], got[1].get("code")) == (status, code), got
        with old.read() as conn:
            assert process.listing(conn, TODAY) == []  # no effect
            assert conn.scalar(select(func.count()).select_from(exchanged_message).where(
                exchanged_message.c.direction == "in", exchanged_message.c.type == "BDC901")) == 0  # fmt: skip

    # the hop's signature changed
    bad = _copy(payload)
    signature = bad["hop"]["signature"]
    bad["hop"]["signature"] = signature[:-6] + ("AAAAAA" if not signature.endswith("AAAAAA") else "BBBBBB")
    refused(bad, 401, "message.bad_signature")
    # the body swapped for another sealed body (the BDC909 answer's, as the hub sent it to B):
    # under the hub's hop as it was, and under a hop the hub signed anew
    other = next(p for u, p in net.log if p["envelope"]["type"] == "BDC909" and u.startswith(f"http://{OLD}"))
    swapped = _copy(payload)
    swapped["envelope"]["body"] = other["envelope"]["body"]
    refused(swapped, 401, "message.bad_signature")
    envelope = protocol.envelope_of(swapped["envelope"])
    rehopped = protocol.hop(HUB_KEYS, HUB_CODE, envelope, datetime.now(UTC), sender=_sender(payload))
    refused(rehopped.model_dump(mode="json"), 401, "message.bad_signature")
    # the envelope's recipient changed (the hub's hop re-signed: only the originator's signature fails)
    moved = protocol.envelope_of(payload["envelope"]).model_copy(update={"recipient": OLD, "type": "BDC904"})
    rehopped = protocol.hop(HUB_KEYS, HUB_CODE, moved, datetime.now(UTC), sender=_sender(payload))
    refused(rehopped.model_dump(mode="json"), 401, "message.bad_signature")
    # an old hop replayed outside the window (the hub's own signature, ten minutes old)
    late = protocol.hop(
        HUB_KEYS, HUB_CODE, protocol.envelope_of(payload["envelope"]), datetime.now(UTC) - timedelta(minutes=10),
        sender=_sender(payload),
    )  # fmt: skip
    refused(late.model_dump(mode="json"), 401, "message.outside_window")
    # the real delivery is taken once; replayed within the window it is a duplicate, no second effect
    twice(net, letter)
    assert only_transfer(old).state == "received"
    # a replay of the taken letter outside the window is refused before anything is read
    got = net.hand(url, late.model_dump(mode="json"))
    assert got[1]["code"] == "message.outside_window"
    assert only_transfer(old).state == "received"
    with old.read() as conn:
        assert [m.type for m in process.timeline(conn, only_transfer(old).letter_no)] == ["BDC901"]
    assert new.check() == [] and old.check() == []


def _copy(payload: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(payload)


def _sender(payload: dict[str, Any]) -> CenterInfo:
    return CenterInfo(**payload["hop"]["sender"])


# ------------------------------------------------------------------------------ real processes

HPF = str(Path(sys.executable).with_name("hpf"))
FAST = {"HPF_ENV": "development", "HPF_DELIVER_EVERY_SECONDS": "0.1", "HPF_DELIVER_BACKOFF_SECONDS": "0.1"}
HOLD = {"HPF_DELIVER_EVERY_SECONDS": "3600"}  # a hub that takes messages but does not forward them yet


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class Served:
    """``hpf ARGS`` in its own process; killed with SIGKILL (a crash) or stopped at the end."""

    def __init__(self, args: list[str], env: dict[str, str], probe: str, log: Path) -> None:
        self.args, self.env, self.probe, self.log = args, env, probe, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **extra: str) -> Served:
        assert self.process is None or self.process.poll() is not None
        with self.log.open("ab") as log:  # what it says, for a failure's diagnosis
            self.process = subprocess.Popen(
                [HPF, *self.args], env={**os.environ, **self.env, **extra}, stdout=log, stderr=log
            )
        _wait(lambda: _answers(self.probe), 60, f"{self.args} did not start")
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def _serve_bank(running: ExitStack, bank: FakeBank, port: int, notify_url: str | None) -> None:
    """A fake bank served over HTTP on ``port`` by a thread of this process (so that two banks
    share their connected accounts), sending its notices to ``notify_url``."""
    server = uvicorn.Server(
        uvicorn.Config(create_fake_bank(bank, notify_url=notify_url), host="127.0.0.1", port=port,
                       log_level="warning")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait(lambda: server.started, 30, "the fake bank did not start")

    def stop() -> None:
        server.should_exit = True
        thread.join(30)

    running.callback(stop)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HPF, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def test_real_processes_hub_killed_between_steps_a_center_down_and_the_bank_timing_out(
    tmp_path: Path,
) -> None:
    net = two_cities(tmp_path)  # both centers' data, keys and the hub's registry, then served below
    new, old = net.centers[NEW], net.centers[OLD]
    ports = {name: _free_port() for name in ("hub", NEW, OLD, "bank-new", "bank-old")}
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    with write_transaction(net.hub.engine) as conn:  # the centers now answer on real ports
        for code in (NEW, OLD):
            conn.execute(update(hub_center).where(hub_center.c.code == code).values(endpoint=base[code]))
    for center in (new, old):  # every process of a center on the same business day
        with write_transaction(center.engine) as conn:
            set_business_date(conn, TODAY)
    HUB_KEYS.write(tmp_path / "hub-keys.json")
    public = HUB_KEYS.public()
    env: dict[str, dict[str, str]] = {
        "hub": {
            **FAST, "HPF_DATABASE_URL": f"sqlite:///{tmp_path}/hub.sqlite3",
            "HPF_MESSAGE_KEY_FILE": str(tmp_path / "hub-keys.json"), "HPF_HUB_CODE": HUB_CODE,
        }
    }  # fmt: skip
    for code, center, bank in ((NEW, new, "bank-new"), (OLD, old, "bank-old")):
        env[code] = {
            **FAST, "HPF_DATABASE_URL": f"sqlite:///{tmp_path}/{code}.sqlite3", "HPF_CENTER_CODE": code,
            "HPF_CENTER_NAME": center.name, "HPF_HUB_URL": base["hub"], "HPF_HUB_CODE": HUB_CODE,
            "HPF_HUB_PUBLIC_KEYS": f"{public.sign}:{public.encrypt}",
            "HPF_MESSAGE_KEY_FILE": str(tmp_path / f"{code}-keys.json"), "HPF_BANK_URL": base[bank],
            "HPF_BANK_ACCOUNT": center.fake.center_account, "HPF_BANK_SECRET": SECRET.decode(),
            "HPF_BANK_TIMEOUT": "1",
        }  # fmt: skip
    # The two centers' accounts at one (fake) bank, each served on its port: the new center's
    # notices pushed to it; the old center's bank only answers (so the payout's fate is learnt
    # by asking it: ``hpf settlement resolve``). A timeout answers after 2 s; the center waits 1 s.
    banks = {
        code: FakeBank(center_account=c.fake.center_account, center_name=c.name, secret=SECRET, today=TODAY,
                       delay=2.0)
        for code, c in ((NEW, new), (OLD, old))
    }  # fmt: skip
    banks[NEW].connect(banks[OLD])

    def hub_messages(**where: str) -> list[Any]:
        with read_transaction(net.hub.engine) as conn:
            query = select(hub_message)
            for name, value in where.items():
                query = query.where(hub_message.c[name] == value)
            return list(conn.execute(query).all())

    def state(center: Any) -> str | None:
        with center.read() as conn:
            found = process.listing(conn, TODAY)
        return found[0].state if found else None

    def out_message(center: Any, message_type: str) -> Any:
        with center.read() as conn:
            return conn.execute(
                select(exchanged_message).where(
                    exchanged_message.c.direction == "out", exchanged_message.c.type == message_type
                )
            ).first()

    with ExitStack() as running:
        _serve_bank(running, banks[NEW], ports["bank-new"], base[NEW] + "/api/v1/settlement/notices")
        _serve_bank(running, banks[OLD], ports["bank-old"], None)
        hub = Served(
            ["hub", "serve", "--port", str(ports["hub"])],
            env["hub"],
            base["hub"] + "/login",
            tmp_path / "hub.log",
        )
        centers = {
            code: Served(
                ["serve", "--port", str(ports[code])],
                env[code],
                base[code] + "/login",
                tmp_path / f"{code}.log",
            )
            for code in (NEW, OLD)
        }
        for served in (hub, *centers.values()):
            running.callback(served.stop)
        hub.start(**HOLD)
        for served in centers.values():
            served.start()

        # 1. The member applies at Hangzhou; the letter (BDC901) reaches the hub, which holds it.
        submitted = apply(net)
        # (a holding hub's first round, at its start, may race a message in: "taken" is any state)
        _wait(lambda: hub_messages(type="BDC901"), 30, "the hub did not take the letter")
        # The hub is killed after taking the letter; Shenzhen goes down too, for a long time.
        hub.kill()
        centers[OLD].kill()
        hub.start()  # delivering now: Shenzhen does not answer, the hub retries with backoff
        _wait(lambda: hub_messages(type="BDC901")[0].attempts >= 4, 60, "no retries")
        assert hub_messages(type="BDC901")[0].last_error.startswith("0 ")  # unreachable
        centers[OLD].start()  # back: the letter is delivered after all
        _wait(lambda: state(old) == "received", 60, "the letter did not reach Shenzhen")
        _wait(lambda: hub_messages(type="BDC901", state="delivered"), 30, "the hub did not record it")

        # 2. The hub killed after forwarding the letter, before the answer: Shenzhen approves
        # meanwhile; its answer and the BDC905 wait in its outbox, retried.
        hub.kill()
        with old.write() as conn:
            approved = process.approve(conn, old.ctx, only_transfer(old).id)
        assert (approved.amount_fen, approved.interest_fen) == (AMOUNT, INTEREST)
        _wait(lambda: (m := out_message(old, "BDC905")) and m.attempts >= 2, 30, "Shenzhen did not retry")
        # 3. Up again, holding: the hub takes the answer and the BDC905 — and is killed again.
        hub.start(**HOLD)
        _wait(lambda: len(hub_messages(sender=OLD, recipient=NEW)) == 2, 30, "the hub did not take both")
        hub.kill()
        hub.start()
        _wait(lambda: state(new) == "info_received", 60, "the BDC905 did not reach Hangzhou")

        # 4. Hangzhou goes down; the payment run at Shenzhen: the bank pays but its answer times out.
        centers[NEW].kill()
        banks[OLD].arm("timeout")
        paid = _cli(["settlement", "pay"], env[OLD])
        assert paid.returncode == 0, paid.stdout + paid.stderr
        assert "paid" not in paid.stdout  # the outcome is not known at Shenzhen
        assert banks[NEW].balance_fen == banks[NEW].opening_fen + AMOUNT  # the money is at Hangzhou's bank
        again = _cli(["settlement", "pay"], env[OLD])  # the payment run again: nothing is sent twice
        assert again.returncode == 0 and banks[OLD].balance_fen == banks[OLD].opening_fen - AMOUNT
        assert len(banks[OLD].transfers) == 1
        # 5. The hub killed after taking Hangzhou's answer (BDC905 00), before forwarding it.
        hub.kill()
        hub.start(**HOLD)
        centers[NEW].start()  # back: the bank's notice (retried meanwhile) meets the BDC905
        _wait(lambda: state(new) == "completed", 60, "Hangzhou did not credit the member")
        _wait(lambda: hub_messages(type="BDC905", recipient=OLD), 30, "no answer at the hub")
        hub.kill()
        hub.start()
        _wait(lambda: state(old) == "completed", 60, "Shenzhen did not learn the completion")
        # 6. ``hpf settlement resolve`` asks the bank: paid.
        resolved = _cli(["settlement", "resolve"], env[OLD])
        assert resolved.returncode == 0 and "paid: 1" in resolved.stdout, resolved.stdout + resolved.stderr
        for code in (NEW, OLD):
            checked = _cli(["check"], env[code])
            assert checked.returncode == 0 and "ledger OK" in checked.stdout, checked.stdout + checked.stderr

    # The money arrived once, the history once, both sides completed.
    assert (old.balance("zhang"), new.balance("zhang")) == (0, AMOUNT)
    assert banks[NEW].balance_fen == banks[NEW].opening_fen + AMOUNT
    assert banks[OLD].balance_fen == banks[OLD].opening_fen - AMOUNT
    assert posted_in(new) == 1
    with new.read() as conn:
        assert sorted(member_posted_months(conn, new.members["zhang"].id)) == MONTHS
        assert applications.get(conn, submitted.id).state == "executed"
    assert old.check() == [] and new.check() == []
    with read_transaction(net.hub.engine) as conn:  # each message taken once at the hub
        kinds = conn.execute(select(hub_message.c.type, func.count()).group_by(hub_message.c.type)).all()
    counted = {str(t): int(n) for t, n in kinds}
    assert counted["BDC901"] == 2 and counted["BDC905"] == 2  # letter + answer, info + answer


def test_the_bank_credit_is_taken_while_the_old_center_is_suspended(tmp_path: Path) -> None:
    """The hub suspends the old center after the BDC905: the money that then arrives is still
    credited once (the bank's notice must not fail: the bank would send it forever); the answer
    waits in the outbox like any message, and the hub refuses it while the center is suspended."""
    net = two_cities(tmp_path)
    new, old = net.centers[NEW], net.centers[OLD]
    apply(net)
    net.run()
    with old.write() as conn:
        process.approve(conn, old.ctx, only_transfer(old).id)
    net.run()
    assert only_transfer(new).state == "info_received"
    net.hub.suspend(OLD)
    with new.write() as conn:  # Hangzhou learns it from the hub (BDC909)
        transfers.lookup_centers(conn, new.ctx, [OLD])
    net.run()
    with new.read() as conn:
        assert transfers.peers(conn)[OLD] == "suspended"
    assert old.pay() == {"paid": 1}
    assert new.take_bank_notices() == ["unmatched"]
    assert only_transfer(new).state == "completed" and new.balance("zhang") == AMOUNT
    assert posted_in(new) == 1 and new.check() == []
    net.run()
    with new.read() as conn:
        (answer,) = [m for m in transfers.messages(conn, direction="out") if m.type == "BDC905"]
    assert answer.state == "refused" and "message.recipient_suspended" in (answer.last_error or "")
    assert only_transfer(old).state == "transferred"  # it learns the end once it is active again


def test_an_empty_account_moves_its_history_with_no_payout_number(tmp_path: Path) -> None:
    """Nothing to pay: the history moves alone, and neither side keeps a made-up payout number
    (``transfer.order_no`` is unique per side, as the credit is matched by it)."""
    net = make_network(tmp_path, TODAY, {NEW: "杭州住房公积金管理中心", OLD: "深圳市住房公积金管理中心"})
    new, old = net.centers[NEW], net.centers[OLD]
    populate(old, date(2025, 1, 2), (), TODAY, seq=1)  # an account, nothing deposited
    populate(new, date(2025, 4, 1), (), TODAY, seq=2)
    with old.write() as conn:
        accounts.seal_member(conn, old.ctx, old.members["zhang"].account_no, "离职封存")
    apply(net)
    net.run()
    with old.write() as conn:
        done = process.approve(conn, old.ctx, only_transfer(old).id)
    assert (done.amount_fen, done.order_no) == (0, None)
    net.run()
    at_new = only_transfer(new)
    assert (at_new.state, at_new.amount_fen, at_new.order_no) == ("completed", 0, None)
    net.run()
    assert only_transfer(old).state == "completed"
    assert old.pay() == {} and new.balance("zhang") == 0
    assert old.check() == [] and new.check() == []
