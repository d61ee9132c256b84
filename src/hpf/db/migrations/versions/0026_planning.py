"""fund operation and planning: liquidity alerts, forecast runs, plan assumptions, what-if runs,
early warnings (decision 0038)

Revision ID: 0026
Revises: 0021
Create Date: 2026-12-06

``liquidity_alert``: an indicator beyond its threshold on a day and who acknowledged it.
``forecast_run``: the forecasts of a day as JSON. ``plan_assumption``: the annual plan's
assumptions, one version per save. ``whatif_run``: a policy what-if job. ``early_warning``: a loan
on the early-warning queue, by rule, with the day it was first warned.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0024"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.INTEGER(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "liquidity_alert",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("indicator", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=40), nullable=False),
        sa.Column("threshold", sa.String(length=40), nullable=False),
        sa.Column("message_zh", sa.String(length=200), nullable=False),
        sa.Column("raised_at", _TS, nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_liquidity_alert")),
        sa.UniqueConstraint(
            "business_date", "indicator", name=op.f("uq_liquidity_alert_business_date_indicator")
        ),
    )
    op.create_table(
        "forecast_run",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("computed_at", _TS, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_run")),
    )
    op.create_index(op.f("ix_forecast_run_business_date"), "forecast_run", ["business_date"], unique=False)
    op.create_table(
        "plan_assumption",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("assumptions", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("saved_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_assumption")),
        sa.UniqueConstraint("year", "version", name=op.f("uq_plan_assumption_year_version")),
    )
    op.create_table(
        "whatif_run",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatif_run")),
    )
    op.create_table(
        "early_warning",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("loan_id", _ID, nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("warned_on", sa.Date(), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_warning")),
        sa.UniqueConstraint("loan_id", "rule", name=op.f("uq_early_warning_loan_id_rule")),
    )
    op.create_index("ix_early_warning_warned_on", "early_warning", ["warned_on"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_early_warning_warned_on", table_name="early_warning")
    op.drop_table("early_warning")
    op.drop_table("whatif_run")
    op.drop_table("plan_assumption")
    op.drop_index(op.f("ix_forecast_run_business_date"), table_name="forecast_run")
    op.drop_table("forecast_run")
    op.drop_table("liquidity_alert")
