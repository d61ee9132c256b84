"""Storage of remittance lists, their rows, bank receipts and arrears."""

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
)

from hpf.db.metadata import Fen, Id, UtcDateTime, metadata

remittance = Table(
    "remittance",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("employer_id", Id, ForeignKey("employer.id"), nullable=False),
    Column("kind", String(2), nullable=False),  # 01 汇缴 remittance, 02 补缴 back payment
    Column("month", String(7), nullable=False),  # 汇补缴年月 HBJNY
    Column("state", String(10), nullable=False),  # pending | posted | cancelled
    Column("members", Integer, nullable=False),
    Column("employer_part_fen", Fen, nullable=False),
    Column("member_part_fen", Fen, nullable=False),
    Column("total_fen", Fen, nullable=False),
    Column("source", String(10), nullable=False),  # api | csv | xlsx | sim
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("created_on", Date, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("posted_entry_id", Id, ForeignKey("journal_entry.id")),
    Column("posted_on", Date),
    # A listed employer's list under the stricter review (decision 0040/0042): ``held`` (not
    # posted until a reviewer passes it), ``passed`` (posted as usual from then on), ``returned``
    # (refused: the list is cancelled, the reviewer's note kept); NULL for every other list.
    Column("review", String(10)),
    Column("review_note", String(300)),
    CheckConstraint("kind IN ('01', '02')", name="kind"),
    CheckConstraint("state IN ('pending', 'posted', 'cancelled')", name="state"),
    Index(None, "employer_id", "kind", "month"),
    Index(None, "state", "employer_id"),
)

remittance_row = Table(
    "remittance_row",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("remittance_id", Id, ForeignKey("remittance.id"), nullable=False, index=True),
    Column("member_id", Id, ForeignKey("member.id"), nullable=False, index=True),
    Column("base_fen", Fen, nullable=False),
    Column("employer_fen", Fen, nullable=False),
    Column("member_fen", Fen, nullable=False),
    CheckConstraint(
        "employer_fen >= 0 AND member_fen >= 0 AND employer_fen + member_fen > 0", name="amounts"
    ),
)

receipt = Table(
    "receipt",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("employer_id", Id, ForeignKey("employer.id"), nullable=False, index=True),
    Column(
        "bank_ref", String(40), nullable=False, unique=True
    ),  # the bank's serial: a second notice is a no-op
    Column("amount_fen", Fen, nullable=False),
    Column("value_date", Date, nullable=False),
    Column("entry_id", Id, ForeignKey("journal_entry.id"), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
)

arrears = Table(
    "arrears",
    metadata,
    Column("employer_id", Id, ForeignKey("employer.id"), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("expected_fen", Fen, nullable=False),
    Column("state", String(10), nullable=False),  # open | cleared
    Column("marked_on", Date, nullable=False),
    Column("cleared_on", Date),
    CheckConstraint("state IN ('open', 'cleared')", name="state"),
)

# Months a member deposited at another center, carried in by a cross-center transfer (转移接续,
# BDC905; decision 0030): counted with the posted lists' months by every rule that counts months
# of deposit (``queries.member_posted_months``, ``posted_months``). One row per member and month:
# a month deposited at both centers counts once.
carried_month = Table(
    "carried_month",
    metadata,
    Column("member_id", Id, ForeignKey("member.id"), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM
    Column("letter_no", String(16), nullable=False),  # the transfer's 联系函编号
    Column("recorded_at", UtcDateTime(), nullable=False),
)
