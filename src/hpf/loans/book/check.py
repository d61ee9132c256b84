"""The loan book's part of ``hpf check``: loans agree with the ledger and with their schedules.

- Σ outstanding principal of active loans + Σ disbursements in flight (settlement orders of
  owner kind ``loan`` reserved, sent or unknown: their reservation already debited 121, the loan
  becomes active when the bank pays) = balance of 121 委托贷款 + 122 逾期贷款, and
  Σ overdue principal = balance of 122;
- each loan's schedule repays exactly its principal (Σ installment principal + Σ prepaid);
- each disbursed loan's outstanding principal = principal − Σ paid − Σ prepaid, and its overdue
  principal = what its overdue installments still owe.

Plain queries returning findings (:class:`~hpf.kernel.findings.Finding`), like the ledger's own checks.
"""

from __future__ import annotations

from sqlalchemy import Connection, Subquery, case, func, select

from hpf.kernel.findings import Finding
from hpf.ledger.queries import subject_debit_balance
from hpf.loans.book.tables import loan, loan_installment
from hpf.settlement.queries import in_flight_fen

LOAN_OWNER = (
    "loan"  # hpf.loans.application.handler.OWNER_KIND (not imported: the check stays below the engine)
)
TITLES_ZH = {
    "loan_control": "贷款余额与委托贷款科目余额不符",
    "loan_schedule": "贷款余额与还款计划不符",
}


def finding(check: str, subject: str, detail: str) -> Finding:
    """Like :func:`hpf.ledger.check.finding`: code = the check, subject = the loan or subject."""
    return Finding(check, TITLES_ZH[check], detail, subject=subject)


def check_loans(conn: Connection) -> list[Finding]:
    return [*control_totals(conn), *schedule_totals(conn)]


def control_totals(conn: Connection) -> list[Finding]:
    active = loan.c.state == "active"
    outstanding, overdue = conn.execute(
        select(
            func.coalesce(func.sum(loan.c.outstanding_principal_fen), 0),
            func.coalesce(func.sum(loan.c.overdue_principal_fen), 0),
        ).where(active)
    ).one()
    in_flight = in_flight_fen(conn, LOAN_OWNER)  # orders not final yet
    found = []
    books = subject_debit_balance(conn, ("121", "122"))
    if books != outstanding + in_flight:
        found.append(
            finding(
                "loan_control",
                "subject 121+122",
                f"Σ outstanding principal of active loans {outstanding} fen + disbursements in flight "
                f"{in_flight} fen ≠ 121 + 122 = {books} fen",
            )
        )
    late = subject_debit_balance(conn, ("122",))
    if late != overdue:
        found.append(
            finding(
                "loan_control",
                "subject 122",
                f"Σ overdue principal of active loans {overdue} fen ≠ 122 = {late} fen",
            )
        )
    return found


def loans_against_schedules_subquery(name: str | None = None) -> Subquery:
    """Every loan with what its schedule says (the loan book's own check, ``book/check.py``, per
    loan): a schedule repays exactly the principal; a disbursed loan's outstanding principal is
    the principal less what was repaid and prepaid, its overdue principal what its overdue
    installments still owe.

    Columns: ``id``, ``state``, ``principal_fen``, ``outstanding_principal_fen``,
    ``overdue_principal_fen``, ``scheduled_fen`` (Σ installment principal + prepaid),
    ``repaid_fen`` (Σ paid principal + prepaid), ``late_fen`` (Σ overdue installments' unpaid
    principal); the sums are 0 for a loan without installments.
    """
    li = loan_installment.c
    per_loan = (
        select(
            li.loan_id.label("loan_id"),
            func.sum(li.principal_fen + li.prepaid_fen).label("scheduled"),
            func.sum(li.paid_principal_fen + li.prepaid_fen).label("repaid"),
            func.sum(case((li.state == "overdue", li.principal_fen - li.paid_principal_fen), else_=0)).label(
                "late"
            ),
        )
        .group_by(li.loan_id)
        .subquery()
    )
    c = loan.c
    return (
        select(
            c.id, c.state, c.principal_fen, c.outstanding_principal_fen, c.overdue_principal_fen,
            func.coalesce(per_loan.c.scheduled, 0).label("scheduled_fen"),
            func.coalesce(per_loan.c.repaid, 0).label("repaid_fen"),
            func.coalesce(per_loan.c.late, 0).label("late_fen"),
        )
        .select_from(loan.outerjoin(per_loan, per_loan.c.loan_id == c.id))
        .subquery(name)
    )  # fmt: skip


def schedule_totals(conn: Connection) -> list[Finding]:
    q = loans_against_schedules_subquery("q")
    rows = conn.execute(
        select(q.c.id, q.c.state, q.c.principal_fen, q.c.outstanding_principal_fen,
               q.c.overdue_principal_fen, q.c.scheduled_fen, q.c.repaid_fen, q.c.late_fen)
        .where(
            (q.c.scheduled_fen != q.c.principal_fen)
            | (q.c.state.in_(("active", "settled"))
               & ((q.c.outstanding_principal_fen != q.c.principal_fen - q.c.repaid_fen)
                  | (q.c.overdue_principal_fen != q.c.late_fen)))
        )
        .order_by(q.c.id)
        .limit(100)
    ).all()  # fmt: skip
    found = []
    for loan_id, state, principal, outstanding, overdue, scheduled, repaid, late in rows:
        if (scheduled or 0) != principal:
            found.append(finding("loan_schedule", f"loan {loan_id}",
                                 f"schedule principal {scheduled or 0} fen ≠ loan principal {principal} fen"))  # fmt: skip
        else:
            found.append(finding("loan_schedule", f"loan {loan_id}",
                                 f"{state}: outstanding/overdue {outstanding}/{overdue} fen ≠ "
                                 f"schedule {principal - (repaid or 0)}/{late or 0} fen"))  # fmt: skip
    return found
