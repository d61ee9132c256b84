"""A transfer whose other center is suspended (decision 0043).

The hub refuses a message for a suspended center (``message.recipient_suspended``); the outbox
marks it refused and records ``hub_message.refused``. The transfer that waited on it — the new
center's letter sent, the old center's money transferred — is held (``peer_suspended``, 对方中心已
暂停) instead of waiting for ever, staff and member see why, and once the center is back a
reviewer sends it again (the same messages): the transfer goes on as if nothing happened. At the
new center it may be cancelled instead, at once (the letter never reached the old center).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from test_transfer_end_to_end import AMOUNT, apply, only_transfer
from transfer_support import NEW, OLD, Network, two_cities

from hpf.access.permissions import Role
from hpf.db.engine import write_transaction
from hpf.hub import registry
from hpf.services import service as applications
from hpf.transfers import process
from hpf.transfers.tables import exchanged_message
from signing_in import add_staff, use_session


@pytest.fixture
def net(tmp_path) -> Network:
    return two_cities(tmp_path)


def set_state(net: Network, code: str, state: str) -> None:
    with write_transaction(net.hub.engine) as conn:
        registry.set_state(conn, code, state, actor="hub-ops", now=datetime.now(UTC))


def messages(center, letter_no: str) -> list[tuple[str, str, str]]:
    m = exchanged_message.c
    with center.read() as conn:
        rows = conn.execute(
            select(m.type, m.direction, m.state).where(m.letter_no == letter_no).order_by(m.created_at)
        ).all()
    return [tuple(r) for r in rows]


def test_a_letter_to_a_suspended_center_is_held_then_sent_again_when_it_is_back(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    set_state(net, OLD, "suspended")
    submitted = apply(net)
    letter_no = submitted.outputs["letter_no"]
    net.run()  # the hub refuses the letter: Shenzhen is suspended

    held = only_transfer(new)
    assert (held.state, held.platform_status, held.reason) == (
        "peer_suspended", "01", "对方中心已暂停，联系函未能送达",
    )  # fmt: skip
    assert held.state_zh == "对方中心已暂停，待恢复后重新发送"
    assert messages(new, letter_no) == [("BDC901", "out", "refused")]
    with old.read() as conn:
        assert process.listing(conn, held.started_on) == []  # nothing arrived

    # staff see why and may send it again; the member sees why and may cancel, not resend
    reviewer = add_staff(new.app, "newreviewer", [Role.REVIEWER])
    with new.use():
        use_session(new.client, reviewer)
        page = new.client.get(f"/transfers/{held.id}").text
        assert 'id="peer-suspended"' in page and "转出地中心（深圳市住房公积金管理中心）已暂停" in page
        assert 'id="resend-form"' in page and "被拒收" in page
        new.client.cookies.clear()
        use_session(new.client, new.people["zhang"])
        mine = new.client.get("/transfers")
        assert "对方中心已暂停，待恢复后重新发送" in mine.text
        own = new.client.get(f"/transfers/{held.id}").text
        assert "联系函未能送达" in own and 'id="cancel-form"' in own and 'id="resend-form"' not in own
        assert new.client.post(f"/transfers/{held.id}/resend", follow_redirects=False).status_code == 403

    # sent again while still suspended: refused again, held again
    with new.write() as conn:
        assert process.resend(conn, new.ctx, held.id).state == "letter_sent"
    net.run()
    assert only_transfer(new).state == "peer_suspended"

    # back: the reviewer sends it again on the page, and the transfer goes on to the end
    set_state(net, OLD, "active")
    with new.use():
        new.client.cookies.clear()
        use_session(new.client, reviewer)
        done = new.client.post(f"/transfers/{held.id}/resend", follow_redirects=False)
        assert done.status_code == 303, done.text
        again = new.client.post(f"/transfers/{held.id}/resend", follow_redirects=False)
        assert again.status_code == 409 and "无需重新发送" in again.text  # not held any more
    assert only_transfer(new).state == "letter_sent"
    net.run()
    received = only_transfer(old)
    assert (received.letter_no, received.state) == (letter_no, "received")
    with old.write() as conn:
        process.approve(conn, old.ctx, received.id)
    net.run()
    old.pay()
    assert new.take_bank_notices() == ["unmatched"]
    assert only_transfer(new).state == "completed" and new.balance("zhang") == AMOUNT
    net.run()
    assert only_transfer(old).state == "completed"
    assert [t for t, d, _ in messages(new, letter_no) if d == "out"].count("BDC901") == 1  # the same letter
    assert old.check() == [] and new.check() == []


def test_a_held_letter_may_be_cancelled_at_once(net: Network) -> None:
    new, _ = net.centers[NEW], net.centers[OLD]
    set_state(net, OLD, "suspended")
    submitted = apply(net)
    net.run()
    held = only_transfer(new)
    assert held.state == "peer_suspended"
    with new.write() as conn:
        cancelled = process.cancel(conn, new.ctx, held.id, "不再转移")
    assert (cancelled.state, cancelled.reason) == ("cancelled", "不再转移")
    with new.read() as conn:
        application = applications.get(conn, submitted.id)
    assert application.state == "failed"
    assert [t for t, _, _ in messages(new, held.letter_no)] == ["BDC901"]  # no BDC903: nobody to ask


def test_transfer_out_information_to_a_suspended_new_center_is_held_and_sent_again(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    apply(net)
    net.run()
    received = only_transfer(old)
    set_state(net, NEW, "suspended")  # Hangzhou is suspended before Shenzhen's answer goes
    with old.write() as conn:
        process.approve(conn, old.ctx, received.id)
    net.run()
    held = only_transfer(old)
    assert (held.state, held.platform_status, held.reason) == (
        "peer_suspended", "08", "对方中心已暂停，转出信息未能送达",
    )  # fmt: skip
    assert sorted(t for t, _, s in messages(old, held.letter_no) if s == "refused") == ["BDC901", "BDC905"]
    reviewer = add_staff(old.app, "oldreviewer", [Role.REVIEWER])
    with old.use():
        use_session(old.client, reviewer)
        page = old.client.get(f"/transfers/{held.id}").text
        assert "转入地中心（杭州住房公积金管理中心）已暂停" in page and "资金已划出" in page
        assert 'id="cancel-form"' not in page
    assert old.pay() == {"paid": 1}  # the money goes all the same: it waits at Hangzhou's bank
    set_state(net, NEW, "active")
    with old.write() as conn:
        assert process.resend(conn, old.ctx, held.id).state == "transferred"
    net.run()
    assert only_transfer(new).state == "info_received"
    assert new.take_bank_notices() == ["unmatched"]
    assert only_transfer(new).state == "completed" and new.balance("zhang") == AMOUNT
    net.run()
    assert only_transfer(old).state == "completed"
    assert old.check() == [] and new.check() == []
    assert re.fullmatch(rf"{NEW}\d{{10}}", held.letter_no)


def test_a_batch_refused_for_a_suspended_center_holds_each_of_its_transfers(net: Network) -> None:
    """With batches on (decision 0036) the hub refuses the BDC902 that carries the letter: the
    letter's transfer is held all the same, and sent again as an item of the next batch."""
    import dataclasses

    new, old = net.centers[NEW], net.centers[OLD]
    for center in (new, old):
        center.app.state.hub_link = dataclasses.replace(center.app.state.hub_link, batch_max=500)
    set_state(net, OLD, "suspended")
    letter_no = apply(net).outputs["letter_no"]
    net.run()
    held = only_transfer(new)
    assert held.state == "peer_suspended"
    assert messages(new, letter_no) == [("BDC901", "out", "refused")]  # the item, with its batch
    set_state(net, OLD, "active")
    with new.write() as conn:
        process.resend(conn, new.ctx, held.id)
    assert messages(new, letter_no) == [("BDC901", "out", "item")]
    net.run()
    assert only_transfer(old).letter_no == letter_no and only_transfer(new).state == "letter_sent"
    m = exchanged_message.c
    with new.read() as conn:
        batches = conn.execute(select(m.type, m.state).where(m.type == "BDC902").order_by(m.created_at)).all()
    assert [tuple(b) for b in batches] == [("BDC902", "refused"), ("BDC902", "delivered")]


