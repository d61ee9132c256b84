"""Ledger storage: subjects, periods, journal entries and lines, materialised balances.

Journal rows are append-only (database triggers refuse UPDATE and DELETE, see the first
migration). Balances are materialised for speed; ``hpf check`` proves them against the lines.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Table,
    text,
)

from hpf.db.metadata import Fen, Id, UtcDateTime, metadata

ledger_subject = Table(
    "ledger_subject",
    metadata,
    Column("code", String(10), primary_key=True),
    Column("name_zh", String(60), nullable=False),
    Column("name_en", String(80), nullable=False),
    Column("category", String(10), nullable=False),
    Column("normal_side", String(1), nullable=False),
    Column("sub_ledger", String(10)),
    Column("postable", Boolean, nullable=False),
    Column("local", Boolean, nullable=False),
)

ledger_period = Table(
    "ledger_period",
    metadata,
    Column("period", String(7), primary_key=True),  # YYYY-MM
    Column("closed_at", UtcDateTime(), nullable=False),
    Column("closed_by", String(64), nullable=False),
)

journal_entry = Table(
    "journal_entry",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("business_type", String(2), nullable=False),
    Column("business_id", String(40), nullable=False, index=True),
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("value_date", Date, nullable=False),
    Column("posting_date", Date, nullable=False, index=True),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("memo", String(200), nullable=False),
    Column("reverses_entry_id", Id, ForeignKey("journal_entry.id"), unique=True),
)

journal_line = Table(
    "journal_line",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # No foreign keys on the biggest table: a key check per line costs more than the insert on
    # PostgreSQL; the posting engine is its only writer, and `hpf check` proves every reference.
    Column("entry_id", Id, nullable=False, index=True),
    Column("subject_code", String(10), nullable=False),
    Column("side", String(1), nullable=False),
    Column("amount_fen", Fen, nullable=False),
    Column("member_id", Id),
    Column("employer_id", Id),
    Column("balance_part", String(8)),
    # Copied from the entry: statements and 积数 read member lines by value date.
    Column("value_date", Date, nullable=False),
    # Member lines: days this change counts in its interest year's 积数 (year end − value date).
    Column("accrual_days", SmallInteger),
    CheckConstraint("side IN ('D', 'C')", name="side"),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    CheckConstraint("balance_part IS NULL OR balance_part IN ('carried', 'current')", name="part"),
    Index(None, "member_id", "value_date", "id"),
    # Employer lines only: most lines are member lines, whose NULL employer_id would cost an
    # index entry each (a million per month-end or interest settlement) for no query.
    Index(
        None,
        "employer_id",
        postgresql_where=text("employer_id IS NOT NULL"),
        sqlite_where=text("employer_id IS NOT NULL"),
    ),
)

member_balance = Table(
    "member_balance",
    metadata,
    Column("member_id", Id, ForeignKey("member.id"), primary_key=True),
    Column("carried_fen", Fen, nullable=False, server_default="0"),
    Column("current_fen", Fen, nullable=False, server_default="0"),
    # 积数 of the open interest year, projected to its end (预计积数), in fen·days per part.
    Column("accrual_carried", Fen, nullable=False, server_default="0"),
    Column("accrual_current", Fen, nullable=False, server_default="0"),
    # The database itself refuses an overdraft, whatever the interleaving of writers.
    CheckConstraint("carried_fen >= 0 AND current_fen >= 0", name="not_negative"),
    # Month-end and the interest settlement update every row in one statement. Half of each page
    # is left free so that every row's new version fits beside the old one (a HOT update: no
    # index entry, no new page); at 80 only a quarter of the rows did (decision 0048).
    postgresql_with={"fillfactor": "50"},
)

employer_balance = Table(
    "employer_balance",
    metadata,
    Column("employer_id", Id, ForeignKey("employer.id"), primary_key=True),
    Column("balance_fen", Fen, nullable=False, server_default="0"),
    CheckConstraint("balance_fen >= 0", name="not_negative"),
)

# A subject's totals are the sum of its stripes (decision 0034): each posting adds to the stripe
# of its database connection, so concurrent postings to one subject do not wait on one row.
SUBJECT_STRIPES = 16

subject_balance = Table(
    "subject_balance",
    metadata,
    Column("subject_code", String(10), ForeignKey("ledger_subject.code"), primary_key=True),
    Column("stripe", SmallInteger, primary_key=True, autoincrement=False, server_default="0"),
    Column("debit_fen", Fen, nullable=False, server_default="0"),
    Column("credit_fen", Fen, nullable=False, server_default="0"),
)

# The interest year member postings accrue in; exactly one is open (REFERENCE §2.2).
accrual_year = Table(
    "accrual_year",
    metadata,
    Column("year_end", Date, primary_key=True),
    Column("state", String(8), nullable=False),  # open | settled
    Column("settled_at", UtcDateTime()),
    CheckConstraint("state IN ('open', 'settled')", name="state"),
)
