"""What the account pages draw: a member's month-end balance and yearly deposits, withdrawals
and interest (an employer's monthly remittances are ``hpf.contributions.charts``).

Every figure is summed in SQL (``GROUP BY`` month or year); Python only lays the months out on
the axis. A chart is a plain dict the page hands to ``static/charts.js`` as JSON: ``x`` (the
categories), ``series`` (name, type, data in fen) and ``axes`` (units). Amounts stay in fen,
exact; the browser shows them in 元.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, case, func, select

from hpf.db.periods import month_of, year_of
from hpf.ledger.queries import member_lines_subquery, member_postings_subquery

DEPOSIT_TYPES = ("01", "02")  # 汇缴, 补缴
WITHDRAWAL_TYPES = ("11", "12")  # 部分提取, 销户提取
INTEREST_TYPES = ("09",)  # 年终结息

Chart = dict[str, Any]  # the JSON document charts.js draws


@dataclass(frozen=True, slots=True)
class MemberYear:
    """A member's calendar year (of the value date), in fen, each figure net of its reversals."""

    year: str
    deposits_fen: int  # 汇缴、补缴
    withdrawals_fen: int  # 部分、销户提取
    interest_fen: int  # 年终结息
    other_fen: int  # transfers, corrections …
    closing_fen: int  # the balance at the year's end
    lines: int


def months_between(first: str, last: str) -> list[str]:
    """``YYYY-MM`` from ``first`` to ``last``, both included."""
    year, month = int(first[:4]), int(first[5:7])
    end = (int(last[:4]), int(last[5:7]))
    out = []
    while (year, month) <= end:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def member_balance_chart(conn: Connection, member_id: int, today: date) -> Chart | None:
    """The balance at each month-end (by value date), from the first month with a posting to
    the business date's month; months without postings carry the balance forward."""
    lines = member_lines_subquery()
    month = month_of(lines.c.value_date)
    net = func.sum(lines.c.signed_fen)
    rows = conn.execute(
        select(month.label("month"), func.sum(net).over(order_by=month).label("balance_fen"))
        .where(lines.c.member_id == member_id)
        .group_by(month)
        .order_by(month)
    ).all()
    if not rows:
        return None
    closing = {m: int(b) for m, b in rows}
    axis = months_between(rows[0][0], max(rows[-1][0], today.isoformat()[:7]))
    data, balance = [], 0
    for m in axis:
        balance = closing.get(m, balance)
        data.append(balance)
    return {
        "x": axis,
        "axes": [{"unit": "fen"}],
        "series": [{"name": "月末余额", "type": "line", "data": data, "area": True}],
    }


def member_year_rows(conn: Connection, member_id: int) -> list[MemberYear]:
    """Per calendar year (of the value date): deposits (汇缴、补缴), withdrawals (部分、销户
    提取), interest (年终结息), everything else (transfers, corrections …), each net of its
    reversals, and the balance at the year's end."""
    lines = member_postings_subquery()
    year = year_of(lines.c.value_date)
    kind = lines.c.business_type
    delta = lines.c.signed_fen
    known = (*DEPOSIT_TYPES, *WITHDRAWAL_TYPES, *INTEREST_TYPES)
    rows = conn.execute(
        select(
            year.label("year"),
            func.sum(case((kind.in_(DEPOSIT_TYPES), delta), else_=0)).label("deposits_fen"),
            func.sum(case((kind.in_(WITHDRAWAL_TYPES), -delta), else_=0)).label("withdrawals_fen"),
            func.sum(case((kind.in_(INTEREST_TYPES), delta), else_=0)).label("interest_fen"),
            func.sum(case((kind.in_(known), 0), else_=delta)).label("other_fen"),
            func.sum(func.sum(delta)).over(order_by=year).label("closing_fen"),
            func.count().label("lines"),
        )
        .where(lines.c.member_id == member_id)
        .group_by(year)
        .order_by(year)
    )
    return [MemberYear(str(r.year), *(int(v) for v in r[1:])) for r in rows]


def member_yearly_chart(years: list[MemberYear]) -> Chart | None:
    """Deposits, withdrawals and interest per year (from :func:`member_year_rows`)."""
    if not years:
        return None
    return {
        "x": [f"{y.year}年" for y in years],
        "axes": [{"unit": "fen"}],
        "series": [
            {"name": "缴存", "type": "bar", "data": [y.deposits_fen for y in years]},
            {"name": "提取", "type": "bar", "data": [y.withdrawals_fen for y in years]},
            {"name": "结息", "type": "bar", "data": [y.interest_fen for y in years]},
        ],
    }