def test_a_letter_the_hub_took_and_could_not_deliver_goes_again_as_a_new_message(net: Network) -> None:
    """The hub accepted the letter, then found Shenzhen suspended at its own delivery round: it
    refuses it there and Hangzhou is not told. Asking where it stands (BDC904) is refused at once
    and holds the transfer; sent again once Shenzhen is back, the letter goes as a new message of
    the same number, and Shenzhen takes it (once)."""
    new, old = net.centers[NEW], net.centers[OLD]
    letter_no = apply(net).outputs["letter_no"]
    new.deliver()
    assert messages(new, letter_no) == [("BDC901", "out", "delivered")]  # the hub took it
    set_state(net, OLD, "suspended")
    net.hub.deliver()  # … and refuses it at its round
    waiting = only_transfer(new)
    assert waiting.state == "letter_sent"
    with new.write() as conn:
        process.ask_status(conn, new.ctx, waiting.id)
    net.run()
    assert only_transfer(new).state == "peer_suspended"
    set_state(net, OLD, "active")
    with new.write() as conn:
        process.resend(conn, new.ctx, waiting.id)
    net.run()
    received = only_transfer(old)
    assert (received.letter_no, received.state) == (letter_no, "received")
    sent = [t for t, d, _ in messages(new, letter_no) if d == "out"]
    assert sent.count("BDC901") == 2 and only_transfer(new).state == "letter_sent"
    with old.write() as conn:
        process.approve(conn, old.ctx, received.id)
    net.run()
    old.pay()
    assert new.take_bank_notices() == ["unmatched"]
    assert only_transfer(new).state == "completed" and new.balance("zhang") == AMOUNT
    assert old.check() == [] and new.check() == []
