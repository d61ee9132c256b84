"""What an employer's page draws of its remittances: posted remittances and back payments per
month, summed in SQL (the chart format of ``hpf.accounts.charts``)."""

from __future__ import annotations

from sqlalchemy import Connection, case, func, select

from hpf.accounts.charts import Chart, months_between
from hpf.contributions.tables import remittance


def employer_remittance_chart(conn: Connection, employer_id: int, *, months: int = 36) -> Chart | None:
    """Posted remittances (汇缴) and back payments (补缴) per month they are for, the last
    ``months`` months that have any."""
    kind = remittance.c.kind
    rows = conn.execute(
        select(
            remittance.c.month,
            func.sum(case((kind == "01", remittance.c.total_fen), else_=0)),
            func.sum(case((kind == "02", remittance.c.total_fen), else_=0)),
            func.sum(case((kind == "01", remittance.c.members), else_=0)),
        )
        .where(remittance.c.employer_id == employer_id, remittance.c.state == "posted")
        .group_by(remittance.c.month)
        .order_by(remittance.c.month.desc())
        .limit(months)
    ).all()
    if not rows:
        return None
    rows = rows[::-1]
    axis = months_between(rows[0][0], rows[-1][0])
    by_month = {r[0]: r for r in rows}
    return {
        "x": axis,
        "axes": [{"unit": "fen"}, {"unit": "count", "name": "人"}],
        "series": [
            {"name": "汇缴", "type": "bar", "stack": "paid", "data": [int(by_month[m][1]) if m in by_month else 0 for m in axis]},
            {"name": "补缴", "type": "bar", "stack": "paid", "data": [int(by_month[m][2]) if m in by_month else 0 for m in axis]},
            {"name": "汇缴人数", "type": "line", "axis": 1, "data": [int(by_month[m][3]) if m in by_month else 0 for m in axis]},
        ],
    }  # fmt: skip
