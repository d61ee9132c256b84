"""Stored policy changes: one row per (key, effective date), scheduled by staff."""

from __future__ import annotations

from sqlalchemy import Column, Date, String, Table, Text, UniqueConstraint

from hpf.db.metadata import Id, UtcDateTime, metadata

policy_value = Table(
    "policy_value",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(40), nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("value", Text, nullable=False),  # JSON
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", String(200), nullable=False),
    UniqueConstraint("key", "effective_from"),
)
