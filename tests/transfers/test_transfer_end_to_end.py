"""A cross-center transfer end to end: a hub and two centers in one process, each center its own
database (the old center's SQLite or PostgreSQL, the new center's SQLite) and application,
messages over their real HTTP endpoints through the hub, money through two connected fake banks.

张三 deposited at Shenzhen (440300, the old center) for January–March 2025 (1,920.00 yuan a
month, each list paid and allocated on the 10th of the next month), then moved to Hangzhou
(330100, the new center), where he opened an account on 1 April 2025. On 15 April he applies
there; Shenzhen approves the same day.

Interest to date at Shenzhen (REFERENCE §2.4; 1.50%, day basis 360, each deposit earns from its
value date to the transfer date): 192,000 fen × (64 + 36 + 5) days = 20,160,000 fen·days;
× 0.015 ÷ 360 = 840 fen. Transfer amount = principal 576,000 + interest 840 = 576,840 fen.
"""

from __future__ import annotations

from datetime import date

import pytest
from transfer_support import MONTHLY_FEN, NEW, OLD, TODAY, Network, two_cities

from hpf.contributions.queries import member_posted_months
from hpf.contributions.service import record_carried_months
from hpf.services import service as applications
from hpf.transfers import process
from hpf.withdrawals.service import continuous_deposit_months
from settlement_support import subject

PRINCIPAL = 3 * MONTHLY_FEN  # 576,000 fen
INTEREST = 840
AMOUNT = PRINCIPAL + INTEREST


@pytest.fixture
def net(tmp_path, engine) -> Network:
    """The old center on each engine (``engine``: SQLite, then PostgreSQL), the new on SQLite."""
    return two_cities(tmp_path, engine)


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


def only_transfer(center) -> process.Transfer:
    with center.read() as conn:
        found = process.listing(conn, TODAY)
    assert len(found) == 1
    return found[0]


