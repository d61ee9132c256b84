"""a transfer's payout number unique per side, no placeholder; bank notices found by reference

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-06

An empty account's transfer kept the placeholder "NONE" as its payout number, shared by every
such transfer; the number is now NULL there and unique per side, since the bank's credit finds
its transfer by it. ``bank_notice.ref_seq_no`` gets the index that the lookup of an unclaimed
credit by the payer's serial needs.
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE transfer SET order_no = NULL WHERE order_no = 'NONE'")
    op.drop_index(op.f("ix_transfer_order_no"), table_name="transfer")
    op.create_index(op.f("ix_transfer_side_order_no"), "transfer", ["side", "order_no"], unique=True)
    op.create_index(op.f("ix_bank_notice_ref_seq_no"), "bank_notice", ["ref_seq_no"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bank_notice_ref_seq_no"), table_name="bank_notice")
    op.drop_index(op.f("ix_transfer_side_order_no"), table_name="transfer")
    op.create_index(op.f("ix_transfer_order_no"), "transfer", ["order_no"], unique=False)
