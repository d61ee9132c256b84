"""journal_line's employer index holds employer lines only

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

Member lines (nearly all of them) have no employer: their NULL keys were a million index entries
per month-end or interest settlement that no query reads. Rebuilding the index takes a write lock
on journal_line for the time of one scan of it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_WHERE = sa.text("employer_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("journal_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_line_employer_id"))
        batch_op.create_index(
            batch_op.f("ix_journal_line_employer_id"),
            ["employer_id"],
            unique=False,
            postgresql_where=_WHERE,
            sqlite_where=_WHERE,
        )


def downgrade() -> None:
    with op.batch_alter_table("journal_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_line_employer_id"))
        batch_op.create_index(batch_op.f("ix_journal_line_employer_id"), ["employer_id"], unique=False)