def test_the_member_applies_the_old_center_approves_and_the_money_and_history_arrive_once(
    net: Network,
) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    before = old.balance("zhang") + new.balance("zhang")
    assert (old.balance("zhang"), new.balance("zhang")) == (PRINCIPAL, 0)
    with new.read() as conn:
        assert continuous_deposit_months(member_posted_months(conn, new.members["zhang"].id), TODAY) == 0

    submitted = apply(net)
    assert submitted.state == "approved" and submitted.outputs["letter_no"].startswith(f"{NEW}250415")
    letter_no = submitted.outputs["letter_no"]
    assert letter_no == f"{NEW}2504150001"
    assert only_transfer(new).state == "letter_sent"

    net.run()  # the letter: new → hub → old
    received = only_transfer(old)
    assert (received.letter_no, received.state, received.platform_status) == (letter_no, "received", "02")
    assert all(c["passed"] for c in received.checks) and received.due_on == date(2025, 4, 22)

    with old.write() as conn:
        done = process.approve(conn, old.ctx, received.id)
    assert (done.state, done.principal_fen, done.interest_fen, done.amount_fen) == (
        "transferred", PRINCIPAL, INTEREST, AMOUNT,
    )  # fmt: skip
    with old.write() as conn:  # approving twice changes nothing
        assert process.approve(conn, old.ctx, received.id).order_no == done.order_no
    assert old.balance("zhang") == 0  # the whole balance, interest included, is in transit
    with old.read() as conn:
        assert subject(conn, "21903") == AMOUNT  # 付款在途: before + interest, nothing lost
    with old.read() as conn:
        from hpf.accounts import service as accounts

        assert accounts.get_member(conn, old.members["zhang"].account_no).state == "04"  # 外部转出销户

    net.run()  # BDC901 answer (08) and BDC905: old → hub → new
    waiting = only_transfer(new)
    assert (waiting.state, waiting.amount_fen, waiting.order_no) == ("info_received", AMOUNT, done.order_no)
    assert waiting.carried["months"] == ["2025-01", "2025-02", "2025-03"]
    assert waiting.carried["paid_through"] == "202503" and waiting.carried["six_months_continuous"] == "2"

    assert old.pay() == {"paid": 1}  # the payment run: the bank moves the money to Hangzhou's account
    assert new.fake.balance_fen == new.fake.opening_fen + AMOUNT
    assert new.take_bank_notices() == ["unmatched"]  # money in no order names: the transfer claims it

    credited = only_transfer(new)
    assert credited.state == "completed" and new.balance("zhang") == AMOUNT
    assert old.balance("zhang") + new.balance("zhang") == before + INTEREST  # conserved, interest added
    with new.read() as conn:
        app = applications.get(conn, submitted.id)
        months = member_posted_months(conn, new.members["zhang"].id)
    assert app.state == "executed"
    assert sorted(months) == ["2025-01", "2025-02", "2025-03"]
    assert continuous_deposit_months(months, TODAY) == 3  # the carried history counts for loans and rent
    with new.write() as conn:  # carried again (another letter, the same months): counted once
        again = record_carried_months(conn, new.ctx, new.members["zhang"].id, ["2025-02", "2025-03"], "x")
        assert again == 0 and len(member_posted_months(conn, new.members["zhang"].id)) == 3

    net.run()  # the BDC905 answer (00): new → hub → old
    assert only_transfer(old).state == "completed"
    assert old.check() == [] and new.check() == []

    # Every message of the transfer is on both timelines.
    with new.read() as conn:
        at_new = [(m.direction, m.type, m.is_answer) for m in process.timeline(conn, letter_no)]
    with old.read() as conn:
        at_old = [(m.direction, m.type, m.is_answer) for m in process.timeline(conn, letter_no)]
    assert sorted(at_new) == sorted(
        [("out", "BDC901", False), ("in", "BDC901", True), ("in", "BDC905", False), ("out", "BDC905", True)]
    )
    assert sorted(at_old) == sorted(
        [("in", "BDC901", False), ("out", "BDC901", True), ("out", "BDC905", False), ("in", "BDC905", True)]
    )

    # Every delivery the hub made, made again, changes nothing at either center.
    for url, payload in list(net.log):
        code = url.split("//")[1][:6]
        center = net.centers[code]
        with center.use():
            again = center.client.post("/api/v1/hub/messages", json=payload)
        assert again.status_code in (200, 409, 422) and again.json().get("status") != "accepted"
    assert (old.balance("zhang"), new.balance("zhang")) == (0, AMOUNT)
    assert only_transfer(new).state == "completed" and only_transfer(old).state == "completed"


