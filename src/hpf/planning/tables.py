"""Storage of fund operation and planning (decision 0038), private to ``hpf.planning``.

- ``liquidity_alert``: an indicator beyond its policy threshold on a business date, one row per
  (date, indicator); who acknowledged it (看过) and when;
- ``forecast_run``: the forecasts of every series computed on a day, as JSON (the page shows the
  latest; recomputing adds a run);
- ``plan_assumption``: the annual 归集使用计划's assumptions, one version per save (never
  overwritten), by year;
- ``whatif_run``: a policy what-if run as a job: its parameters, state and result;
- ``early_warning``: a loan put on the early-warning queue by a rule, first on ``warned_on``.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, Index, Integer, String, Table, UniqueConstraint

from hpf.db.metadata import Id, UtcDateTime, metadata

liquidity_alert = Table(
    "liquidity_alert",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("indicator", String(40), nullable=False),
    Column("value", String(40), nullable=False),  # the indicator's value as shown (decimal text or fen)
    Column("threshold", String(40), nullable=False),
    Column("message_zh", String(200), nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("acknowledged_by", String(64)),
    Column("acknowledged_at", UtcDateTime()),
    UniqueConstraint("business_date", "indicator"),
)

forecast_run = Table(
    "forecast_run",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False, index=True),
    Column("computed_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("result", JSON, nullable=False),  # [Forecast.to_json(), ...]
)

plan_assumption = Table(
    "plan_assumption",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("year", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("assumptions", JSON, nullable=False),
    Column("note", String(200), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("saved_at", UtcDateTime(), nullable=False),
    UniqueConstraint("year", "version"),
)

whatif_run = Table(
    "whatif_run",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("state", String(10), nullable=False),  # queued, running, done, failed
    Column("params", JSON, nullable=False),
    Column("result", JSON),
    Column("error", String(200)),
    Column("actor", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
)

early_warning = Table(
    "early_warning",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("loan_id", Id, nullable=False),
    Column("rule", String(40), nullable=False),
    Column("warned_on", Date, nullable=False),
    Column("detail", String(200), nullable=False),
    UniqueConstraint("loan_id", "rule"),
)
Index("ix_early_warning_warned_on", early_warning.c.warned_on)
