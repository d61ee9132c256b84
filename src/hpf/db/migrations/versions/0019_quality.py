"""data quality: scan runs, hits, scores, findings and their history (decision 0032)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_run",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rules", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_run")),
    )
    op.create_table(
        "quality_finding",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("first_run_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("last_seen_run_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("passed_run_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_run_id"], ["quality_run.id"], name=op.f("fk_quality_finding_first_run_id_quality_run")
        ),
        sa.ForeignKeyConstraint(
            ["last_seen_run_id"],
            ["quality_run.id"],
            name=op.f("fk_quality_finding_last_seen_run_id_quality_run"),
        ),
        sa.ForeignKeyConstraint(
            ["passed_run_id"], ["quality_run.id"], name=op.f("fk_quality_finding_passed_run_id_quality_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_finding")),
        sa.UniqueConstraint("rule_id", "object", name=op.f("uq_quality_finding_rule_id_object")),
    )
    with op.batch_alter_table("quality_finding", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quality_finding_last_seen_run_id"), ["last_seen_run_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_quality_finding_state_rule_id"), ["state", "rule_id"], unique=False
        )

    op.create_table(
        "quality_hit",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["quality_run.id"], name=op.f("fk_quality_hit_run_id_quality_run")
        ),
        sa.PrimaryKeyConstraint("run_id", "rule_id", "object", name=op.f("pk_quality_hit")),
    )
    op.create_table(
        "quality_score",
        sa.Column("run_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("failing", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["quality_run.id"], name=op.f("fk_quality_score_run_id_quality_run")
        ),
        sa.PrimaryKeyConstraint("run_id", "level", "key", name=op.f("pk_quality_score")),
    )
    op.create_table(
        "quality_finding_event",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("finding_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=400), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["quality_finding.id"],
            name=op.f("fk_quality_finding_event_finding_id_quality_finding"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["quality_run.id"], name=op.f("fk_quality_finding_event_run_id_quality_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_finding_event")),
    )
    with op.batch_alter_table("quality_finding_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quality_finding_event_finding_id_id"), ["finding_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("quality_finding_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_finding_event_finding_id_id"))

    op.drop_table("quality_finding_event")
    op.drop_table("quality_score")
    op.drop_table("quality_hit")
    with op.batch_alter_table("quality_finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_finding_state_rule_id"))
        batch_op.drop_index(batch_op.f("ix_quality_finding_last_seen_run_id"))

    op.drop_table("quality_finding")
    op.drop_table("quality_run")
