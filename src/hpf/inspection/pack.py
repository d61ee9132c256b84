"""The SQL of each audit rule: one set-based statement over the whole center per rule.

Each rule's statement answers one row per finding: ``object`` (the identifier the answer key and
``--json`` use, as text) and the facts an auditor reads first (named columns: codes, amounts,
dates, ids). It reads other packages' data through their published reads only
(``queries.py``: subqueries with documented columns), never a row at a time in Python. The
policy values a rule compares against are read for the scan's day by the service and handed in
as :class:`Limits`; a rule's own parameters come from ``rules.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Select, String, and_, case, cast, exists, func, literal, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from hpf.accounts import queries as accounts
from hpf.approvals.service import LEDGER_REVERSAL, approved_entries_subquery
from hpf.db.periods import month_of, year_of
from hpf.identity import queries as identity
from hpf.inspection.rules import Rule
from hpf.ledger import queries as ledger
from hpf.loans import queries as loans
from hpf.services import queries as services
from hpf.withdrawals import queries as withdrawals

RENT = "07"  # TQYY 房租超出家庭工资收入的规定比例
LIVE_EMPLOYERS = ("01", "02", "03")  # 正常, 开户, 缓缴: employers whose terms are in force
NORMAL_MEMBER = "01"
DECIDED_FOR = ("pending", "reserved", "paid")  # a claim not refused and not come back unpaid
AUTOMATIC_REVERSAL = "settlement:%"  # settlement's undo of a failed payout (not a person's)


@dataclass(frozen=True)
class Limits:
    """The policy in force on the scan's day that the rules compare against."""

    base_floor_fen: int
    base_cap_fen: int
    employer_rate_min: Decimal
    employer_rate_max: Decimal
    member_rate_min: Decimal
    member_rate_max: Decimal
    rent_monthly_cap_fen: int


Finder = Callable[[Rule, date, Limits], Select[Any]]


def _text(column: Any) -> ColumnElement[str]:
    return cast(column, String)


def month_number(day: Any) -> ColumnElement[int]:
    """Months since year 0 of a date column (``year × 12 + month``), from ``hpf.db.periods``'
    year and month of a date, the same on both engines."""
    return cast(year_of(day), Integer) * 12 + cast(func.substr(month_of(day), 6, 2), Integer)


# --------------------------------------------------------------------- contribution terms


def _rates(over: bool) -> Finder:
    def find(rule: Rule, at: date, limits: Limits) -> Select[Any]:
        e = accounts.employer_refs_subquery("e")
        if over:
            wrong = or_(
                e.c.employer_rate > limits.employer_rate_max, e.c.member_rate > limits.member_rate_max
            )
            bound_er, bound_mr = limits.employer_rate_max, limits.member_rate_max
        else:
            wrong = or_(
                e.c.employer_rate < limits.employer_rate_min, e.c.member_rate < limits.member_rate_min
            )
            bound_er, bound_mr = limits.employer_rate_min, limits.member_rate_min
        return select(
            e.c.account_no.label("object"),
            e.c.employer_rate,
            e.c.member_rate,
            literal(str(bound_er)).label("employer_rate_limit"),
            literal(str(bound_mr)).label("member_rate_limit"),
        ).where(e.c.state.in_(LIVE_EMPLOYERS), wrong)

    return find


def _bases(over: bool) -> Finder:
    def find(rule: Rule, at: date, limits: Limits) -> Select[Any]:
        m = accounts.member_refs_subquery("m")
        limit = limits.base_cap_fen if over else limits.base_floor_fen
        wrong = m.c.base_fen > limit if over else m.c.base_fen < limit
        return select(
            m.c.account_no.label("object"), m.c.base_fen, literal(limit, Integer).label("limit_fen")
        ).where(m.c.state == NORMAL_MEMBER, wrong)

    return find


# ------------------------------------------------------------------------------ withdrawals


