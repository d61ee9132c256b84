"""sign-in throttling by login and address (decision 0018)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

``sign_in_throttle``: failed sign-ins counted per login and address, per address and per login
from everywhere, with the lock each may have reached.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("login_hash", sa.String(length=64), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )
    op.create_index(op.f("ix_sign_in_throttle_login_hash"), "sign_in_throttle", ["login_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sign_in_throttle_login_hash"), table_name="sign_in_throttle")
    op.drop_table("sign_in_throttle")
