"""indexes the transfer benchmark needed: a member's transfer, an application's

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06

Filing a transfer application looked up the member's transfer under way and the application's
transfer by columns without an index: a full scan of ``transfer`` per application, quadratic over
a bulk move (decision 0041).
"""

from __future__ import annotations

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_transfer_member_id"), "transfer", ["member_id"], unique=False)
    op.create_index(op.f("ix_transfer_application_id"), "transfer", ["application_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_transfer_application_id"), table_name="transfer")
    op.drop_index(op.f("ix_transfer_member_id"), table_name="transfer")