def base_raised_before_withdrawal(rule: Rule, at: date, limits: Limits) -> Select[Any]:
    """A claim filed within ``months`` after the member's base rose by ``raise_percent`` % or more."""
    w = withdrawals.withdrawals_subquery("w")
    c = accounts.member_base_changes_subquery("c")
    months, percent = rule.params["months"], rule.params["raise_percent"]
    gap = month_number(w.c.applied_on) - month_number(c.c.changed_on)
    return (
        select(
            _text(w.c.application_id).label("object"),
            w.c.reason,
            w.c.allowed_fen,
            func.max(c.c.changed_on).label("raised_on"),
            func.max(c.c.before_fen).label("before_fen"),
            func.max(c.c.after_fen).label("after_fen"),
            w.c.applied_on,
        )
        .join(c, c.c.member_id == w.c.member_id)
        .where(
            w.c.application_id.is_not(None),
            w.c.state.in_(DECIDED_FOR),
            c.c.changed_on <= w.c.applied_on,
            gap <= months,
            c.c.after_fen * 100 >= c.c.before_fen * (100 + percent),
        )
        .group_by(w.c.application_id, w.c.reason, w.c.allowed_fen, w.c.applied_on)
    )


def rent_over_yearly_limit(rule: Rule, at: date, limits: Limits) -> Select[Any]:
    """A member's rent withdrawals of one natural year above ``months_per_year`` × the monthly cap."""
    w = withdrawals.withdrawals_subquery("w")
    m = accounts.member_refs_subquery("m")
    limit = limits.rent_monthly_cap_fen * rule.params["months_per_year"]
    year = func.substr(_text(w.c.applied_on), 1, 4)
    total = func.sum(w.c.allowed_fen)
    return (
        select(
            m.c.account_no.label("object"),
            year.label("year"),
            total.label("withdrawn_fen"),
            literal(limit, Integer).label("limit_fen"),
            func.count().label("claims"),
        )
        .join(m, m.c.id == w.c.member_id)
        .where(w.c.reason == RENT, w.c.state.in_(DECIDED_FOR))
        .group_by(m.c.account_no, year)
        .having(total > limit)
    )


def _shared(column_name: str) -> Finder:
    """A claim that used a card (or document) an unrelated person's earlier claim used: another
    person (another resident ID), neither declared in the other's family."""

    def find(rule: Rule, at: date, limits: Limits) -> Select[Any]:
        later, earlier = withdrawals.withdrawals_subquery("w2"), withdrawals.withdrawals_subquery("w1")
        p2, p1 = accounts.member_identities_subquery("p2"), accounts.member_identities_subquery("p1")
        unrelated = and_(
            p1.c.resident_id_bidx != p2.c.resident_id_bidx,
            not_(func.coalesce(later.c.family_text, "").contains(p1.c.resident_id_bidx)),
            not_(func.coalesce(earlier.c.family_text, "").contains(p2.c.resident_id_bidx)),
        )
        return (
            select(
                _text(later.c.application_id).label("object"),
                later.c.reason,
                later.c.allowed_fen,
                func.min(earlier.c.application_id).label("earlier_application"),
                func.count(func.distinct(p1.c.resident_id_bidx)).label("other_people"),
            )
            .join(p2, p2.c.id == later.c.member_id)
            .join(earlier, and_(earlier.c[column_name] == later.c[column_name], earlier.c.id < later.c.id))
            .join(p1, p1.c.id == earlier.c.member_id)
            .where(later.c.application_id.is_not(None), later.c.state.in_(DECIDED_FOR), unrelated)
            .group_by(later.c.application_id, later.c.reason, later.c.allowed_fen)
        )

    return find


def withdrawal_long_sealed(rule: Rule, at: date, limits: Limits) -> Select[Any]:
    """A claim on an account sealed ``months`` or more before it and not opened again since."""
    w = withdrawals.withdrawals_subquery("w")
    s = accounts.member_state_changes_subquery("s")
    t = accounts.member_state_changes_subquery("t")
    reopened = exists().where(
        t.c.member_id == s.c.member_id,
        t.c.id > s.c.id,
        t.c.action.in_(("unseal", "transfer", "reopen")),
        t.c.changed_on <= w.c.applied_on,
    )
    return (
        select(
            _text(w.c.application_id).label("object"),
            w.c.reason,
            w.c.allowed_fen,
            func.max(s.c.changed_on).label("sealed_on"),
            w.c.applied_on,
        )
        .join(s, and_(s.c.member_id == w.c.member_id, s.c.action == "seal"))
        .where(
            w.c.application_id.is_not(None),
            w.c.state.in_(DECIDED_FOR),
            s.c.changed_on <= w.c.applied_on,
            month_number(w.c.applied_on) - month_number(s.c.changed_on) >= rule.params["months"],
            not_(reopened),
        )
        .group_by(w.c.application_id, w.c.reason, w.c.allowed_fen, w.c.applied_on)
    )


