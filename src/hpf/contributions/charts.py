"""What an employer's page draws of its remittances: posted remittances and back payments per
month, summed in SQL by ``queries.monthly_remittances`` (the chart format of ``hpf.accounts.charts``)."""

from __future__ import annotations

from sqlalchemy import Connection

from hpf.accounts.charts import Chart, months_between
from hpf.contributions.queries import monthly_remittances


def employer_remittance_chart(conn: Connection, employer_id: int, *, months: int = 36) -> Chart | None:
    """Posted remittances (汇缴) and back payments (补缴) per month they are for, the last
    ``months`` months that have any."""
    rows = monthly_remittances(conn, employer_id, months=months)
    if not rows:
        return None
    axis = months_between(rows[0].month, rows[-1].month)
    by_month = {r.month: r for r in rows}
    return {
        "x": axis,
        "axes": [{"unit": "fen"}, {"unit": "count", "name": "人"}],
        "series": [
            {"name": "汇缴", "type": "bar", "stack": "paid", "data": [by_month[m].remittance_fen if m in by_month else 0 for m in axis]},
            {"name": "补缴", "type": "bar", "stack": "paid", "data": [by_month[m].back_payment_fen if m in by_month else 0 for m in axis]},
            {"name": "汇缴人数", "type": "line", "axis": 1, "data": [by_month[m].members if m in by_month else 0 for m in axis]},
        ],
    }  # fmt: skip
