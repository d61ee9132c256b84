"""loan bank debit (委托扣款)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28

The borrower's debit card on the loan (sealed, ``loan.debit_card_enc``) and ``loan_debit``:
one BDC105 贷款扣款 item per bank-debit loan and month, with the bank's answer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("loan", schema=None) as batch_op:
        batch_op.add_column(sa.Column("debit_card_enc", sa.String(length=108), nullable=True))
    op.create_table(
        "loan_debit",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("loan_id", _ID, nullable=False),
        sa.Column("seq_no", sa.String(length=32), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("bank_seq_no", sa.String(length=40), nullable=True),
        sa.Column("ret_code", sa.String(length=10), nullable=True),
        sa.Column("ret_msg", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'success', 'failed')", name=op.f("ck_loan_debit_state")),
        sa.CheckConstraint(
            "amount_fen = principal_fen + interest_fen AND amount_fen > 0", name=op.f("ck_loan_debit_amounts")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loan.id"], name=op.f("fk_loan_debit_loan_id_loan")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_debit")),
        sa.UniqueConstraint("month", "loan_id", name=op.f("uq_loan_debit_month_loan_id")),
        sa.UniqueConstraint("seq_no", name=op.f("uq_loan_debit_seq_no")),
    )
    op.create_index(op.f("ix_loan_debit_month_state"), "loan_debit", ["month", "state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_loan_debit_month_state"), table_name="loan_debit")
    op.drop_table("loan_debit")
    with op.batch_alter_table("loan", schema=None) as batch_op:
        batch_op.drop_column("debit_card_enc")
