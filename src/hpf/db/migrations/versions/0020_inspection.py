"""electronic audit: runs of the rule pack, findings, cases and case steps; staff ID (decision 0033)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

``inspection_run``: one row per run of the pack. ``inspection_finding``: what each run found,
one row per rule and object. ``inspection_case``: one case per rule and object, across runs.
``inspection_case_step``: every step of a case (opened, assigned, noted, confirmed, cleared).
``staff_identity``: a staff member's resident ID as its blind index (the staff register), to
find staff acting on their own or a relative's account.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")


def _id_column(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, _ID, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff_identity",
        _id_column("principal_id"),
        sa.Column("resident_id_bidx", sa.String(length=32), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principal.id"], name=op.f("fk_staff_identity_principal_id_principal")
        ),
        sa.PrimaryKeyConstraint("principal_id", name=op.f("pk_staff_identity")),
    )
    op.create_index(
        op.f("ix_staff_identity_resident_id_bidx"), "staff_identity", ["resident_id_bidx"], unique=False
    )
    op.create_table(
        "inspection_run",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("new_cases", sa.Integer(), nullable=False),
        sa.Column("by_rule", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_run")),
    )
    op.create_table(
        "inspection_case",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=14), nullable=False),
        _id_column("opened_run_id"),
        _id_column("last_run_id"),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("recover_fen", sa.BigInteger(), nullable=True),
        sa.Column("conclusion", sa.String(length=500), nullable=True),
        sa.Column("concluded_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "state IN ('open', 'assigned', 'investigating', 'confirmed', 'cleared')",
            name=op.f("ck_inspection_case_state"),
        ),
        sa.CheckConstraint(
            "recover_fen IS NULL OR recover_fen >= 0", name=op.f("ck_inspection_case_recover_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"], ["inspection_run.id"], name=op.f("fk_inspection_case_last_run_id_inspection_run")
        ),
        sa.ForeignKeyConstraint(
            ["opened_run_id"],
            ["inspection_run.id"],
            name=op.f("fk_inspection_case_opened_run_id_inspection_run"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_case")),
    )
    op.create_index(
        op.f("ix_inspection_case_rule_object"), "inspection_case", ["rule", "object"], unique=True
    )
    op.create_index(op.f("ix_inspection_case_state_rule"), "inspection_case", ["state", "rule"], unique=False)
    op.create_table(
        "inspection_finding",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _id_column("run_id"),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["inspection_run.id"], name=op.f("fk_inspection_finding_run_id_inspection_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_finding")),
    )
    op.create_index(
        op.f("ix_inspection_finding_rule_object"), "inspection_finding", ["rule", "object"], unique=False
    )
    op.create_index(
        op.f("ix_inspection_finding_run_id_rule"), "inspection_finding", ["run_id", "rule"], unique=False
    )
    op.create_table(
        "inspection_case_step",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _id_column("case_id"),
        sa.Column("step", sa.String(length=12), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["inspection_case.id"], name=op.f("fk_inspection_case_step_case_id_inspection_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_case_step")),
    )
    op.create_index(
        op.f("ix_inspection_case_step_case_id"), "inspection_case_step", ["case_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inspection_case_step_case_id"), table_name="inspection_case_step")
    op.drop_table("inspection_case_step")
    op.drop_index(op.f("ix_inspection_finding_run_id_rule"), table_name="inspection_finding")
    op.drop_index(op.f("ix_inspection_finding_rule_object"), table_name="inspection_finding")
    op.drop_table("inspection_finding")
    op.drop_index(op.f("ix_inspection_case_state_rule"), table_name="inspection_case")
    op.drop_index(op.f("ix_inspection_case_rule_object"), table_name="inspection_case")
    op.drop_table("inspection_case")
    op.drop_table("inspection_run")
    op.drop_index(op.f("ix_staff_identity_resident_id_bidx"), table_name="staff_identity")
    op.drop_table("staff_identity")
