"""Supervision: staff role and scope, indicator values, policy, classes, problems, credit list
(decision 0040).

Revision ID: 0006
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hpf.db.metadata import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("hub_staff") as batch:
        batch.add_column(sa.Column("role", sa.String(length=12), server_default="admin", nullable=False))
        batch.add_column(sa.Column("scope", sa.String(length=20), server_default="nation", nullable=False))
    op.create_table(
        "hub_indicator_value",
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("indicator", sa.String(length=12), nullable=False),
        sa.Column("value", sa.Numeric(precision=24, scale=6), nullable=False),
        sa.Column("reported_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("center", "month", "indicator", name=op.f("pk_hub_indicator_value")),
    )
    op.create_table(
        "hub_sup_event",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("detail_zh", sa.String(length=300), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_sup_event")),
        sa.UniqueConstraint("center", "kind", "ref", name=op.f("uq_hub_sup_event_center_kind_ref")),
    )
    op.create_index(op.f("ix_hub_sup_event_month"), "hub_sup_event", ["month"])
    op.create_table(
        "hub_sup_policy",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", UtcDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_sup_policy")),
        sa.UniqueConstraint("version", name=op.f("uq_hub_sup_policy_version")),
    )
    op.create_table(
        "hub_center_class",
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Numeric(precision=7, scale=2), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("deciding", sa.JSON(), nullable=False),
        sa.Column("computed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("center", "month", name=op.f("pk_hub_center_class")),
    )
    op.create_index(op.f("ix_hub_center_class_month"), "hub_center_class", ["month"])
    op.create_table(
        "hub_problem",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=30), nullable=True),
        sa.Column("title_zh", sa.String(length=200), nullable=False),
        sa.Column("detail_zh", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("overdue_on", sa.Date(), nullable=True),
        sa.Column("dispatched_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("found_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_problem")),
        sa.UniqueConstraint(
            "center", "month", "rule", "subject", name=op.f("uq_hub_problem_center_month_rule_subject")
        ),
    )
    op.create_index(op.f("ix_hub_problem_state"), "hub_problem", ["state"])
    op.create_table(
        "hub_problem_step",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("problem_id", ID, nullable=False),
        sa.Column("step", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["problem_id"], ["hub_problem.id"], name=op.f("fk_hub_problem_step_problem_id_hub_problem")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_problem_step")),
    )
    op.create_index(op.f("ix_hub_problem_step_problem_id"), "hub_problem_step", ["problem_id"])
    op.create_table(
        "hub_credit_entry",
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("entry_ref", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=True),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("employer_name", sa.String(length=100), nullable=True),
        sa.Column("grounds", sa.String(length=4), nullable=False),
        sa.Column("grounds_zh", sa.String(length=100), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("center", "entry_ref", name=op.f("pk_hub_credit_entry")),
    )
    op.create_index(op.f("ix_hub_credit_entry_person"), "hub_credit_entry", ["person"])
    op.create_index(op.f("ix_hub_credit_entry_uscc"), "hub_credit_entry", ["uscc"])


def downgrade() -> None:
    for table in (
        "hub_credit_entry",
        "hub_problem_step",
        "hub_problem",
        "hub_center_class",
        "hub_sup_policy",
        "hub_sup_event",
        "hub_indicator_value",
    ):
        op.drop_table(table)
    with op.batch_alter_table("hub_staff") as batch:
        batch.drop_column("scope")
        batch.drop_column("role")