def test_the_bank_credit_before_the_transfer_out_information_waits_for_it(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    apply(net)
    net.run()
    with old.write() as conn:
        process.approve(conn, old.ctx, only_transfer(old).id)
    old.pay()  # the money leaves before the BDC905 is delivered
    assert new.take_bank_notices() == ["unmatched"]
    assert only_transfer(new).state == "letter_sent" and new.balance("zhang") == 0  # waits
    net.run()  # now the BDC905 arrives and finds the credit
    assert only_transfer(new).state == "completed" and new.balance("zhang") == AMOUNT
    net.run()
    assert only_transfer(old).state == "completed"
    assert old.check() == [] and new.check() == []


def test_a_refusal_goes_back_with_its_reason_and_fails_the_application(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    submitted = apply(net)
    net.run()
    with old.write() as conn:
        refused = process.refuse(conn, old.ctx, only_transfer(old).id, "存在未核实的缴存记录")
    assert (refused.state, refused.platform_status, refused.feedback_code) == ("refused", "13", "1")
    net.run()
    at_new = only_transfer(new)
    assert (at_new.state, at_new.reason) == ("refused", "存在未核实的缴存记录")
    with new.read() as conn:
        app = applications.get(conn, submitted.id)
    assert app.state == "failed"
    assert old.balance("zhang") == PRINCIPAL and new.balance("zhang") == 0


def test_an_unsealed_account_fails_the_checks_and_cannot_be_approved(net: Network) -> None:
    old = net.centers[OLD]
    with old.write() as conn:
        from hpf.accounts import service as accounts

        accounts.unseal_member(conn, old.ctx, old.members["zhang"].account_no, "重新就业")
    apply(net)
    net.run()
    received = only_transfer(old)
    assert {c["code"]: c["passed"] for c in received.checks}["transfer.sealed"] is False
    with old.write() as conn, pytest.raises(Exception) as refused:
        process.approve(conn, old.ctx, received.id)
    assert getattr(refused.value, "code", "") == "transfer.checks_failed"
    assert old.balance("zhang") == PRINCIPAL


def test_cancellation_before_the_money_moved_and_the_status_query(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    submitted = apply(net)
    net.run()
    letter_no = only_transfer(new).letter_no
    from hpf.transfers import service as transfers

    with new.write() as conn:
        transfers.ask_status(conn, new.ctx, OLD, letter_no)
    net.run()
    with new.read() as conn:
        answers = [m for m in transfers.messages(conn, direction="in") if m.type == "BDC904"]
    assert len(answers) == 1
    with new.write() as conn:
        process.cancel(conn, new.ctx, only_transfer(new).id, "不再转移")
    net.run()
    assert only_transfer(old).state == "cancelled" and only_transfer(new).state == "cancelled"
    with new.read() as conn:
        assert applications.get(conn, submitted.id).state == "failed"
    with old.write() as conn, pytest.raises(Exception) as late:
        process.approve(conn, old.ctx, only_transfer(old).id)
    assert getattr(late.value, "code", "") == "transfer.illegal_transition"


def test_negotiation_amends_the_history_and_the_money_waits_for_it(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    apply(net)
    net.run()
    with old.write() as conn:
        process.approve(conn, old.ctx, only_transfer(old).id)
    net.run()
    assert only_transfer(new).state == "info_received"
    with new.write() as conn:  # the member also deposited December 2024 there, by his own records
        asked = process.negotiate(conn, new.ctx, only_transfer(new).id, "缺少2024年12月的缴存记录")
    assert (asked.state, asked.platform_status) == ("negotiating", "06")
    old.pay()
    assert new.take_bank_notices() == ["unmatched"]
    assert only_transfer(new).state == "negotiating" and new.balance("zhang") == 0  # the money waits
    net.run()
    at_old = only_transfer(old)
    assert (at_old.state, at_old.reason) == ("negotiating", "缺少2024年12月的缴存记录")
    with old.write() as conn, pytest.raises(Exception) as bad:
        process.amend(conn, old.ctx, at_old.id, ["2024-13"])
    assert getattr(bad.value, "code", "") == "transfer.month"
    with old.write() as conn:
        process.amend(conn, old.ctx, at_old.id, ["2024-12", "2025-01", "2025-02", "2025-03"])
    net.run()
    done = only_transfer(new)
    assert (done.state, done.platform_status, new.balance("zhang")) == ("completed", "20", AMOUNT)
    with new.read() as conn:
        months = member_posted_months(conn, new.members["zhang"].id)
    assert sorted(months) == ["2024-12", "2025-01", "2025-02", "2025-03"]
    net.run()
    assert only_transfer(old).state == "completed"
    assert old.check() == [] and new.check() == []


def test_a_payout_the_bank_refuses_ends_the_transfer_40(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    apply(net)
    net.run()
    with old.write() as conn:
        process.approve(conn, old.ctx, only_transfer(old).id)
    old.fake.arm("fail")
    assert old.pay() == {"failed": 1}
    failed = only_transfer(old)
    assert (failed.state, failed.platform_status, failed.feedback_code) == ("payment_failed", "40", "1")
    assert old.balance("zhang") == AMOUNT  # the money is back in the account
    assert new.take_bank_notices() == [] and new.balance("zhang") == 0
    assert old.check() == []
    with new.write() as conn:  # the new center asks where it stands (BDC904): 40 ends it there too
        process.ask_status(conn, new.ctx, only_transfer(new).id)
    net.run()
    at_new = only_transfer(new)
    assert (at_new.state, at_new.platform_status) == ("payment_failed", "40")
    with new.read() as conn:
        assert applications.get(conn, at_new.application_id).state == "failed"
