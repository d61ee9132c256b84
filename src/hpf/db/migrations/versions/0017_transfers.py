"""cross-center transfer (转移接续): transfers, carried months, messages by letter (decision 0030)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

``transfer``: one cross-center transfer as this center sees it (side ``in`` or ``out``).
``carried_month``: months a member deposited at another center, carried in by a transfer and
counted with the posted lists' months. ``exchanged_message.letter_no``: the transfer a message
is about, for its timeline.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "carried_month",
        sa.Column("member_id", _ID, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("letter_no", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_carried_month_member_id_member")),
        sa.PrimaryKeyConstraint("member_id", "month", name=op.f("pk_carried_month")),
    )
    op.create_table(
        "transfer",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("letter_no", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=3), nullable=False),
        sa.Column("peer", sa.String(length=6), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("member_id", _ID, nullable=True),
        sa.Column("application_id", _ID, nullable=True),
        sa.Column("letter_message_id", sa.String(length=36), nullable=True),
        sa.Column("out_message_id", sa.String(length=36), nullable=True),
        sa.Column("principal_fen", sa.BigInteger(), nullable=True),
        sa.Column("interest_fen", sa.BigInteger(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("order_no", sa.String(length=32), nullable=True),
        sa.Column("payment_order_id", _ID, nullable=True),
        sa.Column("notice_no", sa.String(length=40), nullable=True),
        sa.Column("credit_entry_id", _ID, nullable=True),
        sa.Column("checks", sa.JSON(), nullable=True),
        sa.Column("carried", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('in', 'out')", name=op.f("ck_transfer_side")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["application.id"], name=op.f("fk_transfer_application_id_application")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name=op.f("fk_transfer_member_id_member")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer")),
        sa.UniqueConstraint("letter_no", name=op.f("uq_transfer_letter_no")),
    )
    op.create_index(op.f("ix_transfer_order_no"), "transfer", ["order_no"], unique=False)
    op.create_index(op.f("ix_transfer_state"), "transfer", ["state"], unique=False)
    op.add_column("exchanged_message", sa.Column("letter_no", sa.String(length=16), nullable=True))
    op.create_index(op.f("ix_exchanged_message_letter_no"), "exchanged_message", ["letter_no"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_exchanged_message_letter_no"), table_name="exchanged_message")
    with op.batch_alter_table("exchanged_message") as batch:
        batch.drop_column("letter_no")
    op.drop_index(op.f("ix_transfer_state"), table_name="transfer")
    op.drop_index(op.f("ix_transfer_order_no"), table_name="transfer")
    op.drop_table("transfer")
    op.drop_table("carried_month")
