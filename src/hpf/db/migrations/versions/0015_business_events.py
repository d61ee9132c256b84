"""business events and their consumers' cursors (decision 0025)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10

``business_event``: one row per state change of a business object, written in the transaction
of the change. ``event_cursor``: per consumer, the last event it processed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "business_event",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("object_kind", sa.String(length=30), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_event")),
    )
    op.create_index(op.f("ix_business_event_type_id"), "business_event", ["type", "id"], unique=False)
    op.create_index(
        op.f("ix_business_event_object_kind_object_id_id"),
        "business_event",
        ["object_kind", "object_id", "id"],
        unique=False,
    )
    op.create_table(
        "event_cursor",
        sa.Column("consumer", sa.String(length=60), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_event_cursor")),
    )


def downgrade() -> None:
    op.drop_table("event_cursor")
    op.drop_index(op.f("ix_business_event_object_kind_object_id_id"), table_name="business_event")
    op.drop_index(op.f("ix_business_event_type_id"), table_name="business_event")
    op.drop_table("business_event")
