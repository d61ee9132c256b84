"""The center's side of supervision (decision 0040), private to ``hpf.oversight``.

``sup_problem``: a problem the hub dispatched (its number at the hub, the month, the rule, the
deadline), as it stands here; ``sup_problem_step``: every step, the hub's and ours;
``sup_evidence``: the files of a rectification (their SHA-256 travels to the hub).
``credit_listing``: this center's dishonest entries (a member or an employer of ours, the
grounds, the period, appeal and removal); ``credit_national``: the national list as the hub
last distributed it (employers by USCC; persons without identifier).
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
    LargeBinary,
    String,
    Table,
)

from hpf.db.metadata import Id, UtcDateTime, metadata

sup_problem = Table(
    "sup_problem",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("hub_ref", BigInteger, nullable=False, unique=True),  # the problem's number at the hub
    Column("month", String(7), nullable=False),
    Column("rule", String(40), nullable=False),
    Column("title_zh", String(200), nullable=False),
    Column("detail_zh", String(500), nullable=False),
    Column("indicator", String(12)),
    Column("value", String(30)),
    Column("deadline", Date, nullable=False),
    Column("state", String(12), nullable=False),  # dispatched | rectifying | submitted | closed
    Column("overdue", Boolean, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "state"),
)

sup_problem_step = Table(
    "sup_problem_step",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("problem_id", ForeignKey("sup_problem.id"), nullable=False),
    Column("step", String(12), nullable=False),
    Column("state", String(12), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", String(500), nullable=False),
    Column("evidence", JSON),
    Column("message_id", String(36)),
    Column("at", UtcDateTime(), nullable=False),
    Index(None, "problem_id"),
)

sup_evidence = Table(
    "sup_evidence",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("problem_id", ForeignKey("sup_problem.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    Column("uploaded_at", UtcDateTime(), nullable=False),
    Index(None, "problem_id"),
)

credit_listing = Table(
    "credit_listing",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),  # person | employer
    Column("member_id", BigInteger),
    Column("employer_id", BigInteger),
    Column("grounds", String(4), nullable=False),
    Column("note", String(300), nullable=False),
    Column("listed_on", Date, nullable=False),
    Column("until", Date, nullable=False),
    Column("state", String(10), nullable=False),  # listed | appealed | removed
    Column("appeal_note", String(300)),
    Column("removed_reason", String(300)),
    Column("seq", Integer, nullable=False),  # increases with every change sent to the hub
    Column("listed_by", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "member_id"),
    Index(None, "employer_id"),
)

credit_national = Table(
    "credit_national",
    metadata,
    Column("center", String(6), primary_key=True),
    Column("entry_ref", String(30), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("uscc", String(18)),
    Column("employer_name", String(100)),
    Column("grounds", String(4), nullable=False),
    Column("grounds_zh", String(100), nullable=False),
    Column("listed_on", Date, nullable=False),
    Column("until", Date, nullable=False),
    Column("state", String(10), nullable=False),
    Column("as_of", Date, nullable=False),
    Index(None, "uscc"),
)

# A remittance list of an employer on the national list with the ``strict_review`` restriction:
# reviewed by staff, the review kept (decision 0040).
credit_review = Table(
    "credit_review",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("remittance_id", BigInteger, nullable=False, unique=True),
    Column("employer_id", BigInteger, nullable=False),
    Column("month", String(7), nullable=False),
    Column("listed_by", String(6), nullable=False),  # the listing center
    Column("grounds_zh", String(100), nullable=False),
    Column("state", String(10), nullable=False),  # pending | passed | questioned
    Column("note", String(300)),
    Column("reviewed_by", String(64)),
    Column("reviewed_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "state"),
)
