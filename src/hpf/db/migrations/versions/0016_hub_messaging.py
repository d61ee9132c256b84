"""the center's side of the hub: known centers and exchanged messages (decision 0027)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

``peer_center``: other centers as the hub's BDC909 lookup described them. ``exchanged_message``:
every message sent (the outbox's sealed envelopes) or received (the inbox, one per message id).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "peer_center",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("province", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("sign_key", sa.String(length=128), nullable=False),
        sa.Column("encrypt_key", sa.String(length=128), nullable=False),
        sa.Column("looked_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_peer_center")),
    )
    op.create_table(
        "exchanged_message",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("type", sa.String(length=6), nullable=False),
        sa.Column("peer", sa.String(length=6), nullable=False),
        sa.Column("reply_to", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_exchanged_message")),
    )
    op.create_index(
        op.f("ix_exchanged_message_state_next_attempt_at"),
        "exchanged_message",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.create_index(op.f("ix_exchanged_message_reply_to"), "exchanged_message", ["reply_to"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_exchanged_message_reply_to"), table_name="exchanged_message")
    op.drop_index(op.f("ix_exchanged_message_state_next_attempt_at"), table_name="exchanged_message")
    op.drop_table("exchanged_message")
    op.drop_table("peer_center")
