"""The national loan registry, the account index and the inquiry log (decision 0031).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hpf.db.metadata import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_loan",
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("loan_ref", sa.String(length=30), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("contract_date", sa.Date(), nullable=False),
        sa.Column("disbursed_on", sa.Date(), nullable=True),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("center", "loan_ref", "person", name=op.f("pk_hub_loan")),
    )
    op.create_index(op.f("ix_hub_loan_person"), "hub_loan", ["person"])
    op.create_table(
        "hub_account",
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("account_ref", sa.String(length=30), nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("paid_through", sa.String(length=7), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("center", "account_ref", name=op.f("pk_hub_account")),
    )
    op.create_index(op.f("ix_hub_account_person"), "hub_account", ["person"])
    op.create_table(
        "hub_inquiry",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("center", sa.String(length=6), nullable=False),
        sa.Column("purpose", sa.String(length=2), nullable=False),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("asked_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_inquiry")),
        sa.UniqueConstraint("message_id", name=op.f("uq_hub_inquiry_message_id")),
    )
    op.create_index(op.f("ix_hub_inquiry_asked_at"), "hub_inquiry", ["asked_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_hub_inquiry_asked_at"), table_name="hub_inquiry")
    op.drop_table("hub_inquiry")
    op.drop_index(op.f("ix_hub_account_person"), table_name="hub_account")
    op.drop_table("hub_account")
    op.drop_index(op.f("ix_hub_loan_person"), table_name="hub_loan")
    op.drop_table("hub_loan")
