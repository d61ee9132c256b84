"""supervision reporting: the reporting pseudonyms and the reports sent (decision 0039)

Revision ID: 0027
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hpf.db.metadata import UtcDateTime

revision = "0027"
down_revision = "0021"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "supervision_person",
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_supervision_person")),
    )
    op.create_table(
        "supervision_report",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("indicators", sa.Integer(), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_report")),
        sa.UniqueConstraint("report_id", name=op.f("uq_supervision_report_report_id")),
    )
    op.create_index(
        op.f("ix_supervision_report_month_version"), "supervision_report", ["month", "version"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_supervision_report_month_version"), table_name="supervision_report")
    op.drop_table("supervision_report")
    op.drop_table("supervision_person")
