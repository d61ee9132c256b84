"""batch transfer messages: the BDC902/BDC906 that carried an item (decision 0036)

Revision ID: 0024
Revises: 0021
Create Date: 2026-12-06

``exchanged_message.batch_id``: for a single message carried inside a batch envelope (an item),
the batch's message id — the one it was packed into (out) or came in (in).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("exchanged_message", sa.Column("batch_id", sa.String(length=36), nullable=True))
    op.create_index(op.f("ix_exchanged_message_batch_id"), "exchanged_message", ["batch_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_exchanged_message_batch_id"), table_name="exchanged_message")
    with op.batch_alter_table("exchanged_message") as batch:
        batch.drop_column("batch_id")
