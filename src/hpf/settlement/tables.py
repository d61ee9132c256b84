"""Storage of settlement: payment orders and their history, bank notices, statements and
reconciliations.

The payee's name and account are personal data, stored encrypted (``payee_name_enc``,
``payee_account_no_enc``, ``hpf.protection.protect``); so are the counterparty fields of the
bank's notices. Statement lines keep no counterparty: they are matched by reference only.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from hpf.db.metadata import Fen, Id, UtcDateTime, metadata
from hpf.protection.crypto import token_length

_STATES = "'reserved', 'sent', 'unknown', 'paid', 'failed'"

payment_order = Table(
    "payment_order",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # 业务流水号 (SendSeqNo) sent to the bank; the bank pays at most once per number.
    Column("order_no", String(32), unique=True),
    Column("idempotency_key", String(60), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("owner_kind", String(20), nullable=False),
    Column("owner_id", String(40), nullable=False),
    Column("business_type", String(2), nullable=False),
    Column("fund_business_type", String(2), nullable=False),
    Column("summary", String(60), nullable=False),
    Column("amount_fen", Fen, nullable=False),
    Column("payee_name_enc", String(token_length(180)), nullable=False),
    Column("payee_account_no_enc", String(token_length(32)), nullable=False),
    Column("payee_account_class", String(1), nullable=False),
    Column("payee_bank_name", String(60), nullable=False),
    Column("payee_bank_code", String(12), nullable=False),
    Column("settle_type", String(1), nullable=False),
    Column("state", String(8), nullable=False),
    Column("reserve_entry_id", Id, ForeignKey("journal_entry.id")),
    # The entry that settled the order: the payment (paid) or the reservation's reversal (failed).
    Column("settle_entry_id", Id, ForeignKey("journal_entry.id")),
    Column("batch_no", String(32), index=True),
    Column("bank_seq_no", String(40)),
    Column("bank_date", Date),
    Column("failure_code", String(20)),
    Column("failure_reason", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_on", Date, nullable=False),
    Column("sent_on", Date),
    Column("settled_on", Date),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    CheckConstraint(f"state IN ({_STATES})", name="state"),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    Index(None, "state", "id"),
    Index(None, "owner_kind", "owner_id"),
)

# Every state change of an order, in the same transaction as the change (the trail).
payment_order_event = Table(
    "payment_order_event",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", Id, ForeignKey("payment_order.id"), nullable=False, index=True),
    Column("from_state", String(8)),
    Column("to_state", String(8), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("source", String(20), nullable=False),  # send, query, notice, batch, cancel, reserve
    Column("note", String(200), nullable=False),
)

# SBDC100 account change notices as received; ``notice_no`` makes a repeated notice a no-op.
bank_notice = Table(
    "bank_notice",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("notice_no", String(32), nullable=False, unique=True),
    Column("acct_no", String(32), nullable=False),
    Column("bank_seq_no", String(40), nullable=False),
    Column("tx_date", Date, nullable=False),
    Column("direction", String(1), nullable=False),
    Column("amount_fen", Fen, nullable=False),
    Column("ref_seq_no", String(32), nullable=False),
    Column("counterparty_name_enc", String(token_length(180))),
    Column("counterparty_acct_no_enc", String(token_length(32))),
    Column("summary", String(60), nullable=False),
    Column("order_id", Id, ForeignKey("payment_order.id")),
    Column("outcome", String(12), nullable=False),  # applied | no_effect | unmatched | conflict
    Column("received_at", UtcDateTime(), nullable=False),
    CheckConstraint("direction IN ('D', 'C')", name="direction"),
    Index(None, "ref_seq_no"),  # an unclaimed credit looked up by the payer's serial (transfers)
)

# Statement lines (BDC113) as fetched for a reconciliation; one row per bank serial and day.
bank_statement_line = Table(
    "bank_statement_line",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reconciliation_id", Id, ForeignKey("reconciliation.id"), nullable=False, index=True),
    Column("bank_seq_no", String(40), nullable=False),
    Column("tx_date", Date, nullable=False),
    Column("direction", String(1), nullable=False),
    Column("amount_fen", Fen, nullable=False),
    Column("ref_seq_no", String(40), nullable=False),  # our 业务流水号, or "RCPT-" + the serial
    Column("summary", String(60), nullable=False),
    CheckConstraint("direction IN ('D', 'C')", name="direction"),
)

reconciliation = Table(
    "reconciliation",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False, index=True),
    Column("acct_no", String(32), nullable=False),
    Column("run_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("bank_lines", Integer, nullable=False),
    Column("bank_out_fen", Fen, nullable=False),
    Column("bank_in_fen", Fen, nullable=False),
    Column("differences", Integer, nullable=False),
)

reconciliation_difference = Table(
    "reconciliation_difference",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reconciliation_id", Id, ForeignKey("reconciliation.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("ref", String(40), nullable=False),  # the 业务流水号 both sides are matched on
    Column("bank_fen", Fen),  # signed: money in positive
    Column("ledger_fen", Fen),
    Column("lines", Integer, nullable=False),
    Column("order_id", Id, ForeignKey("payment_order.id")),
    Column("order_state", String(8)),
    UniqueConstraint("reconciliation_id", "kind", "ref"),
)
