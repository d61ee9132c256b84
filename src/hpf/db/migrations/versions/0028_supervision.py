"""supervision at the center: problems dispatched by the hub, their steps and evidence, the
credit list (this center's entries and the national list) — decision 0040

Revision ID: 0028
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hpf.db.metadata import UtcDateTime

revision = "0028"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_listing",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("employer_id", sa.BigInteger(), nullable=True),
        sa.Column("grounds", sa.String(length=4), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("appeal_note", sa.String(length=300), nullable=True),
        sa.Column("removed_reason", sa.String(length=300), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("listed_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_listing")),
    )
    with op.batch_alter_table("credit_listing", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_listing_employer_id"), ["employer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_listing_member_id"), ["member_id"], unique=False)

    op.create_table(
        "credit_national",
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("entry_ref", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("employer_name", sa.String(length=100), nullable=True),
        sa.Column("grounds", sa.String(length=4), nullable=False),
        sa.Column("grounds_zh", sa.String(length=100), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("center", "entry_ref", name=op.f("pk_credit_national")),
    )
    with op.batch_alter_table("credit_national", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_national_uscc"), ["uscc"], unique=False)

    op.create_table(
        "sup_problem",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("hub_ref", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("title_zh", sa.String(length=200), nullable=False),
        sa.Column("detail_zh", sa.String(length=500), nullable=False),
        sa.Column("indicator", sa.String(length=12), nullable=True),
        sa.Column("value", sa.String(length=30), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sup_problem")),
        sa.UniqueConstraint("hub_ref", name=op.f("uq_sup_problem_hub_ref")),
    )
    with op.batch_alter_table("sup_problem", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sup_problem_state"), ["state"], unique=False)

    op.create_table(
        "sup_evidence",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("problem_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"], ["sup_problem.id"], name=op.f("fk_sup_evidence_problem_id_sup_problem")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sup_evidence")),
    )
    with op.batch_alter_table("sup_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sup_evidence_problem_id"), ["problem_id"], unique=False)

    op.create_table(
        "sup_problem_step",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("problem_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("step", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"], ["sup_problem.id"], name=op.f("fk_sup_problem_step_problem_id_sup_problem")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sup_problem_step")),
    )
    with op.batch_alter_table("sup_problem_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sup_problem_step_problem_id"), ["problem_id"], unique=False)
    op.create_table(
        "credit_review",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("remittance_id", sa.BigInteger(), nullable=False),
        sa.Column("employer_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("listed_by", sa.String(length=6), nullable=False),
        sa.Column("grounds_zh", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_review")),
        sa.UniqueConstraint("remittance_id", name=op.f("uq_credit_review_remittance_id")),
    )
    with op.batch_alter_table("credit_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_review_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("credit_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_review_state"))
    op.drop_table("credit_review")
    with op.batch_alter_table("sup_problem_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sup_problem_step_problem_id"))

    op.drop_table("sup_problem_step")
    with op.batch_alter_table("sup_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sup_evidence_problem_id"))

    op.drop_table("sup_evidence")
    with op.batch_alter_table("sup_problem", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sup_problem_state"))

    op.drop_table("sup_problem")
    with op.batch_alter_table("credit_national", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_national_uscc"))

    op.drop_table("credit_national")
    with op.batch_alter_table("credit_listing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_listing_member_id"))
        batch_op.drop_index(batch_op.f("ix_credit_listing_employer_id"))

    op.drop_table("credit_listing")
