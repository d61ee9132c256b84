"""The center's log of its co-investigation inquiries (decision 0031), private to ``hpf.transfers``.

``network_inquiry``: one row per question this center asked the hub (``XC03``): the purpose, who
asked and when, the blind index of each person asked about (the center's own, as the member
table keeps it: the number itself is not kept here), the outcome and what the hub answered —
the facts the purpose let out of other centers, which this center has then learned.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, Index, Integer, String, Table

from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.protection.crypto import BLIND_INDEX_HEX

network_inquiry = Table(
    "network_inquiry",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, unique=True),  # the XC03 question
    Column("purpose", String(2), nullable=False),  # 01 贷款申请 … 04 人工查询
    Column("persons", Integer, nullable=False),
    Column("subject_bidx", String(BLIND_INDEX_HEX), nullable=False),  # the first person's
    Column("asked_by", String(64), nullable=False),
    Column("asked_at", UtcDateTime(), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("outcome", String(10), nullable=False),  # answered | failed
    Column("answer", JSON),  # the facts answered (InquiryAnswer), None when failed
    Column("error", String(300)),
    Index(None, "subject_bidx"),
    Index(None, "asked_at"),
)
