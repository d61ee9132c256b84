"""Forecasts 12 months ahead per monthly series, the model chosen by back-testing (D1).

For each series the candidates that its history allows are fitted on all but the last
``BACKTEST_MONTHS`` months and scored on those months (WAPE: Σ|error| ÷ Σ|actual|, and MAE);
the best is refitted on the whole history and forecast ``HORIZON`` months with its 80% and 95%
prediction intervals (the fan chart). The back-test error is kept with the forecast and shown.

A series with fewer than ``MIN_MONTHS`` months is not forecast: its result says so
(``too_little_history``), with the months it has and the months it needs. Seasonal candidates
need two full years (``SEASONAL_MONTHS``), SARIMA three.

Values are fen; forecasts are rounded to whole fen (ROUND_HALF_UP) and never below zero.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hpf.jobs import JSONValue
from hpf.planning.series import MonthlySeries, next_month

HORIZON = 12
BACKTEST_MONTHS = 6
MIN_MONTHS = 18  # fewer: too little history to forecast and back-test
SEASONAL_MONTHS = 24
SARIMA_MONTHS = 36

MODEL_ZH = {
    "ets_level": "指数平滑（水平）",
    "ets_damped": "指数平滑（阻尼趋势）",
    "ets_seasonal": "指数平滑（阻尼趋势＋季节）",
    "sarima": "季节性自回归积分滑动平均模型",
}


@dataclass(frozen=True)
class Backtest:
    model: str
    wape: str  # Decimal text, a fraction (0.083 = 8.3%); "" when the actuals sum to zero
    mae_fen: int


@dataclass(frozen=True)
class Forecast:
    name: str
    history_months: list[str]
    history_fen: list[int]
    status: str  # "ok" or "too_little_history"
    message_zh: str
    model: str = ""
    backtests: tuple[Backtest, ...] = ()
    months: tuple[str, ...] = ()
    mean_fen: tuple[int, ...] = ()
    lo80_fen: tuple[int, ...] = ()
    hi80_fen: tuple[int, ...] = ()
    lo95_fen: tuple[int, ...] = ()
    hi95_fen: tuple[int, ...] = ()

    @property
    def chosen(self) -> Backtest | None:
        return next((b for b in self.backtests if b.model == self.model), None)

    def to_json(self) -> dict[str, JSONValue]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Forecast:
        fields = dict(data)
        fields["backtests"] = tuple(Backtest(**b) for b in data.get("backtests", ()))
        for key in ("months", "mean_fen", "lo80_fen", "hi80_fen", "lo95_fen", "hi95_fen"):
            fields[key] = tuple(data.get(key, ()))
        return cls(**fields)


Band = tuple[list[float], list[float], list[float], list[float], list[float]]  # mean, lo80, hi80, lo95, hi95


def _ets(trend: bool, seasonal: bool) -> Callable[[Sequence[float], int], Band]:
    def run(values: Sequence[float], steps: int) -> Band:
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        y = pd.Series([float(v) for v in values])
        model = ETSModel(
            y,
            error="add",
            trend="add" if trend else None,
            damped_trend=trend,
            seasonal="add" if seasonal else None,
            seasonal_periods=12 if seasonal else None,
        ).fit(disp=False)
        prediction = model.get_prediction(start=len(y), end=len(y) + steps - 1)
        f80, f95 = prediction.summary_frame(alpha=0.2), prediction.summary_frame(alpha=0.05)
        return (
            list(f80["mean"]),
            list(f80["pi_lower"]),
            list(f80["pi_upper"]),
            list(f95["pi_lower"]),
            list(f95["pi_upper"]),
        )

    return run


def _sarima(values: Sequence[float], steps: int) -> Band:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    fit = SARIMAX([float(v) for v in values], order=(1, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=False)
    fc = fit.get_forecast(steps)
    c80, c95 = fc.conf_int(alpha=0.2), fc.conf_int(alpha=0.05)
    return (
        list(fc.predicted_mean),
        [r[0] for r in c80],
        [r[1] for r in c80],
        [r[0] for r in c95],
        [r[1] for r in c95],
    )


MODELS: dict[str, tuple[int, Callable[[Sequence[float], int], Band]]] = {
    "ets_level": (MIN_MONTHS, _ets(trend=False, seasonal=False)),
    "ets_damped": (MIN_MONTHS, _ets(trend=True, seasonal=False)),
    "ets_seasonal": (SEASONAL_MONTHS, _ets(trend=True, seasonal=True)),
    "sarima": (SARIMA_MONTHS, _sarima),
}


def _fen(value: float) -> int:
    """A model's value as whole fen, never negative (money flows of a month are not)."""
    if value != value:  # NaN: a failed fit's band
        return 0
    return max(0, int(Decimal(float(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def backtest_error(actual: Sequence[int], predicted: Sequence[int]) -> tuple[str, int]:
    """(WAPE as decimal text rounded to 4 places, or "" when Σ|actual| is 0; MAE in whole fen)."""
    errors = [abs(a - p) for a, p in zip(actual, predicted, strict=True)]
    total = sum(abs(a) for a in actual)
    mae = int((Decimal(sum(errors)) / len(errors)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if total == 0:
        return "", mae
    return str((Decimal(sum(errors)) / total).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)), mae


def _quiet(run: Callable[[Sequence[float], int], Band], values: Sequence[float], steps: int) -> Band | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return run(values, steps)
        except (ValueError, ArithmeticError, IndexError):  # a fit that does not converge
            return None


def forecast_series(series: MonthlySeries, *, horizon: int = HORIZON) -> Forecast:
    """The forecast of one series, or its reason for none (see the module's docstring)."""
    n = len(series.values_fen)
    months_seen, values_seen = list(series.months), list(series.values_fen)
    if n < MIN_MONTHS:
        return Forecast(
            series.name,
            status="too_little_history",
            message_zh=f"历史数据不足：仅有{n}个月，至少需要{MIN_MONTHS}个月才能预测并回测",
            history_months=months_seen,
            history_fen=values_seen,
        )
    values = [float(v) for v in series.values_fen]
    train, test = values[:-BACKTEST_MONTHS], list(series.values_fen[-BACKTEST_MONTHS:])
    scored: list[Backtest] = []
    for name, (needs, run) in MODELS.items():
        if n < needs:
            continue
        band = _quiet(run, train, BACKTEST_MONTHS)
        if band is None:
            continue
        wape, mae = backtest_error(test, [_fen(v) for v in band[0]])
        scored.append(Backtest(name, wape, mae))
    if not scored:
        return Forecast(
            series.name,
            status="too_little_history",
            message_zh="没有模型能拟合该序列",
            history_months=months_seen,
            history_fen=values_seen,
        )
    best = min(scored, key=lambda b: (b.mae_fen, list(MODELS).index(b.model)))
    band = _quiet(MODELS[best.model][1], values, horizon)
    if band is None:
        return Forecast(
            series.name,
            status="too_little_history",
            message_zh="模型拟合失败",
            history_months=months_seen,
            history_fen=values_seen,
        )
    months: list[str] = []
    month = series.months[-1]
    for _ in range(horizon):
        month = next_month(month)
        months.append(month)
    mean, lo80, hi80, lo95, hi95 = ([_fen(v) for v in part] for part in band)
    chosen_wape = f"，回测误差率{Decimal(best.wape) * 100:.1f}%" if best.wape else ""
    return Forecast(
        series.name,
        status="ok",
        message_zh=f"{MODEL_ZH[best.model]}，以最近{BACKTEST_MONTHS}个月回测选定{chosen_wape}",
        model=best.model,
        backtests=tuple(scored),
        months=tuple(months),
        mean_fen=tuple(mean),
        lo80_fen=tuple(min(a, b) for a, b in zip(lo80, mean, strict=True)),
        hi80_fen=tuple(max(a, b) for a, b in zip(hi80, mean, strict=True)),
        lo95_fen=tuple(min(a, b) for a, b in zip(lo95, lo80, strict=True)),
        hi95_fen=tuple(max(a, b) for a, b in zip(hi95, hi80, strict=True)),
        history_months=months_seen,
        history_fen=values_seen,
    )
