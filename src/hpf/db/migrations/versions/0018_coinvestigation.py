"""co-investigation: the center's log of its inquiries to the hub (decision 0031)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

``network_inquiry``: every question this center asked the hub about a person (XC03), with its
purpose, who asked, when, the outcome and the facts answered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_inquiry",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=2), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("subject_bidx", sa.String(length=32), nullable=False),
        sa.Column("asked_by", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_inquiry")),
        sa.UniqueConstraint("message_id", name=op.f("uq_network_inquiry_message_id")),
    )
    op.create_index(op.f("ix_network_inquiry_subject_bidx"), "network_inquiry", ["subject_bidx"])
    op.create_index(op.f("ix_network_inquiry_asked_at"), "network_inquiry", ["asked_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_network_inquiry_asked_at"), table_name="network_inquiry")
    op.drop_index(op.f("ix_network_inquiry_subject_bidx"), table_name="network_inquiry")
    op.drop_table("network_inquiry")
