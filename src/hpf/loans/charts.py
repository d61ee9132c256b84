"""What the loan pages draw (see :mod:`hpf.accounts.charts` for the shape of a chart): a loan's
remaining principal and its principal/interest per year, the book by five-level class, the
scorecard's coefficients, and the calculator's schedule by year. Figures from the database are
summed in SQL (``GROUP BY`` year or class)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from hpf.db.periods import year_of
from hpf.kernel.codes import code_table
from hpf.loans.book.tables import loan, loan_installment
from hpf.loans.calculator.schedule import Installment, Schedule
from hpf.loans.scorecard.model import FeatureWeight

Chart = dict[str, Any]
CLASSES = ("01", "02", "03", "04", "05")


@dataclass(frozen=True, slots=True)
class LoanYear:
    """A calendar year of a loan's due dates: periods, principal (prepaid included) and interest
    due, and the principal remaining at the year's end."""

    year: str
    periods: int
    principal_fen: int
    interest_fen: int
    remaining_fen: int


@dataclass(frozen=True, slots=True)
class ScheduleYear:
    """A calendar year of the calculator's schedule, with its installments (folded on the page)."""

    year: int
    periods: int
    paid_fen: int
    principal_fen: int
    interest_fen: int
    remaining_fen: int
    rows: tuple[Installment, ...]


@dataclass(frozen=True, slots=True)
class ClassCount:
    """Active loans of one five-level class (五级分类): how many and their outstanding principal."""

    code: str
    name_zh: str
    count: int
    outstanding_fen: int


def _yearly(
    x: list[str], principal: list[int], interest: list[int], remaining: list[int]
) -> dict[str, Chart]:
    return {
        "balance": {
            "x": x,
            "axes": [{"unit": "fen"}],
            "series": [{"name": "年末剩余本金", "type": "line", "data": remaining, "area": True}],
        },
        "split": {
            "x": x,
            "axes": [{"unit": "fen"}],
            "series": [
                {"name": "本金", "type": "bar", "stack": "paid", "data": principal},
                {"name": "利息", "type": "bar", "stack": "paid", "data": interest},
            ],
        },
    }


def loan_year_rows(conn: Connection, loan_id: int) -> list[LoanYear]:
    """Per calendar year of the due dates: principal and interest due (prepaid principal
    included in the principal), periods, and the principal remaining at the year's end."""
    year = year_of(loan_installment.c.due_date)
    rows = conn.execute(
        select(
            year.label("year"),
            func.count().label("periods"),
            func.sum(loan_installment.c.principal_fen + loan_installment.c.prepaid_fen).label(
                "principal_fen"
            ),
            func.sum(loan_installment.c.interest_fen).label("interest_fen"),
            func.min(loan_installment.c.remaining_fen).label("remaining_fen"),
        )
        .where(loan_installment.c.loan_id == loan_id)
        .group_by(year)
        .order_by(year)
    ).mappings()
    return [
        LoanYear(
            year=str(r["year"]), periods=int(r["periods"]), principal_fen=int(r["principal_fen"]),
            interest_fen=int(r["interest_fen"]), remaining_fen=int(r["remaining_fen"]),
        )
        for r in rows
    ]  # fmt: skip


def loan_charts(conn: Connection, loan_id: int) -> dict[str, Chart] | None:
    rows = loan_year_rows(conn, loan_id)
    if not rows:
        return None
    return _yearly(
        [f"{r.year}年" for r in rows],
        [r.principal_fen for r in rows],
        [r.interest_fen for r in rows],
        [r.remaining_fen for r in rows],
    )


def schedule_years(schedule: Schedule) -> list[ScheduleYear]:
    """The calculator's schedule by calendar year: periods, installments, principal, interest,
    remaining principal at the year's end, and the year's installments (folded on the page)."""
    years: dict[int, dict[str, Any]] = {}
    for row in schedule.installments:  # a pure calculation in memory: no database here
        y = years.setdefault(
            row.due_date.year,
            {"year": row.due_date.year, "periods": 0, "paid_fen": 0, "principal_fen": 0,
             "interest_fen": 0, "remaining_fen": 0, "rows": []},
        )  # fmt: skip
        y["periods"] += 1
        y["paid_fen"] += row.installment_fen
        y["principal_fen"] += row.principal_fen
        y["interest_fen"] += row.interest_fen
        y["remaining_fen"] = row.remaining_fen
        y["rows"].append(row)
    return [
        ScheduleYear(
            year=y["year"], periods=y["periods"], paid_fen=y["paid_fen"], principal_fen=y["principal_fen"],
            interest_fen=y["interest_fen"], remaining_fen=y["remaining_fen"], rows=tuple(y["rows"]),
        )
        for y in years.values()
    ]  # fmt: skip


def calculator_charts(years: Sequence[ScheduleYear]) -> dict[str, Chart]:
    return _yearly(
        [f"{y.year}年" for y in years],
        [y.principal_fen for y in years],
        [y.interest_fen for y in years],
        [y.remaining_fen for y in years],
    )


def book_by_class(conn: Connection) -> tuple[list[ClassCount], Chart]:
    """Active loans per five-level class (正常 … 损失): count and outstanding principal."""
    rows = conn.execute(
        select(
            loan.c.classification, func.count(), func.coalesce(func.sum(loan.c.outstanding_principal_fen), 0)
        )
        .where(loan.c.state == "active")
        .group_by(loan.c.classification)
    ).all()
    found = {c: (int(n), int(fen)) for c, n, fen in rows}
    names = code_table("loan_risk_class")
    table = [
        ClassCount(code=c, name_zh=names.get(c).name_zh if c in names else c,
                   count=found.get(c, (0, 0))[0], outstanding_fen=found.get(c, (0, 0))[1])
        for c in CLASSES
    ]  # fmt: skip
    chart = {
        "x": [r.name_zh for r in table],
        "axes": [{"unit": "fen"}, {"unit": "count", "name": "笔"}],
        "series": [
            {"name": "贷款余额", "type": "bar", "data": [r.outstanding_fen for r in table]},
            {"name": "笔数", "type": "line", "axis": 1, "data": [r.count for r in table]},
        ],
    }
    return table, chart


def scorecard_chart(rows: Sequence[FeatureWeight]) -> Chart:
    """The card's coefficients per standard deviation, strongest first: a bar to the right
    raises the probability of default, to the left lowers it."""
    return {
        "x": [r.name_zh for r in rows],
        "horizontal": True,
        "axes": [{"unit": "number", "name": "系数"}],
        "series": [{"name": "系数（每个标准差）", "type": "bar", "data": [round(float(r.coefficient), 4) for r in rows]}],
    }  # fmt: skip
