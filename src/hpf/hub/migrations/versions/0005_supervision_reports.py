"""The national warehouse's register of supervision reports (decision 0039).

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hpf.db.metadata import UtcDateTime

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_report",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("chunks_received", sa.Integer(), nullable=False),
        sa.Column("members_total", sa.BigInteger(), nullable=False),
        sa.Column("indicators", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("first_message_id", sa.String(length=36), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_hub_report")),
    )
    op.create_index(
        op.f("ix_hub_report_center_month_version"), "hub_report", ["center", "month", "version"], unique=True
    )
    op.create_index(op.f("ix_hub_report_state_month"), "hub_report", ["state", "month"])
    op.create_table(
        "hub_report_chunk",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["hub_report.report_id"], name=op.f("fk_hub_report_chunk_report_id_hub_report")
        ),
        sa.PrimaryKeyConstraint("report_id", "chunk", name=op.f("pk_hub_report_chunk")),
    )


def downgrade() -> None:
    op.drop_table("hub_report_chunk")
    op.drop_index(op.f("ix_hub_report_state_month"), table_name="hub_report")
    op.drop_index(op.f("ix_hub_report_center_month_version"), table_name="hub_report")
    op.drop_table("hub_report")
