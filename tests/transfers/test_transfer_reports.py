"""The centers report their side of each transfer to the hub (XC04) and the hub reconciles them
(decision 0035): a hub and two centers in one process (``transfer_support``), messages over their
real HTTP endpoints through the hub, money through two connected fake banks.

张三's transfer from Shenzhen (old) to Hangzhou (new) of ``test_transfer_end_to_end``: principal
576,000 fen + interest 840 fen = 576,840 fen paid by Shenzhen's bank and credited at Hangzhou.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from uuid import uuid4

import pytest
from sqlalchemy import delete, select, update
from transfer_support import NEW, OLD, TODAY, Network, two_cities

from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.hub import transfer_reports
from hpf.hub.schema import upgrade
from hpf.hub.tables import hub_message, hub_transfer_report
from hpf.hub.transfer_reports import Side, compare, reconcile
from hpf.messages import protocol
from hpf.messages.bodies import TransferFact, TransferReport
from hpf.messages.keys import KeyPair
from hpf.messages.transport import PATH
from hpf.services import service as applications
from hpf.transfers import process
from hpf.transfers.tables import exchanged_message

AMOUNT = 576_840


@pytest.fixture
def net(tmp_path) -> Network:
    return two_cities(tmp_path)


def _apply(net: Network) -> str:
    new, old = net.centers[NEW], net.centers[OLD]
    payload = {
        "from_center": OLD,
        "old_account_no": old.members["zhang"].account_no,
        "old_employer_name": "深圳某公司",
    }
    with new.write() as conn:
        done = applications.submit(
            conn, new.ctx, new.people["zhang"], "AC-TRANSFER-IN", payload, complete=True
        )
    return str(done.outputs["letter_no"])


def old_keys(net: Network) -> KeyPair:
    return net.centers[OLD].app.state.hub_link.keys


def _reports(net: Network) -> dict[str, dict[str, Side]]:
    with read_transaction(net.hub.engine) as conn:
        return transfer_reports.sides(conn)


def test_both_sides_report_and_the_hub_finds_them_in_agreement(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    letter = _apply(net)
    net.run()
    sides = _reports(net)[letter]
    assert (sides["in"].state, sides["out"].state) == ("letter_sent", "received")
    with read_transaction(net.hub.engine) as conn:  # a letter just sent and received: nothing to report
        assert reconcile(conn).differences == []

    with old.write() as conn:
        process.approve(conn, old.ctx, process.listing(conn, TODAY)[0].id)
    net.run()
    old.pay()
    net.run()  # the old side's payout paid: reported
    assert _reports(net)[letter]["out"].paid_fen == AMOUNT
    with read_transaction(net.hub.engine) as conn:  # paid, not credited yet: in transit, within the allowance
        run = reconcile(conn)
    assert (run.paid_fen, run.credited_fen, run.in_transit_fen, run.differences) == (AMOUNT, 0, AMOUNT, [])

    assert new.take_bank_notices() == ["unmatched"]
    net.run()
    sides = _reports(net)[letter]
    assert (sides["in"].state, sides["in"].credited_fen, sides["in"].amount_fen) == (
        "completed",
        AMOUNT,
        AMOUNT,
    )
    assert (sides["out"].state, sides["out"].paid_fen, sides["out"].order_no) == (
        "completed", AMOUNT, sides["in"].order_no,
    )  # fmt: skip
    assert (sides["in"].center, sides["out"].center) == (NEW, OLD)
    with read_transaction(net.hub.engine) as conn:
        run = reconcile(conn)
        messages = conn.execute(hub_message.select().where(hub_message.c.type == "XC04")).all()
    assert (run.letters, run.both_sides, run.paid_fen, run.credited_fen, run.in_transit_fen) == (
        1, 1, AMOUNT, AMOUNT, 0,
    )  # fmt: skip
    assert run.differences == []
    assert messages and all(m.route == "hub" for m in messages)  # kept by the hub, never forwarded

    # Every XC04 delivered again (a new hop, the same message): a duplicate, nothing changes.
    before = _reports(net)
    with read_transaction(old.engine) as conn:
        sent = (
            conn.execute(select(exchanged_message.c.envelope).where(exchanged_message.c.type == "XC04"))
            .scalars()
            .all()
        )
    assert sent
    for stored in sent:
        again = protocol.hop(old_keys(net), OLD, protocol.envelope_of(stored), datetime.now(UTC))
        answer = net.hub.client.post(PATH, json=again.model_dump(mode="json"))
        assert answer.status_code == 200 and answer.json()["status"] == "duplicate"
    assert _reports(net) == before

    # A planted disagreement: the hub's copy of the new side credited one fen more.
    with write_transaction(net.hub.engine) as conn:
        conn.execute(
            update(hub_transfer_report)
            .where(hub_transfer_report.c.letter_no == letter, hub_transfer_report.c.side == "in")
            .values(credited_fen=AMOUNT + 1)
        )
    with read_transaction(net.hub.engine) as conn:
        found = reconcile(conn).differences
    assert [(d.letter_no, d.kind, d.paid_fen, d.credited_fen) for d in found] == [
        (letter, "amount", AMOUNT, AMOUNT + 1)
    ]
    # … and a side the old center never reported.
    with write_transaction(net.hub.engine) as conn:
        conn.execute(
            delete(hub_transfer_report).where(
                hub_transfer_report.c.letter_no == letter, hub_transfer_report.c.side == "out"
            )
        )
    with read_transaction(net.hub.engine) as conn:
        assert [d.kind for d in reconcile(conn).differences] == ["missing_out"]


def side(state: str, **values: object) -> Side:
    base: dict[str, object] = {
        "center": "440300", "state": state, "started_on": date(2025, 4, 15), "as_of": date(2025, 4, 15),
        "amount_fen": None, "order_no": None, "paid_fen": None, "paid_on": None, "credited_fen": None,
        "credited_on": None,
    }  # fmt: skip
    return Side(**{**base, **values})  # type: ignore[arg-type]


ON = date(2025, 4, 20)
PAID = {"amount_fen": 1000, "paid_fen": 1000, "paid_on": date(2025, 4, 15)}


@pytest.mark.parametrize(
    ("out", "new", "on", "kinds"),
    [
        (side("completed", **PAID), side("completed", amount_fen=1000, credited_fen=1000), ON, []),
        (side("completed", **PAID), side("completed", amount_fen=1000, credited_fen=999), ON, ["amount"]),
        (side("refused"), side("completed", credited_fen=1000), ON, ["amount", "state"]),
        (side("refused"), side("refused"), ON, []),
        (side("cancelled"), side("refused"), ON, ["state"]),
        (side("received"), side("completed", credited_fen=0), ON, ["state"]),
        # paid on the 15th, not credited: within 3 days on the 18th, beyond on the 20th
        (side("transferred", **PAID), side("info_received", amount_fen=1000), date(2025, 4, 18), []),
        (side("transferred", **PAID), side("info_received", amount_fen=1000), ON, ["in_transit"]),
        (side("transferred", **PAID), side("info_received", amount_fen=1001), date(2025, 4, 18), ["amount"]),
        (None, side("letter_sent"), date(2025, 4, 18), []),  # the letter on its way
        (None, side("letter_sent"), ON, ["missing_out"]),
        (side("received"), None, ON, ["missing_in"]),
    ],
)
def test_compare_lists_each_kind_of_disagreement(out, new, on, kinds) -> None:
    assert [d.kind for d in compare("4403002504150001", out, new, on, 3)] == kinds


def _fact(seq: int, state: str) -> TransferFact:
    return TransferFact(
        letter_no="3301002504150001", side="in", peer=OLD, seq=seq, state=state,
        started_on=TODAY, as_of=TODAY,
    )  # fmt: skip


def test_a_later_report_replaces_an_earlier_never_the_reverse(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    upgrade(engine)
    now = datetime.now(UTC)

    def take(sender: str, fact: TransferFact) -> int:
        envelope = SimpleNamespace(sender=sender, message_id=uuid4())
        with write_transaction(engine) as conn:
            return transfer_reports.take(conn, envelope, TransferReport(transfers=[fact]), now)  # type: ignore[arg-type]

    assert take(NEW, _fact(5, "info_received")) == 1
    assert take(NEW, _fact(3, "letter_sent")) == 0  # older, delivered late
    assert take(OLD, _fact(9, "completed")) == 0  # another center cannot report this side
    with read_transaction(engine) as conn:
        assert transfer_reports.sides(conn)["3301002504150001"]["in"].state == "info_received"
    assert take(NEW, _fact(7, "completed")) == 1
    with read_transaction(engine) as conn:
        assert transfer_reports.sides(conn)["3301002504150001"]["in"].state == "completed"
    engine.dispose()
