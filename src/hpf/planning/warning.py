"""Early warning for borrowers (D3): rules that put a loan on the early-warning queue before it
is 90 days overdue, and their measure on a simulated center.

The rules, each one set-based statement over the published reads, on active loans less than
``SERIOUS_DAYS`` days past due:

- ``EW-SAVINGS-FALLING``: the borrower's HPF balance fell by ``SAVINGS_FALL`` or more within the
  last ``SAVINGS_DAYS`` days (a large withdrawal, installments eating the savings);
- ``EW-EMPLOYER-ARREARS``: the borrower's employer has not paid for ``ARREARS_MONTHS`` months or
  more (its 缴至年月 is that far behind the last complete month), or the borrower's account is
  sealed (the job lost): nothing comes in any more;
- ``EW-MISSED-INSTALLMENT``: an installment is unpaid (1 day past due or more).

A loan is warned once per rule (``early_warning``, the first day it met the rule). The measure
(:func:`measure`): of the loans that reached 90 days past due, how many were warned before, by
which rule, and how many days earlier; and how many warned loans did not (yet) reach it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Connection, and_, func, literal, or_, select

from hpf.accounts.queries import employer_records_subquery, member_records_subquery
from hpf.ledger.queries import member_balances_subquery, member_lines_subquery
from hpf.loans.queries import active_loans_subquery
from hpf.planning.series import last_complete_month, month_range
from hpf.planning.tables import early_warning

SERIOUS_DAYS = 90
SAVINGS_DAYS = 90
SAVINGS_FALL_PERCENT = 30
ARREARS_MONTHS = 2
SEALED = "02"

RULE_ZH = {
    "EW-SAVINGS-FALLING": f"缴存余额{SAVINGS_DAYS}日内下降{SAVINGS_FALL_PERCENT}%以上",
    "EW-EMPLOYER-ARREARS": f"单位欠缴{ARREARS_MONTHS}个月以上或个人账户封存",
    "EW-MISSED-INSTALLMENT": "已有未按期偿还的月供（逾期未满90天）",
}


def _savings_falling(on: date) -> object:
    a = active_loans_subquery("a")
    bal = member_balances_subquery("b")
    lines = member_lines_subquery("l")
    recent = (
        select(lines.c.member_id, func.sum(lines.c.signed_fen).label("net"))
        .where(lines.c.value_date > on - timedelta(days=SAVINGS_DAYS), lines.c.value_date <= on)
        .group_by(lines.c.member_id)
        .subquery("recent")
    )
    now = bal.c.carried_fen + bal.c.current_fen
    before = now - recent.c.net
    return (
        select(a.c.id, literal("EW-SAVINGS-FALLING"), literal("余额较90日前下降"))
        .select_from(
            a.join(bal, bal.c.member_id == a.c.borrower_id).join(
                recent, recent.c.member_id == a.c.borrower_id
            )
        )
        .where(
            a.c.days_past_due < SERIOUS_DAYS, before > 0, -recent.c.net * 100 >= before * SAVINGS_FALL_PERCENT
        )
    )


def _employer_arrears(on: date) -> object:
    a = active_loans_subquery("a")
    m = member_records_subquery("m")
    e = employer_records_subquery("e")
    months = month_range("1990-01", last_complete_month(on))
    behind = months[-ARREARS_MONTHS] if len(months) >= ARREARS_MONTHS else months[0]
    return (
        select(a.c.id, literal("EW-EMPLOYER-ARREARS"), literal("单位缴至年月落后或账户封存"))
        .select_from(a.join(m, m.c.id == a.c.borrower_id).join(e, e.c.id == m.c.employer_id))
        .where(
            a.c.days_past_due < SERIOUS_DAYS,
            or_(m.c.state == SEALED, and_(e.c.paid_through.is_not(None), e.c.paid_through < behind)),
        )
    )


def _missed(on: date) -> object:
    a = active_loans_subquery("a")
    return select(a.c.id, literal("EW-MISSED-INSTALLMENT"), literal("月供逾期未还")).where(
        a.c.days_past_due >= 1, a.c.days_past_due < SERIOUS_DAYS
    )


RULES: dict[str, Callable[[date], object]] = {
    "EW-SAVINGS-FALLING": _savings_falling,
    "EW-EMPLOYER-ARREARS": _employer_arrears,
    "EW-MISSED-INSTALLMENT": _missed,
}


def scan(conn: Connection, on: date) -> dict[str, int]:
    """Warn the loans each rule finds on ``on`` that it had not warned yet; new warnings by rule."""
    from hpf.db.upsert import insert_new

    new: dict[str, int] = {}
    for rule, build in RULES.items():
        count = 0
        for loan_id, code, detail in conn.execute(build(on)):  # type: ignore[call-overload]
            count += insert_new(
                conn,
                early_warning,
                {"loan_id": int(loan_id), "rule": code, "warned_on": on, "detail": detail},
            )
        new[rule] = count
    return new


@dataclass(frozen=True)
class WarningRow:
    loan_id: int
    rule: str
    warned_on: date
    detail: str
    days_past_due: int | None  # now; None when the loan is no longer active


def queue(conn: Connection, *, limit: int = 200) -> list[WarningRow]:
    """The early-warning queue: warned loans still active, newest first."""
    a = active_loans_subquery("a")
    w = early_warning.c
    rows = conn.execute(
        select(w.loan_id, w.rule, w.warned_on, w.detail, a.c.days_past_due)
        .select_from(early_warning.join(a, a.c.id == w.loan_id))
        .order_by(w.warned_on.desc(), w.loan_id)
        .limit(limit)
    )
    return [WarningRow(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


@dataclass
class Measure:
    """How well the rules warned, on a simulated history."""

    serious: dict[int, date] = field(default_factory=dict)  # loan → first day seen 90+ days past due
    warned: dict[int, dict[str, date]] = field(default_factory=dict)  # loan → rule → first warned

    def warned_before(self, loan_id: int, rule: str | None = None) -> date | None:
        first_serious = self.serious[loan_id]
        days = [
            d
            for r, d in self.warned.get(loan_id, {}).items()
            if (rule is None or r == rule) and d < first_serious
        ]
        return min(days) if days else None

    def report(self) -> dict[str, object]:
        lead = {}
        rules: dict[str, object] = {}
        for loan_id in self.serious:
            first = self.warned_before(loan_id)
            if first is not None:
                lead[loan_id] = (self.serious[loan_id] - first).days
        for rule in RULES:
            leads = [
                (self.serious[i] - d).days
                for i in self.serious
                if (d := self.warned_before(i, rule)) is not None
            ]
            warned_loans = [i for i, per in self.warned.items() if rule in per]
            rules[rule] = {
                "name_zh": RULE_ZH[rule],
                "warned_loans": len(warned_loans),
                "serious_warned": len(leads),
                "median_lead_days": statistics.median(leads) if leads else None,
            }
        warned_not_serious = [i for i in self.warned if i not in self.serious]
        return {
            "serious_loans": len(self.serious),
            "serious_warned": len(lead),
            "median_lead_days": statistics.median(lead.values()) if lead else None,
            "min_lead_days": min(lead.values()) if lead else None,
            "warned_loans": len(self.warned),
            "warned_not_serious": len(warned_not_serious),
            "by_rule": rules,
        }


def observe(conn: Connection, on: date, measure: Measure) -> None:
    """Scan on ``on`` and note the loans at 90+ days past due for the first time."""
    scan(conn, on)
    a = active_loans_subquery("a")
    for (loan_id,) in conn.execute(select(a.c.id).where(a.c.days_past_due >= SERIOUS_DAYS)):
        measure.serious.setdefault(int(loan_id), on)
    w = early_warning.c
    for loan_id, rule, warned_on in conn.execute(select(w.loan_id, w.rule, w.warned_on)):
        measure.warned.setdefault(int(loan_id), {}).setdefault(rule, warned_on)
