"""Storage of withdrawal claims and of the real-estate registry feed the rent rule and the risk
checks read.

Personal data is stored encrypted (``hpf.protection.protect``): the payee's bank card, the
document number (purchase contract, permit, certificate) and the declared family members'
ID numbers. Their blind indexes let the risk checks find the same contract or the same card
across members without decrypting anything.
"""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Column, Date, ForeignKey, Index, String, Table

from hpf.db.metadata import Fen, Id, UtcDateTime, metadata
from hpf.protection.crypto import BLIND_INDEX_HEX, token_length

withdrawal = Table(
    "withdrawal",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("application_id", Id, unique=True),  # the service application it belongs to
    Column("member_id", Id, ForeignKey("member.id"), nullable=False),
    Column("reason", String(2), nullable=False),  # TQYY
    Column("requested_fen", Fen),
    Column("allowed_fen", Fen, nullable=False),
    Column("closes_account", String(1), nullable=False),  # "1" / "0"
    Column("document_no_enc", String(token_length(64))),
    Column("document_no_bidx", String(BLIND_INDEX_HEX), index=True),
    Column("payee_name", String(60), nullable=False),
    Column("payee_card_enc", String(token_length(32)), nullable=False),
    Column("payee_card_bidx", String(BLIND_INDEX_HEX), nullable=False, index=True),
    Column("family_bidx", JSON, nullable=False),  # blind indexes of the declared family's ID numbers
    Column("evidence", JSON, nullable=False),  # the claim's facts (dates, amounts) without personal numbers
    Column("state", String(10), nullable=False),
    Column("applied_on", Date, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("paid_on", Date),
    Column("order_id", Id),  # the settlement payment order (hpf.settlement)
    CheckConstraint("state IN ('pending', 'reserved', 'paid', 'refused', 'released')", name="state"),
    CheckConstraint("allowed_fen >= 0", name="allowed_not_negative"),
    Index(None, "member_id", "state"),
)

property_record = Table(
    "property_record",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner_bidx", String(BLIND_INDEX_HEX), nullable=False, index=True),  # owner's ID number
    Column("certificate_no_enc", String(token_length(64)), nullable=False),
    Column("certificate_no_bidx", String(BLIND_INDEX_HEX), nullable=False, unique=True),
    Column("registered_on", Date, nullable=False),
    Column("status", String(10), nullable=False),  # held | sold | seized | disputed
    Column("source", String(20), nullable=False),  # the feed it came from
    Column("received_at", UtcDateTime(), nullable=False),
    CheckConstraint("status IN ('held', 'sold', 'seized', 'disputed')", name="status"),
)
