"""The center's side of the hub: the centers it knows, and every message it sent or received.

``peer_center``: the other centers as the hub's BDC909 lookup described them (code, name,
province, state, public keys), refreshed by each answer. ``exchanged_message``: one row per
message, both directions — ``out`` rows are the outbox's payload (the sealed, signed envelope
written in the business change's transaction, with its ``hub_message.queued`` event; the delivery
consumer makes it due, the worker sends it), ``in`` rows the inbox (one per message id:
de-duplication). Bodies stay sealed as they travelled: an ``out`` body to its recipient, an ``in``
body to this center.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from hpf.db.metadata import Id, UtcDateTime, metadata

peer_center = Table(
    "peer_center",
    metadata,
    Column("code", String(6), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("province", String(20), nullable=False),
    Column("state", String(10), nullable=False),  # active | suspended (as the hub said)
    Column("sign_key", String(128), nullable=False),
    Column("encrypt_key", String(128), nullable=False),
    Column("looked_up_at", UtcDateTime(), nullable=False),
)

exchanged_message = Table(
    "exchanged_message",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("direction", String(3), nullable=False),  # out | in
    Column("type", String(6), nullable=False),
    Column("peer", String(6), nullable=False),  # the recipient (out) or the originator (in)
    Column("reply_to", String(36)),
    Column("created_at", UtcDateTime(), nullable=False),  # the envelope's
    Column("digest", String(64), nullable=False),
    Column("envelope", JSON, nullable=False),
    # out: recorded → queued → delivered | refused; in: handled
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_error", String(300)),
    Column("delivered_at", UtcDateTime()),  # out: accepted by the hub; in: received
    Column("answered_by", String(36)),  # out: the answer that came back
    Column("letter_no", String(16)),  # the transfer the message is about (its 联系函编号), if any
    # a batch item (decision 0036): the BDC902/BDC906 that carried it (out: packed into; in: came in)
    Column("batch_id", String(36)),
    Index(None, "state", "next_attempt_at"),
    Index(None, "reply_to"),
    Index(None, "letter_no"),
    Index(None, "batch_id"),
)

# One cross-center transfer (转移接续) as this center sees it: ``side`` ``in`` (this center is the
# new one: the member applied here) or ``out`` (the old one: the letter came here). A letter is
# one row per side (``letter_no`` unique): a repeated BDC901 finds it. No personal data in clear:
# the person is ``member_id``; the letter's names and numbers stay in its sealed message.
transfer = Table(
    "transfer",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("letter_no", String(16), nullable=False, unique=True),  # 联系函编号
    Column("side", String(3), nullable=False),  # in | out
    Column("peer", String(6), nullable=False),  # the other center
    Column("state", String(16), nullable=False),  # hpf.transfers.rules.State
    Column("member_id", Id, ForeignKey("member.id")),  # in: credited; out: the account found
    Column("application_id", Id, ForeignKey("application.id")),  # in: the member's application
    Column("letter_message_id", String(36)),  # the BDC901
    Column("out_message_id", String(36)),  # the BDC905
    Column("principal_fen", BigInteger),
    Column("interest_fen", BigInteger),
    Column("amount_fen", BigInteger),  # principal + interest
    Column("order_no", String(32)),  # the old center's payout 业务流水号 (both sides know it)
    Column("payment_order_id", Id),  # out: this center's payout
    Column("notice_no", String(40)),  # in: the bank's credit notice matched
    Column("credit_entry_id", Id),  # in: the ledger entry crediting the member
    Column("checks", JSON),  # out: the rules as checked on the letter
    Column("carried", JSON),  # in: the BDC905 summary (开户年月, 缴至年月, flags, loan count)
    Column("reason", String(200)),  # refusal / cancellation reason
    Column("started_on", Date, nullable=False),  # in: the letter sent; out: received
    Column("due_on", Date),  # the working-day limit of the current step
    Column("ended_on", Date),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("side IN ('in', 'out')", name="side"),
    Index(None, "state"),
    Index(None, "side", "order_no", unique=True),
    Index(None, "member_id"),  # a member's transfer under way (the application's check)
    Index(
        None, "application_id"
    ),  # the transfer an application started  # a credit finds its one transfer (none: NULL)
)
