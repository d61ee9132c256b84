"""Storage of employer and member accounts, their history, and account-number sequences.

Personal data is stored encrypted (``hpf.protection.protect``): ``F_enc`` holds the SM4 token of
field ``F`` and ``F_bidx`` its blind index where exact lookup is needed (ID number, phone).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
)

from hpf.db.metadata import Fen, Id, Ratio, UtcDateTime, metadata
from hpf.protection.crypto import BLIND_INDEX_HEX, token_length

employer = Table(
    "employer",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_no", String(20), nullable=False, unique=True),  # DWZH
    Column("uscc", String(18), nullable=False, unique=True),
    Column("name", String(120), nullable=False, index=True),  # DWMC
    Column("address", String(200), nullable=False),
    Column("legal_rep_name", String(60), nullable=False),
    Column("contact_name", String(60), nullable=False),
    Column("contact_phone_enc", String(token_length(20)), nullable=False),
    Column("bank_name", String(60), nullable=False),
    Column("bank_account_no_enc", String(token_length(32)), nullable=False),
    Column("payday", SmallInteger, nullable=False),  # DWFXR
    Column("employer_rate", Ratio, nullable=False),  # DWJCBL
    Column("member_rate", Ratio, nullable=False),  # GRJCBL
    Column("economic_type", String(3)),  # DWJJLX
    Column("state", String(2), nullable=False),  # DWZHZT
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("deferral_from", String(7)),  # YYYY-MM
    Column("deferral_to", String(7)),
    Column("paid_through", String(7)),  # JZNY
    Column("version", Integer, nullable=False, default=1),
)

member = Table(
    "member",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_no", String(20), nullable=False, unique=True),  # GRZH
    Column("certificate_type", String(2), nullable=False),  # ZJLX
    Column("resident_id_enc", String(token_length(18)), nullable=False),  # ZJHM
    Column("resident_id_bidx", String(BLIND_INDEX_HEX), nullable=False, unique=True),
    Column("name", String(60), nullable=False),  # XINGMING
    Column("name_pinyin", String(120), nullable=False),  # XMQP
    Column("gender", String(1), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("phone_enc", String(token_length(20))),
    Column("phone_bidx", String(BLIND_INDEX_HEX), index=True),
    Column("employer_id", Id, ForeignKey("employer.id"), nullable=False, index=True),
    Column("base_fen", Fen, nullable=False),  # GRJCJS
    Column("state", String(2), nullable=False),  # GRZHZT
    Column("state_before_freeze", String(2)),
    Column("opened_on", Date, nullable=False),  # KHRQ
    Column("closed_on", Date),  # XHRQ
    Column("version", Integer, nullable=False, default=1),
    Index(None, "name"),
)

account_history = Table(
    "account_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subject_kind", String(10), nullable=False),  # employer | member
    Column("subject_id", Id, nullable=False),
    Column("action", String(20), nullable=False),
    Column("business_type", String(2), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Index(None, "subject_kind", "subject_id", "id"),
)

account_sequence = Table(
    "account_sequence",
    metadata,
    Column("kind", String(20), primary_key=True),
    Column("last_value", BigInteger, nullable=False),
)
