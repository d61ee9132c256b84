"""The hub's first schema: registry of centers, messages (inbox and outbox), staff and sessions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hpf.db.metadata import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_center",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("province", sa.String(length=20), nullable=False),
        sa.Column("endpoint", sa.String(length=300), nullable=False),
        sa.Column("sign_key", sa.String(length=128), nullable=False),
        sa.Column("encrypt_key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("registered_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_hub_center")),
    )
    op.create_table(
        "hub_message",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=6), nullable=False),
        sa.Column("sender", sa.String(length=6), nullable=False),
        sa.Column("recipient", sa.String(length=6), nullable=False),
        sa.Column("reply_to", sa.String(length=36), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("route", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_hub_message")),
    )
    with op.batch_alter_table("hub_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_message_received_at"), ["received_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_hub_message_state_next_attempt_at"), ["state", "next_attempt_at"], unique=False
        )

    op.create_table(
        "hub_staff",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_staff")),
        sa.UniqueConstraint("login", name=op.f("uq_hub_staff_login")),
    )
    op.create_table(
        "hub_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["hub_staff.id"], name=op.f("fk_hub_session_staff_id_hub_staff")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_hub_session")),
    )


def downgrade() -> None:
    op.drop_table("hub_session")
    op.drop_table("hub_staff")
    with op.batch_alter_table("hub_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_message_state_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_hub_message_received_at"))

    op.drop_table("hub_message")
    op.drop_table("hub_center")
