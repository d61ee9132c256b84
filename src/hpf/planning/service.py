"""The planning package's use cases: forecasts computed and stored, the liquidity view.

Forecasting every series takes seconds (statsmodels fits and back-tests each); a run is stored
(``forecast_run``) and the pages read the latest, so a page never fits a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, select

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.context import Context
from hpf.planning.forecast import Forecast, forecast_series
from hpf.planning.liquidity import Alert, Indicators, current_alerts, indicators
from hpf.planning.series import monthly_history
from hpf.planning.tables import forecast_run


@dataclass(frozen=True)
class ForecastRun:
    id: int
    business_date: date
    computed_at: datetime
    actor: str
    forecasts: list[Forecast]


def compute_forecasts(conn: Connection, on: date) -> list[Forecast]:
    """Every series' forecast from the history before ``on``'s month (not stored)."""
    return [forecast_series(s) for s in monthly_history(conn, on)]


def run_forecasts(engine: Engine, ctx: Context, on: date) -> ForecastRun:
    """Compute the forecasts (outside any write transaction: fitting takes seconds) and store them."""
    with read_transaction(engine) as conn:
        forecasts = compute_forecasts(conn, on)
    with write_transaction(engine) as conn:
        return store_forecasts(conn, ctx, on, forecasts)


def store_forecasts(conn: Connection, ctx: Context, on: date, forecasts: list[Forecast]) -> ForecastRun:
    now = ctx.clock.now()
    run_id = conn.execute(
        forecast_run.insert()
        .values(business_date=on, computed_at=now, actor=ctx.actor, result=[f.to_json() for f in forecasts])
        .returning(forecast_run.c.id)
    ).scalar_one()
    return ForecastRun(int(run_id), on, now, ctx.actor, forecasts)


def latest_forecasts(conn: Connection) -> ForecastRun | None:
    """The latest stored forecast run, if any."""
    f = forecast_run.c
    row = conn.execute(select(forecast_run).order_by(f.business_date.desc(), f.id.desc()).limit(1)).first()
    if row is None:
        return None
    return ForecastRun(int(row.id), row.business_date, row.computed_at, row.actor,
                       [Forecast.from_json(d) for d in row.result])  # fmt: skip


@dataclass(frozen=True)
class LiquidityView:
    indicators: Indicators
    alerts: list[Alert]
    forecast_run: ForecastRun | None


def liquidity_view(conn: Connection, on: date) -> LiquidityView:
    """The liquidity page: the day's indicators (the latest forecasts' outflows) and alerts."""
    run = latest_forecasts(conn)
    ind = indicators(conn, on, run.forecasts if run else [])
    return LiquidityView(ind, current_alerts(conn, ind), run)
