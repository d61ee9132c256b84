"""The good-credit incentive (诚信激励; issue 15 F3, decision 0042): faster service for employers
that keep paying.

The rule is policy data — ``good_credit`` of ``credit_grounds.json``, the center's copy of the
hub policy's ``credit.good_credit`` (as the grounds are, decision 0040): an employer in state 正常
with at least ``min_months_without_arrears`` whole months since its last month in arrears (欠缴,
cleared since or not), or since the month it opened if it never was, no arrears open and not on
the national list in force, is a good-credit employer (``marker_zh``, 诚信单位). Its
applications that wait for staff — and, with ``for_employees``, its staff's own (a withdrawal,
a loan) — are due within ``review_working_days`` working days of their acceptance (when that is sooner than the item's own limit) and come first in the review queue
(:func:`fast_track_application`, a listener of ``application.accepted``).

Months are counted set-based for every employer at once (:func:`clean_months_subquery`): for a
day in month *M*, the months from the start month *S* — the month after the last arrears, or
the opening month — to *M*, excluding *M* (*M* − *S*): opened in January 2022, on a day of
January 2025 an employer has 36 clean months; with arrears in March 2024, 9 (April–December).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Date, Integer, Subquery, and_, bindparam, case, cast, exists, func, select

from hpf.accounts import queries as accounts_queries
from hpf.contributions import queries as contributions_queries
from hpf.db.periods import month_of
from hpf.events import Event
from hpf.kernel.context import Context
from hpf.oversight.tables import credit_national
from hpf.services import service as applications

NORMAL = "01"  # DWZHZT 正常


@dataclass(frozen=True)
class GoodCredit:
    """The incentive's policy: who qualifies and what they get."""

    min_months_without_arrears: int
    review_working_days: int
    marker_zh: str
    incentive_zh: str
    for_employees: bool  # its staff's own applications too (a withdrawal, a loan)


def _shipped() -> dict[str, Any]:
    data = json.loads(Path(__file__).with_name("credit_grounds.json").read_text(encoding="utf-8"))
    return dict(data["good_credit"])


GOOD_CREDIT: dict[str, Any] = _shipped()


def policy() -> GoodCredit:
    """The incentive in force at this center (the policy data above)."""
    p = GOOD_CREDIT
    return GoodCredit(
        int(p["min_months_without_arrears"]), int(p["review_working_days"]), str(p["marker_zh"]),
        str(p["incentive_zh"]), bool(p.get("for_employees", False)),
    )  # fmt: skip


def _month_index(yyyy_mm: Any) -> Any:
    """``YYYY-MM`` text as a number of months (year × 12 + month), in SQL on both engines."""
    return cast(func.substr(yyyy_mm, 1, 4), Integer) * 12 + cast(func.substr(yyyy_mm, 6, 2), Integer)


def clean_months_subquery(on: Any, name: str | None = None, *, employer_id: Any = None) -> Subquery:
    """Every employer in state 正常 opened by ``on`` with no arrears open (or only
    ``employer_id``): its whole months without arrears up to ``on``'s month, that month
    excluded. Columns: ``employer_id``, ``clean_months``. ``on``: a date, or a bound parameter
    of one (the statement built once, :func:`_single_statement`)."""
    on = _date_of(on)
    e = accounts_queries.employer_refs_subquery("gc_e")
    a = contributions_queries.arrears_subquery("gc_a")
    last_q = select(a.c.employer_id, func.max(a.c.month).label("last_month"))
    if employer_id is not None:
        last_q = last_q.where(a.c.employer_id == employer_id)
    last = last_q.group_by(a.c.employer_id).subquery("gc_last")
    opened = _month_index(month_of(e.c.opened_on))
    after_arrears = _month_index(last.c.last_month) + 1
    start = case((last.c.last_month.is_(None), opened), (after_arrears > opened, after_arrears), else_=opened)
    still_open = exists().where(a.c.employer_id == e.c.id, a.c.state == "open")
    query = (
        select(e.c.id.label("employer_id"), (_month_index(month_of(on)) - start).label("clean_months"))
        .select_from(e.outerjoin(last, last.c.employer_id == e.c.id))
        .where(e.c.state == NORMAL, e.c.opened_on <= on, ~still_open)
    )
    if employer_id is not None:
        query = query.where(e.c.id == employer_id)
    return query.subquery(name)