def staff_own_account(rule: Rule, at: date, limits: Limits) -> Select[Any]:
    """An application about a member that a staff member accepted or decided who is that member
    (the same resident ID) or was declared family on one of the member's withdrawal claims."""
    a = services.handled_applications_subquery("a")
    s = identity.staff_identities_subquery("s")
    m = accounts.member_identities_subquery("m")
    w = withdrawals.withdrawals_subquery("w")
    declared = exists().where(
        w.c.member_id == a.c.member_id, func.coalesce(w.c.family_text, "").contains(s.c.resident_id_bidx)
    )
    same = s.c.resident_id_bidx == m.c.resident_id_bidx
    return (
        select(
            _text(a.c.id).label("object"),
            a.c.item_code,
            func.min(s.c.login).label("staff"),
            func.max(case((same, "self"), else_="relative")).label("relation"),
            a.c.submitted_on,
        )
        .join(m, m.c.id == a.c.member_id)
        .join(s, or_(s.c.login == a.c.accepted_by, s.c.login == a.c.decided_by))
        .where(or_(same, declared))
        .group_by(a.c.id, a.c.item_code, a.c.submitted_on)
    )


# ------------------------------------------------------------------------------ the ledger


def manual_entry_without_approval(rule: Rule, at: date, limits: Limits) -> Select[Any]:
    """A reversal a person posted that no approved ``ledger.reversal`` request produced."""
    r = ledger.reversals_subquery("r")
    approved = approved_entries_subquery(LEDGER_REVERSAL, "a")
    return select(_text(r.c.id).label("object"), r.c.reverses_entry_id, r.c.actor, r.c.posting_date).where(
        not_(r.c.idempotency_key.like(AUTOMATIC_REVERSAL)),
        not_(exists().where(approved.c.entry_id == r.c.id)),
    )


# ----------------------------------------------------------------------------------- loans


def collateral_released_unsettled(rule: Rule, at: date, limits: Limits) -> Select[Any]:
    loan = loans.unsettled_loans_subquery("l")
    released = loans.collateral_releases_subquery("e")
    return (
        select(
            _text(loan.c.id).label("object"),
            loan.c.state,
            loan.c.outstanding_principal_fen,
            func.max(released.c.reported_on).label("released_on"),
        )
        .join(released, released.c.loan_id == loan.c.id)
        .group_by(loan.c.id, loan.c.state, loan.c.outstanding_principal_fen)
    )


def borrower_multiple_loans(rule: Rule, at: date, limits: Limits) -> Select[Any]:
    """A loan whose borrower (the person, by resident ID) already held an unsettled loan."""
    later, earlier = loans.unsettled_loans_subquery("l2"), loans.unsettled_loans_subquery("l1")
    p2, p1 = accounts.member_identities_subquery("p2"), accounts.member_identities_subquery("p1")
    return (
        select(
            _text(later.c.id).label("object"),
            later.c.state,
            later.c.principal_fen,
            func.min(earlier.c.id).label("other_loan"),
        )
        .join(p2, p2.c.id == later.c.borrower_id)
        .join(p1, p1.c.resident_id_bidx == p2.c.resident_id_bidx)
        .join(earlier, and_(earlier.c.borrower_id == p1.c.id, earlier.c.id < later.c.id))
        .group_by(later.c.id, later.c.state, later.c.principal_fen)
    )


FINDERS: dict[str, Finder] = {
    "A-RATE-OVER-CAP": _rates(over=True),
    "A-RATE-UNDER-FLOOR": _rates(over=False),
    "A-BASE-OVER-CAP": _bases(over=True),
    "A-BASE-UNDER-FLOOR": _bases(over=False),
    "A-BASE-RAISED-BEFORE-WITHDRAWAL": base_raised_before_withdrawal,
    "A-RENT-OVER-YEARLY-LIMIT": rent_over_yearly_limit,
    "A-SAME-PAYEE-CARD": _shared("payee_card_bidx"),
    "A-SAME-CONTRACT": _shared("document_no_bidx"),
    "A-WITHDRAW-LONG-SEALED": withdrawal_long_sealed,
    "A-STAFF-OWN-ACCOUNT": staff_own_account,
    "A-MANUAL-ENTRY-NO-APPROVAL": manual_entry_without_approval,
    "A-COLLATERAL-RELEASED-UNSETTLED": collateral_released_unsettled,
    "A-BORROWER-MULTIPLE-LOANS": borrower_multiple_loans,
}
