"""``hpf check``: the ledger's invariants, as plain queries returning findings.

Each check returns a list of :class:`~hpf.kernel.findings.Finding` (code = the check, subject =
the object, English message = the figures) instead of raising (beancount's validation style), so
the CLI can report the first broken account and an API can list them all. Every check is one
set-based query, so the whole ledger of a large center is checked in seconds.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Subquery, case, func, literal, select

from hpf.kernel.findings import Finding
from hpf.ledger.chart import EMPLOYER_SUSPENSE, MEMBER_CONTROL
from hpf.ledger.queries import subject_totals_subquery
from hpf.ledger.rules import previous_year_end
from hpf.ledger.tables import (
    accrual_year,
    employer_balance,
    journal_entry,
    journal_line,
    ledger_subject,
    member_balance,
    subject_balance,
)

# The checks (the findings' codes) and what each means, for a person who reads Chinese.
TITLES_ZH = {
    "line_reference": "分录行引用的凭证、科目或单位账户不存在",
    "entry_balanced": "凭证借贷不平衡",
    "subject_balance": "科目余额与分录发生额不符",
    "member_balance": "个人账户余额与分录不符",
    "employer_balance": "单位账户余额与分录不符",
    "control_total": "总账科目余额与明细账合计不符",
    "accrual": "个人积数与分录不符",
}


def finding(check: str, subject: str, detail: str) -> Finding:
    """A broken invariant: ``subject`` names the object ("entry 12", "subject 201",
    "member 345", "employer 7"), ``detail`` the figures (English)."""
    return Finding(check, TITLES_ZH[check], detail, subject=subject)


_debit = case((journal_line.c.side == "D", journal_line.c.amount_fen), else_=0)
_credit = case((journal_line.c.side == "C", journal_line.c.amount_fen), else_=0)


def check_ledger(conn: Connection) -> list[Finding]:
    """All findings, most fundamental first: entries, subjects, sub-ledgers, control totals."""
    return [
        *dangling_lines(conn),
        *unbalanced_entries(conn),
        *subject_mismatches(conn),
        *member_mismatches(conn),
        *employer_mismatches(conn),
        *control_mismatches(conn),
        *accrual_mismatches(conn),
    ]


def dangling_lines(conn: Connection) -> list[Finding]:
    """Referential integrity of journal lines (the table carries no foreign keys, for speed)."""
    no_entry = conn.execute(
        select(journal_line.c.id, journal_line.c.entry_id)
        .outerjoin(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
        .where(journal_entry.c.id.is_(None))
        .limit(10)
    )
    found = [finding("line_reference", f"entry {e}", f"line {i} names a missing entry") for i, e in no_entry]
    no_subject = conn.execute(
        select(journal_line.c.id, journal_line.c.subject_code)
        .outerjoin(ledger_subject, ledger_subject.c.code == journal_line.c.subject_code)
        .where(ledger_subject.c.code.is_(None))
        .limit(10)
    )
    found += [
        finding("line_reference", f"subject {c}", f"line {i} names an unknown subject") for i, c in no_subject
    ]
    no_employer = conn.execute(
        select(journal_line.c.id, journal_line.c.employer_id)
        .outerjoin(employer_balance, employer_balance.c.employer_id == journal_line.c.employer_id)
        .where(journal_line.c.employer_id.is_not(None), employer_balance.c.employer_id.is_(None))
        .limit(10)
    )
    found += [
        finding("line_reference", f"employer {e}", f"line {i} names an employer without an account")
        for i, e in no_employer
    ]
    return found


def unbalanced_entries(conn: Connection) -> list[Finding]:
    rows = conn.execute(
        select(journal_line.c.entry_id, func.sum(_debit), func.sum(_credit))
        .group_by(journal_line.c.entry_id)
        .having(func.sum(_debit) != func.sum(_credit))
        .order_by(journal_line.c.entry_id)
    )
    return [finding("entry_balanced", f"entry {e}", f"debits {d} fen ≠ credits {c} fen") for e, d, c in rows]


def subject_mismatches(conn: Connection) -> list[Finding]:
    posted = (
        select(
            journal_line.c.subject_code.label("code"),
            func.sum(_debit).label("d"),
            func.sum(_credit).label("c"),
        )
        .group_by(journal_line.c.subject_code)
        .subquery()
    )
    stored = subject_totals_subquery("stored")
    rows = conn.execute(
        select(
            stored.c.subject_code,
            stored.c.debit_fen,
            stored.c.credit_fen,
            func.coalesce(posted.c.d, 0),
            func.coalesce(posted.c.c, 0),
        )
        .outerjoin(posted, posted.c.code == stored.c.subject_code)
        .where(
            (stored.c.debit_fen != func.coalesce(posted.c.d, 0))
            | (stored.c.credit_fen != func.coalesce(posted.c.c, 0))
        )
        .order_by(stored.c.subject_code)
    )
    return [
        finding(
            "subject_balance",
            f"subject {code}",
            f"materialised debit/credit {md}/{mc} fen ≠ postings {pd}/{pc} fen",
        )
        for code, md, mc, pd, pc in rows
    ]


def _member_posted(conn: Connection) -> Subquery:
    """Each member's parts as the postings define them (decision 0005).

    Current-year (当年归集) = current-part lines valued in the open interest year; carried-over
    (上年结转) = everything valued in settled years plus this year's carried-part lines.
    """
    year_end = conn.scalar(select(accrual_year.c.year_end).where(accrual_year.c.state == "open"))
    signed = _credit - _debit
    in_this_year: ColumnElement[bool] = (
        journal_line.c.value_date.is_not(None)  # no interest year yet: every line is this year's
        if year_end is None
        else journal_line.c.value_date > previous_year_end(year_end)
    )
    current_line = in_this_year & (journal_line.c.balance_part == "current")
    return (
        select(
            journal_line.c.member_id.label("member_id"),
            func.sum(case((current_line, 0), else_=signed)).label("carried"),
            func.sum(case((current_line, signed), else_=0)).label("current"),
        )
        .where(journal_line.c.member_id.is_not(None))
        .group_by(journal_line.c.member_id)
        .subquery()
    )


def member_mismatches(conn: Connection) -> list[Finding]:
    posted = _member_posted(conn)
    p_carried = func.coalesce(posted.c.carried, 0)
    p_current = func.coalesce(posted.c.current, 0)
    rows = conn.execute(
        select(
            member_balance.c.member_id,
            member_balance.c.carried_fen,
            member_balance.c.current_fen,
            p_carried,
            p_current,
        )
        .outerjoin(posted, posted.c.member_id == member_balance.c.member_id)
        .where((member_balance.c.carried_fen != p_carried) | (member_balance.c.current_fen != p_current))
        .order_by(member_balance.c.member_id)
        .limit(100)
    )
    found = [
        finding(
            "member_balance",
            f"member {m}",
            f"materialised carried/current {mc}/{mu} fen ≠ postings {pc}/{pu} fen",
        )
        for m, mc, mu, pc, pu in rows
    ]
    orphans = conn.execute(
        select(posted.c.member_id)
        .outerjoin(member_balance, member_balance.c.member_id == posted.c.member_id)
        .where(member_balance.c.member_id.is_(None))
        .limit(100)
    )
    found += [
        finding("member_balance", f"member {m}", "postings exist but no balance row") for (m,) in orphans
    ]
    return found


def employer_mismatches(conn: Connection) -> list[Finding]:
    posted = (
        select(
            journal_line.c.employer_id.label("employer_id"),
            func.sum(_credit - _debit).label("balance"),
        )
        .where(journal_line.c.employer_id.is_not(None))
        .group_by(journal_line.c.employer_id)
        .subquery()
    )
    p_balance = func.coalesce(posted.c.balance, 0)
    rows = conn.execute(
        select(employer_balance.c.employer_id, employer_balance.c.balance_fen, p_balance)
        .outerjoin(posted, posted.c.employer_id == employer_balance.c.employer_id)
        .where(employer_balance.c.balance_fen != p_balance)
        .order_by(employer_balance.c.employer_id)
        .limit(100)
    )
    return [
        finding("employer_balance", f"employer {e}", f"materialised {mb} fen ≠ postings {pb} fen")
        for e, mb, pb in rows
    ]


def control_mismatches(conn: Connection) -> list[Finding]:
    """Control accounts equal the sum of their sub-ledgers (201 = Σ members, 21901 = Σ employers)."""
    found = []
    for code, total in (
        (
            MEMBER_CONTROL,
            select(func.coalesce(func.sum(member_balance.c.carried_fen + member_balance.c.current_fen), 0)),
        ),
        (EMPLOYER_SUSPENSE, select(func.coalesce(func.sum(employer_balance.c.balance_fen), literal(0)))),
    ):
        control = conn.execute(
            select(func.sum(subject_balance.c.credit_fen - subject_balance.c.debit_fen)).where(
                subject_balance.c.subject_code == code
            )
        ).scalar()
        sub_total = conn.execute(total).scalar()
        if (control or 0) != (sub_total or 0):
            found.append(
                finding(
                    "control_total",
                    f"subject {code}",
                    f"control {control} fen ≠ sub-ledger sum {sub_total} fen",
                )
            )
    return found


def accrual_mismatches(conn: Connection) -> list[Finding]:
    """Each member's 积数 equals opening balance × days of the year + Σ change × days remaining."""
    year_end = conn.scalar(select(accrual_year.c.year_end).where(accrual_year.c.state == "open"))
    if year_end is None:
        return []
    start = previous_year_end(year_end)
    days = (year_end - start).days
    signed = _credit - _debit

    def part(name: str, value: ColumnElement[int]) -> ColumnElement[int]:
        return func.sum(case((journal_line.c.balance_part == name, value), else_=0))

    year = (
        select(
            journal_line.c.member_id.label("member_id"),
            part("carried", signed).label("dc"),
            part("current", signed).label("du"),
            part("carried", signed * journal_line.c.accrual_days).label("ac"),
            part("current", signed * journal_line.c.accrual_days).label("au"),
        )
        .where(journal_line.c.member_id.is_not(None), journal_line.c.value_date > start)
        .group_by(journal_line.c.member_id)
        .subquery()
    )
    mb = member_balance.c
    want_carried = (mb.carried_fen - func.coalesce(year.c.dc, 0)) * days + func.coalesce(year.c.ac, 0)
    want_current = (mb.current_fen - func.coalesce(year.c.du, 0)) * days + func.coalesce(year.c.au, 0)
    rows = conn.execute(
        select(mb.member_id, mb.accrual_carried, mb.accrual_current, want_carried, want_current)
        .outerjoin(year, year.c.member_id == mb.member_id)
        .where((mb.accrual_carried != want_carried) | (mb.accrual_current != want_current))
        .order_by(mb.member_id)
        .limit(100)
    )
    return [
        finding(
            "accrual",
            f"member {m}",
            f"积数 carried/current {ac}/{au} fen·days ≠ {wc}/{wu} from postings (year to {year_end})",
        )
        for m, ac, au, wc, wu in rows
    ]
