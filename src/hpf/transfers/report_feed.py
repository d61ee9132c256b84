"""The center's reports of its transfers to the hub, for reconciliation (decision 0035).

The consumer ``hub.transfers`` (``hpf.events.consume_batch``) reads the center's transfer events
(every state change, the letter received, the credit) and the payout outcomes of owner kind
``transfer`` once each, in order, and turns each round's into XC04 messages to the hub through
the outbox (``hpf.transfers.service.send``, in the consumer's transaction with its cursor): each
transfer the round touched as it stands now — letter number, side, state, the announced amount,
the payout's 业务流水号, what the bank paid (the payout order paid: old side) or what the ledger
credited to the member (the entry of the credit: new side). No name, ID number or account
number. Each fact carries the transfer's latest event id (``seq``): the hub keeps the latest.

The delivery worker's round (``hpf.transfers.service.deliver_due``) runs :func:`feed` after the
registry feed, so the messages it queues go out in the same round.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Engine, func, select

from hpf import events
from hpf.db.engine import read_transaction
from hpf.events import Event
from hpf.events.service import events_since
from hpf.kernel.context import Context
from hpf.ledger.chart import MEMBER_CONTROL
from hpf.ledger.chart import Side as EntrySide
from hpf.ledger.queries import entry_amounts
from hpf.messages.bodies import TransferFact, TransferReport
from hpf.settlement import queries as settlement_queries
from hpf.transfers import service
from hpf.transfers.link import current_link
from hpf.transfers.rules import State
from hpf.transfers.tables import exchanged_message, transfer

CONSUMER = "hub.transfers"
PAYOUT_EVENTS = ("payment_order.paid", "payment_order.failed")
TRANSFER_EVENTS = (
    *(f"transfer.{state.value}" for state in State),
    "transfer.letter_sent",
    "transfer.letter_received",
    "transfer.credited",
)
EVENT_TYPES = (*TRANSFER_EVENTS, *PAYOUT_EVENTS)
OWNER_KIND = "transfer"  # hpf.transfers.process.OWNER_KIND
BATCH = 500
PER_MESSAGE = 500


def _touched(batch: list[Event]) -> dict[int, int]:
    """The transfers the round's events touched, each with its latest event id."""
    latest: dict[int, int] = {}
    for event in batch:
        if event.object_kind == "transfer":
            transfer_id = int(event.object_id)
        elif event.type in PAYOUT_EVENTS and event.payload.get("owner_kind") == OWNER_KIND:
            transfer_id = int(str(event.payload["owner_id"]))
        else:
            continue
        latest[transfer_id] = max(latest.get(transfer_id, 0), event.id)
    return latest


def facts(conn: Connection, latest: dict[int, int], today: date) -> list[TransferFact]:
    """Each transfer of ``latest`` as it stands now (see the module docstring), in three reads
    whatever their number: the transfers, their paid payouts, their credit entries."""
    t = transfer.c
    rows = conn.execute(select(transfer).where(t.id.in_(list(latest))).order_by(t.id)).mappings().all()
    orders = [int(r["payment_order_id"]) for r in rows if r["side"] == "out" and r["payment_order_id"]]
    paid = settlement_queries.paid_orders(conn, orders)
    entries = [int(r["credit_entry_id"]) for r in rows if r["side"] == "in" and r["credit_entry_id"]]
    credits = entry_amounts(conn, entries, MEMBER_CONTROL, EntrySide.CREDIT)
    found = []
    for row in rows:
        paid_fen = paid_on = credited_fen = credited_on = None
        if row["side"] == "out" and row["payment_order_id"] is not None:
            paid_fen, paid_on = paid.get(int(row["payment_order_id"]), (None, None))
        if row["side"] == "in" and row["credit_entry_id"] is not None:
            credited_fen = credits.get(int(row["credit_entry_id"]), 0)
            credited_on = row["ended_on"]
        elif row["side"] == "in" and row["state"] == State.COMPLETED.value:
            credited_fen, credited_on = 0, row["ended_on"]  # an empty account moved only its history
        fact = TransferFact(
            letter_no=row["letter_no"], side=row["side"], peer=row["peer"], seq=latest[int(row["id"])],
            state=row["state"], started_on=row["started_on"], as_of=today, amount_fen=row["amount_fen"],
            order_no=row["order_no"], paid_fen=paid_fen, paid_on=paid_on, credited_fen=credited_fen,
            credited_on=credited_on,
        )  # fmt: skip
        found.append(fact)
    return found


def _send_round(conn: Connection, ctx: Context, batch: list[Event]) -> None:
    found = facts(conn, _touched(batch), ctx.clock.today())
    hub = current_link().hub_code
    for start in range(0, len(found), PER_MESSAGE):
        service.send(conn, ctx, hub, "XC04", TransferReport(transfers=found[start : start + PER_MESSAGE]))


def waiting(engine: Engine) -> bool:
    """Whether a transfer or payout event is after the feed's cursor (not reported yet)."""
    with read_transaction(engine) as conn:
        return bool(events_since(conn, events.cursor_of(conn, CONSUMER), EVENT_TYPES, limit=1))


def undelivered(conn: Connection) -> int:
    """Messages of this center not yet accepted by the hub (recorded or queued)."""
    m = exchanged_message.c
    return int(
        conn.scalar(select(func.count()).where(m.direction == "out", m.state.in_(("recorded", "queued"))))
        or 0
    )


def feed(engine: Engine, ctx: Context) -> int:
    """Queue the reports of every transfer event not fed yet; how many events."""
    current_link()  # a center without a hub link reports nothing (refused: transfers.hub_unconfigured)
    if not waiting(engine):
        return 0
    fed = 0
    while n := events.consume_batch(engine, ctx, CONSUMER, EVENT_TYPES, _send_round, limit=BATCH):
        fed += n
    return fed
