"""Storage of supervision reporting (decision 0039).

- ``supervision_person``: each member account's national reporting pseudonym, computed once
  (the resident ID revealed once per account, not every month);
- ``supervision_report``: every version of a month this center sent — its report id (the
  hub's key), the chunks and the message of each (``message_ids``), how many figures and member
  rows, the figures as sent, who sent it and when. Version 2 and later are restatements (更正报送).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table

from hpf.db.metadata import Id, UtcDateTime, metadata

supervision_person = Table(
    "supervision_person",
    metadata,
    Column("member_id", Id, primary_key=True),
    Column("person", String(64), nullable=False),  # HMAC-SM3 of the resident ID, hex
)

supervision_report = Table(
    "supervision_report",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("report_id", String(36), nullable=False, unique=True),
    Column("month", String(7), nullable=False),  # YYYY-MM
    Column("version", Integer, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("indicators", Integer, nullable=False),
    Column("members", BigInteger, nullable=False),
    Column("message_ids", JSON, nullable=False),  # the SUP101 of each chunk, in order
    Column("figures", JSON, nullable=False),  # the indicators as sent: [[code, dim, value], …]
    Column("reason", String(200)),  # a restatement's reason
    Column("actor", String(64), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=False),
    Index(None, "month", "version", unique=True),
)
