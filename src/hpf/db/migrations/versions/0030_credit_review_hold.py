"""a listed employer's list held until its review; good-credit employers' applications served
first (decision 0042)

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("remittance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("review_note", sa.String(length=300), nullable=True))
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fast_track", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_column("fast_track")
    with op.batch_alter_table("remittance", schema=None) as batch_op:
        batch_op.drop_column("review_note")
        batch_op.drop_column("review")
