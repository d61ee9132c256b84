"""member_balance pages half free on PostgreSQL, so that updating every row is HOT (decision 0048)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Only pages written from now on keep the room; existing pages get it as month-end and
    # settlement rewrite their rows and vacuum frees the old versions (or at once by VACUUM FULL
    # in a maintenance window). SQLite has no fill factor.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE member_balance SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE member_balance SET (fillfactor = 80)")
