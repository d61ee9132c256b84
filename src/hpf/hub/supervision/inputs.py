"""The seam between the national warehouse and the supervision rules (decision 0040).

The classification and the monitoring read reported indicator values through
:func:`indicator_values` and nothing else. It reads ``hub_indicator_value``: a center's
figures at its total (no dimension) as the national warehouse took them, written when the
center's SUP101 for the month becomes current (``run.take_report``, called by the hub's intake;
a restatement replaces them). Rows ``(center_code, indicator_code, value)`` for one month,
values as ``Decimal`` in the catalogue's unit as reported (percentages as percent, amounts in
fen — the lines compare ratios, never absolute amounts).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import Connection, select

from hpf.db.upsert import upsert
from hpf.hub.supervision.tables import hub_indicator_value


class IndicatorValue(NamedTuple):
    center_code: str
    indicator_code: str
    value: Decimal


def indicator_values(conn: Connection, month: str) -> list[IndicatorValue]:
    """Every reported value of ``month`` (YYYY-MM), by center and indicator."""
    v = hub_indicator_value.c
    rows = conn.execute(
        select(v.center, v.indicator, v.value).where(v.month == month).order_by(v.center, v.indicator)
    ).all()
    return [IndicatorValue(r.center, r.indicator, Decimal(r.value)) for r in rows]


def by_center(values: Iterable[IndicatorValue]) -> dict[str, dict[str, Decimal]]:
    found: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in values:
        found[row.center_code][row.indicator_code] = Decimal(row.value).normalize()
    return dict(found)


def record_values(
    conn: Connection, center: str, month: str, values: dict[str, Decimal], now: datetime
) -> None:
    """Keep a center's reported values for a month (a restatement replaces them)."""
    for code, value in values.items():
        upsert(
            conn,
            hub_indicator_value,
            ["center", "month", "indicator"],
            {"center": center, "month": month, "indicator": code, "value": value, "reported_at": now},
        )


def months_back(month: str, n: int = 1) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
