"""The sides of each transfer as the centers report them, for reconciliation (decision 0035).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hpf.db.metadata import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_transfer_report",
        sa.Column("letter_no", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=3), nullable=False),
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("peer", sa.String(length=6), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("order_no", sa.String(length=32), nullable=True),
        sa.Column("paid_fen", sa.BigInteger(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("credited_fen", sa.BigInteger(), nullable=True),
        sa.Column("credited_on", sa.Date(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("letter_no", "side", name=op.f("pk_hub_transfer_report")),
    )


def downgrade() -> None:
    op.drop_table("hub_transfer_report")
