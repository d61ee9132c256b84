"""subject balances in stripes: concurrent postings to one subject lock different rows (decision 0034)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

``subject_balance`` was one row per subject, updated by every posting and locked until its
commit: on PostgreSQL every money-moving request waited for the one before it. Now a subject has
``SUBJECT_STRIPES`` (16) rows, its totals their sum; a posting adds to the stripe of its
connection. The existing totals move to stripe 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

STRIPES = 16


def upgrade() -> None:
    op.create_table(
        "subject_balance_striped",
        sa.Column("subject_code", sa.String(length=10), nullable=False),
        sa.Column("stripe", sa.SmallInteger(), server_default="0", autoincrement=False, nullable=False),
        sa.Column("debit_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("credit_fen", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        "INSERT INTO subject_balance_striped (subject_code, stripe, debit_fen, credit_fen) "
        "SELECT subject_code, 0, debit_fen, credit_fen FROM subject_balance"
    )
    stripes = " UNION ALL ".join(f"SELECT {n} AS n" for n in range(1, STRIPES))
    op.execute(
        "INSERT INTO subject_balance_striped (subject_code, stripe, debit_fen, credit_fen) "
        f"SELECT b.subject_code, s.n, 0, 0 FROM subject_balance b CROSS JOIN ({stripes}) s"
    )
    op.drop_table("subject_balance")
    op.rename_table("subject_balance_striped", "subject_balance")
    with op.batch_alter_table("subject_balance") as batch:
        batch.create_primary_key("pk_subject_balance", ["subject_code", "stripe"])
        batch.create_foreign_key(
            "fk_subject_balance_subject_code_ledger_subject", "ledger_subject", ["subject_code"], ["code"]
        )


def downgrade() -> None:
    op.create_table(
        "subject_balance_single",
        sa.Column("subject_code", sa.String(length=10), nullable=False),
        sa.Column("debit_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("credit_fen", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.execute(
        "INSERT INTO subject_balance_single (subject_code, debit_fen, credit_fen) "
        "SELECT subject_code, SUM(debit_fen), SUM(credit_fen) FROM subject_balance GROUP BY subject_code"
    )
    op.drop_table("subject_balance")
    op.rename_table("subject_balance_single", "subject_balance")
    with op.batch_alter_table("subject_balance") as batch:
        batch.create_primary_key("pk_subject_balance", ["subject_code"])
        batch.create_foreign_key(
            "fk_subject_balance_subject_code_ledger_subject", "ledger_subject", ["subject_code"], ["code"]
        )
