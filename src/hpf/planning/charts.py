"""What the planning pages draw (the shape of ``static/charts.js``): a forecast's fan chart —
history, the forecast mean, and its 80% and 95% intervals as shaded bands (a transparent base
series with the band's width stacked on it, left out of the tooltip)."""

from __future__ import annotations

from typing import Any

from hpf.planning.forecast import Forecast

Chart = dict[str, Any]


def fan_chart(f: Forecast) -> Chart:
    """History then forecast on one axis of months, amounts in fen."""
    n, h = len(f.history_months), len(f.months)
    x = [*f.history_months, *f.months]
    history: list[int | None] = [*f.history_fen, *([None] * h)]
    series: list[dict[str, Any]] = [{"name": "实际", "type": "line", "data": history}]
    if f.status == "ok" and h:
        pad: list[int | None] = [None] * n
        # the forecast line starts at the last actual month, so the two lines meet
        mean = [*([None] * (n - 1)), f.history_fen[-1], *f.mean_fen] if n else list(f.mean_fen)
        series += [
            {"name": "", "type": "line", "data": [*pad, *f.lo95_fen], "stack": "fan", "base": True},
            {"name": "95%区间", "type": "line", "stack": "fan", "band": "outer",
             "data": [*pad, *(a - b for a, b in zip(f.lo80_fen, f.lo95_fen, strict=True))]},
            {"name": "80%区间", "type": "line", "stack": "fan", "band": "inner",
             "data": [*pad, *(a - b for a, b in zip(f.hi80_fen, f.lo80_fen, strict=True))]},
            {"name": "", "type": "line", "stack": "fan", "band": "outer", "legend": False,
             "data": [*pad, *(a - b for a, b in zip(f.hi95_fen, f.hi80_fen, strict=True))]},
            {"name": "预测", "type": "line", "data": mean, "dashed": True},
        ]  # fmt: skip
    return {"x": x, "unit": "fen", "series": series}