def _date_of(on: Any) -> Any:
    return bindparam("gc_on_value", on, type_=Date) if isinstance(on, date) else on


def _good_credit_query(on: Any, min_months: Any, employer_id: Any = None) -> Any:
    clean = clean_months_subquery(on, "gc", employer_id=employer_id)
    on = _date_of(on)
    e = accounts_queries.employer_records_subquery("gc_ref")
    n = credit_national.c
    listed = exists().where(
        n.kind == "employer", n.uscc == e.c.uscc, n.listed_on <= on, n.until >= on
    )  # on the national list in force: no incentive
    return (
        select(clean.c.employer_id, e.c.account_no, e.c.name, clean.c.clean_months)
        .join(e, e.c.id == clean.c.employer_id)
        .where(and_(clean.c.clean_months >= min_months, ~listed))
    )


@cache
def _single_statement(by_member: bool) -> Any:
    """Is one employer (``:gc_employer``, or the employer of ``:gc_member``) of good credit on
    ``:gc_on`` with ``:gc_min`` months? Built once: every acceptance of an application asks it,
    and building the construct cost more than running it."""
    if by_member:
        m = accounts_queries.member_refs_subquery("gc_m")
        target: Any = select(m.c.employer_id).where(m.c.id == bindparam("gc_member")).scalar_subquery()
    else:
        target = bindparam("gc_employer")
    on = bindparam("gc_on", type_=Date)
    sub = _good_credit_query(on, bindparam("gc_min", type_=Integer), target).subquery()
    return select(sub.c.employer_id)


@dataclass(frozen=True)
class GoodCreditEmployer:
    employer_id: int
    account_no: str
    name: str
    clean_months: int


def good_credit_employers(
    conn: Connection, on: date, *, rule: GoodCredit | None = None, limit: int = 500
) -> list[GoodCreditEmployer]:
    """The good-credit employers on ``on``, the longest record first."""
    query = _good_credit_query(on, (rule or policy()).min_months_without_arrears)
    sub = query.subquery()
    rows = conn.execute(select(sub).order_by(sub.c.clean_months.desc(), sub.c.employer_id).limit(limit))
    return [GoodCreditEmployer(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]


def is_good_credit(conn: Connection, employer_id: int, on: date, *, rule: GoodCredit | None = None) -> bool:
    """Whether the employer is of good credit on ``on``."""
    params = {
        "gc_employer": employer_id,
        "gc_on": on,
        "gc_min": (rule or policy()).min_months_without_arrears,
    }
    return conn.scalar(_single_statement(False), params) is not None


def _employer_of_member_is_good_credit(conn: Connection, member_id: int, on: date, rule: GoodCredit) -> bool:
    params = {"gc_member": member_id, "gc_on": on, "gc_min": rule.min_months_without_arrears}
    return conn.scalar(_single_statement(True), params) is not None


def marker_of(conn: Connection, employer_id: int, on: date) -> str | None:
    """The marker an employer's page shows (诚信单位) if it is a good-credit employer on ``on``."""
    rule = policy()
    return rule.marker_zh if is_good_credit(conn, employer_id, on, rule=rule) else None


def fast_track_application(conn: Connection, ctx: Context, event: Event) -> None:
    """Listener of ``application.accepted``: an application of a good-credit employer — or, when
    the policy says ``for_employees``, of a member it employs — is due within the incentive's
    working days and served first in the review queue."""
    today, rule = ctx.clock.today(), policy()
    employer_id, member_id = event.payload.get("employer_id"), event.payload.get("member_id")
    if employer_id is not None:
        good = is_good_credit(conn, int(employer_id), today, rule=rule)
    elif member_id is not None and rule.for_employees:  # the member's employer, in the same statement
        good = _employer_of_member_is_good_credit(conn, int(member_id), today, rule)
    else:
        return
    if good:
        applications.fast_track(
            conn, ctx, int(event.object_id), marker_zh=rule.marker_zh, working_days=rule.review_working_days
        )
