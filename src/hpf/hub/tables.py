"""The hub's own database: the registry of centers, the messages it received and sends, its staff.

A separate ``MetaData`` (``hub_metadata``) with its own Alembic migrations (``hpf.hub.migrations``,
version table ``hub_alembic_version``): the hub's database never holds a center's tables, nor a
center's ledger. ``hub_message`` is both the inbox (one row per message id: de-duplication) and
the outbox (the forwarded messages and the hub's own answers wait there, ``queued``, for the
delivery worker; ``attempts`` and ``next_attempt_at`` drive the backoff).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

from hpf.db.metadata import Id, UtcDateTime

hub_metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

hub_center = Table(
    "hub_center",
    hub_metadata,
    Column("code", String(6), primary_key=True),  # 6-digit center code
    Column("name", String(100), nullable=False),
    Column("province", String(20), nullable=False),
    Column(
        "endpoint", String(300), nullable=False
    ),  # base URL; messages go to <endpoint>/api/v1/hub/messages
    Column("sign_key", String(128), nullable=False),  # SM2 public signing key (hex)
    Column("encrypt_key", String(128), nullable=False),  # SM2 public encryption key (hex)
    Column("state", String(10), nullable=False),  # active | suspended
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("updated_by", String(64), nullable=False),
)

hub_message = Table(
    "hub_message",
    hub_metadata,
    Column("message_id", String(36), primary_key=True),
    Column("type", String(6), nullable=False),
    Column("sender", String(6), nullable=False),
    Column("recipient", String(6), nullable=False),
    Column("reply_to", String(36)),
    Column("created_at", UtcDateTime(), nullable=False),  # the envelope's
    Column("received_at", UtcDateTime(), nullable=False),  # when the hub took it (or composed it)
    Column("digest", String(64), nullable=False),  # SHA-256 of the signed content
    Column("envelope", JSON, nullable=False),  # sealed: the hub cannot read a body not addressed to it
    # hub: addressed to the hub itself; forward: routed to another center; origin: the hub's own
    Column("route", String(10), nullable=False),
    Column("state", String(10), nullable=False),  # handled | queued | delivered | refused
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_error", String(300)),
    Column("delivered_at", UtcDateTime()),
    Index(None, "state", "next_attempt_at"),
    Index(None, "received_at"),
)

hub_staff = Table(
    "hub_staff",
    hub_metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("name", String(50), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # decision 0040: admin (the registry, messages) or supervisor; scope: nation or a province
    Column("role", String(12), nullable=False, server_default="admin"),
    Column("scope", String(20), nullable=False, server_default="nation"),
)

hub_session = Table(
    "hub_session",
    hub_metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the cookie's random token
    Column("staff_id", ForeignKey("hub_staff.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# -- the national loan registry, the account index and the inquiry log (decision 0031) ------
#
# A person is known here only by ``person``: HMAC-SM3, under a key derived from the hub's own
# encryption key, of the resident ID number the center sealed to the hub. No table of the hub
# holds an ID number, a name or a center's account number.

hub_loan = Table(
    "hub_loan",
    hub_metadata,
    Column("center", String(6), primary_key=True),
    Column("loan_ref", String(30), primary_key=True),  # the center's loan id
    Column("person", String(64), primary_key=True),  # the person's national pseudonym
    Column("role", String(12), nullable=False),  # borrower | co_borrower
    Column("state", String(12), nullable=False),  # approved | active | settled | written_off | void
    Column("principal_fen", BigInteger, nullable=False),
    Column("contract_date", Date, nullable=False),
    Column("disbursed_on", Date),
    Column("settled_on", Date),
    Column("seq", BigInteger, nullable=False),  # the center's event id of the latest notice
    Column("message_id", String(36), nullable=False),  # the XC01 it came with
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "person"),
)

hub_account = Table(
    "hub_account",
    hub_metadata,
    Column("center", String(6), primary_key=True),
    Column("account_ref", String(30), primary_key=True),  # the center's member id
    Column("person", String(64), nullable=False),
    Column("state", String(2), nullable=False),  # GRZHZT
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("paid_through", String(7)),  # 缴至年月 YYYY-MM
    Column("seq", BigInteger, nullable=False),
    Column("message_id", String(36), nullable=False),  # the XC02 it came with
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "person"),
)

hub_inquiry = Table(
    "hub_inquiry",
    hub_metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, unique=True),  # the XC03 question
    Column("center", String(6), nullable=False),  # who asked
    Column("purpose", String(2), nullable=False),  # 01 … 04
    Column("persons", Integer, nullable=False),  # how many persons were asked about
    Column("accounts", Integer, nullable=False),  # how many facts were answered
    Column("loans", Integer, nullable=False),
    Column("asked_at", UtcDateTime(), nullable=False),
    Index(None, "asked_at"),
)

# -- reconciliation of transfers (decision 0035) ---------------------------------------------
#
# Each side of each transfer as its center last reported it (XC04): letter number, state and
# amounts only — no personal data, and never a ledger: what the center's payout and its ledger
# credit showed when it reported. ``hpf hub reconcile`` compares the two sides of each letter.

hub_transfer_report = Table(
    "hub_transfer_report",
    hub_metadata,
    Column("letter_no", String(16), primary_key=True),  # 联系函编号
    Column("side", String(3), primary_key=True),  # in | out
    Column("center", String(6), nullable=False),  # the reporting center
    Column("peer", String(6), nullable=False),  # the other side, as the reporter names it
    Column("state", String(16), nullable=False),  # hpf.transfers.rules.State
    Column("started_on", Date, nullable=False),
    Column("as_of", Date, nullable=False),  # the center's business date when it reported
    Column("amount_fen", BigInteger),  # the BDC905's 转移金额
    Column("order_no", String(32)),  # the old center's payout 业务流水号
    Column("paid_fen", BigInteger),  # out: what the bank paid
    Column("paid_on", Date),
    Column("credited_fen", BigInteger),  # in: what the ledger credited to the member
    Column("credited_on", Date),
    Column("seq", BigInteger, nullable=False),  # the center's event id of the latest report
    Column("message_id", String(36), nullable=False),  # the XC04 it came with
    Column("updated_at", UtcDateTime(), nullable=False),
)


# -- the national warehouse's register of reports (decision 0039) ----------------------------
#
# One row per version of a center's month (SUP101). The figures themselves are Parquet files
# under the warehouse directory (``hpf.hub.warehouse``); this row says which chunks arrived and
# which version is current. A restatement (a higher version, complete) makes the earlier one
# ``superseded``: its files stay where they are (the history), the queries read current ones.

hub_report = Table(
    "hub_report",
    hub_metadata,
    Column("report_id", String(36), primary_key=True),
    Column("center", String(6), nullable=False),
    Column("month", String(7), nullable=False),  # YYYY-MM
    Column("version", Integer, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("chunks_received", Integer, nullable=False),
    Column("members_total", BigInteger, nullable=False),
    Column("indicators", Integer, nullable=False),  # how many figures chunk 0 carried
    Column("state", String(12), nullable=False),  # receiving | current | superseded
    Column("first_message_id", String(36), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime()),
    Index(None, "center", "month", "version", unique=True),
    Index(None, "state", "month"),
)

hub_report_chunk = Table(
    "hub_report_chunk",
    hub_metadata,
    Column("report_id", ForeignKey("hub_report.report_id"), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("message_id", String(36), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)


# Supervision (decision 0040): hub staff's role and scope, and the tables of
# ``hpf.hub.supervision.tables`` (on this metadata: imported here so that Alembic sees them).
from hpf.hub.supervision import tables as _supervision_tables  # noqa: E402,F401
