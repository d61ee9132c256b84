"""Stored services: the center's local implementation lists, applications, their transitions,
materials (metadata and encrypted bytes), and sealed archives.

Material bytes live in the database (``application_blob``, one row per distinct SHA-256,
SM4-encrypted like every protected field), not in a directory: the archive, the backup and the
key rotation then cover them with no second store to keep in step.
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
    Text,
    UniqueConstraint,
)

from hpf.db.metadata import Fen, Id, UtcDateTime, metadata

_STATES = "'submitted', 'accepted', 'under_review', 'approved', 'executed', 'rejected', 'withdrawn', 'failed'"

catalog_local_version = Table(
    "catalog_local_version",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # the local version number
    Column("effective_from", Date, nullable=False),
    Column("items", JSON, nullable=False),  # [item, ...]: whole item documents, each a tightening
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", String(200), nullable=False),
    UniqueConstraint("effective_from"),
)

application = Table(
    "application",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("item_code", String(40), nullable=False),
    Column("catalog_version", String(40), nullable=False),  # e.g. "N2023.1" or "N2023.1+L2"
    Column("applicant_kind", String(10), nullable=False),  # member | employer | heir | staff
    Column("applicant_id", Id, ForeignKey("principal.id"), nullable=False),  # who signed in to apply
    Column("applicant_login", String(64), nullable=False),
    Column("member_id", Id, ForeignKey("member.id")),  # the member it is about (own, or a deceased's)
    Column("employer_id", Id, ForeignKey("employer.id")),  # the employer that applied
    Column("channel", String(10), nullable=False),  # online | counter
    Column("payload", JSON, nullable=False),
    Column("state", String(12), nullable=False),
    Column("submitted_on", Date, nullable=False),
    Column("accepted_on", Date),
    Column("accepted_by", String(64)),
    Column("due_on", Date),  # last working day of the statutory time limit
    # Served first with a shorter time limit, and why (诚信单位: the good-credit incentive,
    # decision 0042); NULL for every other application.
    Column("fast_track", String(20)),
    Column("evaluation", JSON),  # rules, risk flags, amount, sheet of the latest evaluation
    Column("amount_fen", Fen),
    Column("decision", String(10)),  # approved | rejected
    Column("decision_reason", String(400)),
    Column("decided_by", String(64)),  # a login, or "system" (straight-through)
    Column("decided_at", UtcDateTime()),
    Column("outputs", JSON),
    Column("idempotency_key", String(80)),
    Column("rating", Integer),
    Column("rating_comment", String(500)),
    Column("rated_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("applicant_id", "idempotency_key"),
    CheckConstraint(f"state IN ({_STATES})", name="state"),
    CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating"),
    Index(None, "state", "due_on"),
    Index(None, "member_id"),
    Index(None, "employer_id"),
    Index(None, "applicant_id", "id"),
)

application_transition = Table(
    "application_transition",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("application_id", Id, ForeignKey("application.id"), nullable=False),
    Column("from_state", String(12)),  # None for the submission itself
    Column("to_state", String(12), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("reason", String(400)),
    Index(None, "application_id", "id"),
)

application_blob = Table(
    "application_blob",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # key rotation walks tables by id
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("content_enc", Text, nullable=False),  # SM4 token of the base64 of the bytes
    UniqueConstraint("sha256"),
)

# Personal numbers in an application's payload (a payee card, family members' ID numbers, a
# contract number) live here, encrypted; the payload keeps them masked (hpf.services.service).
application_secret = Table(
    "application_secret",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # key rotation walks by id
    Column("application_id", Id, ForeignKey("application.id"), nullable=False),
    Column("name", String(40), nullable=False),
    Column("value_enc", Text, nullable=False),  # SM4 token of the JSON value
    UniqueConstraint("application_id", "name"),
)

application_material = Table(
    "application_material",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("application_id", Id, ForeignKey("application.id"), nullable=False),
    Column("material_code", String(40), nullable=False),
    Column("file_name", String(200), nullable=False),
    Column("file_type", String(8), nullable=False),  # pdf | jpg | png, from the bytes
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), ForeignKey("application_blob.sha256"), nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    Column("uploaded_at", UtcDateTime(), nullable=False),
    Index(None, "application_id", "id"),
)

application_archive = Table(
    "application_archive",
    metadata,
    Column("application_id", Id, ForeignKey("application.id"), primary_key=True),
    Column("final_state", String(12), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("sealed_at", UtcDateTime(), nullable=False),
    Column("document", Text, nullable=False),  # canonical JSON
    Column("sm3", String(64), nullable=False),  # SM3 of the document's UTF-8 bytes
)
