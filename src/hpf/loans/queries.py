"""What other packages may read of the loan book: SQL building blocks.

The loans' tables (``tables.py``, ``scorecard_tables.py``) are private to the package
(``tests/test_architecture.py``); other packages read them through this module, or through
``service`` where a use case already answers (``loan_book``, ``member_loans``,
``loan_summary`` …).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

from sqlalchemy import Connection, Subquery, literal, select

from hpf.loans.book.check import loans_against_schedules_subquery as loans_against_schedules_subquery
from hpf.loans.book.tables import collateral_event, loan, loan_debit, loan_event
from hpf.loans.scorecard.tables import loan_features
from hpf.services.queries import application_state_of


def active_loans_subquery(name: str | None = None) -> Subquery:
    """Every active (disbursed, not yet repaid) loan with what its servicing turns on.

    Columns: ``id``, ``borrower_id`` (a member id), ``repayment_source`` (``hpf_account`` or
    ``bank_debit``), ``overdue_principal_fen``, ``overdue_interest_fen``,
    ``penalty_accrued_fen``, ``days_past_due``, ``features`` (the scorecard's features recorded
    at application, ``{feature: value}``, or NULL for a loan made outside the engine).
    """
    c = loan.c
    return (
        select(
            c.id,
            c.borrower_id,
            c.repayment_source,
            c.overdue_principal_fen,
            c.overdue_interest_fen,
            c.penalty_accrued_fen,
            c.days_past_due,
            loan_features.c.features,
        )
        .select_from(loan.outerjoin(loan_features, loan_features.c.loan_id == c.id))
        .where(c.state == "active")
        .subquery(name)
    )


def collected_debits_subquery(name: str | None = None) -> Subquery:
    """Every loan debit (BDC105) the center recorded as successful, with the entry that posts it.

    Columns: ``ref`` (the debit's 业务流水号, the reference of its credit on the bank's
    statement; unique) and ``business_id`` (``LOAN-ME-<YYYY-MM>``: its month's collection entry,
    one Dr 101 for all the month's successful debits, ``hpf.loans.book.jobs``). Settlement's
    reconciliation counts these credits towards that entry (``reconciliation.EntryGroups``).
    """
    d = loan_debit.c
    return (
        select(d.seq_no.label("ref"), (literal("LOAN-ME-") + d.month).label("business_id"))
        .where(d.state == "success")
        .subquery(name)
    )


class RegistryLoan(NamedTuple):
    """A loan as the national loan registry is told of it (decision 0031).

    ``state``: the book's state, but ``void`` for an approved contract whose application failed
    (its disbursement came back: decision 0013). ``member_ids``: the borrower first, then the
    co-borrowers."""

    id: int
    state: str
    principal_fen: int
    contract_date: date
    disbursed_on: date | None
    settled_on: date | None
    borrower_id: int
    co_borrower_ids: tuple[int, ...]


def registry_loans(conn: Connection, loan_ids: Sequence[int]) -> list[RegistryLoan]:
    """The loans of ``loan_ids`` as the registry feed reports them (unknown ids left out)."""
    ids = sorted(set(loan_ids))
    if not ids:
        return []
    c = loan.c
    app_state = application_state_of(c.application_id)
    rows = conn.execute(
        select(
            c.id, c.state, c.principal_fen, c.contract_date, c.disbursed_on, c.settled_on,
            c.borrower_id, c.co_borrower_ids, app_state.label("application_state"),
        ).where(c.id.in_(ids))
    ).all()  # fmt: skip
    return [
        RegistryLoan(
            int(r.id),
            "void" if r.state == "approved" and r.application_state == "failed" else str(r.state),
            int(r.principal_fen),
            r.contract_date,
            r.disbursed_on,
            r.settled_on,
            int(r.borrower_id),
            tuple(int(i) for i in (r.co_borrower_ids or [])),
        )
        for r in rows
    ]


def unsettled_loans_subquery(name: str | None = None) -> Subquery:
    """Every loan contract not yet repaid: approved (not yet disbursed) or active.

    Columns: ``id``, ``borrower_id`` (a member id), ``state`` (``approved`` or ``active``),
    ``contract_date``, ``principal_fen``, ``outstanding_principal_fen``.
    """
    c = loan.c
    return (
        select(c.id, c.borrower_id, c.state, c.contract_date, c.principal_fen, c.outstanding_principal_fen)
        .where(c.state.in_(("approved", "active")))
        .subquery(name)
    )


def collateral_releases_subquery(name: str | None = None) -> Subquery:
    """Every release (解除抵押) the real-estate registry reported about a loan's collateral.

    Columns: ``loan_id``, ``reported_on``, ``source``.
    """
    e = collateral_event.c
    return select(e.loan_id, e.reported_on, e.source).where(e.kind == "release").subquery(name)


# The loan movements the center's warehouse counts (``hpf.warehouse``): a disbursement, and
# every repayment however it came (the month's collection, a repayment at the counter, a partial
# prepayment, a payoff).
LOAN_MOVEMENT_KINDS = {"activated": "disbursement", "collected": "repayment", "repaid": "repayment",
                       "prepaid": "repayment", "paid_off": "repayment"}  # fmt: skip


def loan_movements_subquery(name: str | None = None) -> Subquery:
    """Every disbursement and repayment of the loan book, as its history records it.

    Columns: ``loan_id``, ``borrower_id`` (a member id), ``kind`` (the event: ``activated`` =
    disbursement; ``collected``, ``repaid``, ``prepaid``, ``paid_off`` = repayments; see
    ``LOAN_MOVEMENT_KINDS``), ``business_date``, ``amount_fen`` (the principal disbursed, or
    what a repayment paid: principal and interest), ``entry_id`` (the journal entry that posted
    it; one entry may post the month's collection of many loans).
    """
    e = loan_event.c
    return (
        select(e.loan_id, loan.c.borrower_id, e.kind, e.business_date, e.amount_fen, e.entry_id)
        .join(loan, loan.c.id == e.loan_id)
        .where(e.kind.in_(tuple(LOAN_MOVEMENT_KINDS)), e.amount_fen.is_not(None))
        .subquery(name)
    )


def loan_book_subquery(name: str | None = None) -> Subquery:
    """Every loan contract as the book holds it now.

    Columns: ``id``, ``borrower_id`` (a member id), ``state`` (``approved``, ``active``,
    ``settled``, ``written_off``), ``principal_fen``, ``outstanding_principal_fen``,
    ``overdue_principal_fen``, ``overdue_interest_fen``, ``days_past_due``, ``classification``
    (五级分类 01–05), ``contract_date``, ``disbursed_on``, ``rate_e7`` (the annual rate now,
    × 10⁷).
    """
    c = loan.c
    return select(
        c.id, c.borrower_id, c.state, c.principal_fen, c.outstanding_principal_fen, c.overdue_principal_fen,
        c.overdue_interest_fen, c.days_past_due, c.classification, c.contract_date, c.disbursed_on, c.rate_e7,
    ).subquery(name)  # fmt: skip


def loan_facts_subquery(name: str | None = None) -> Subquery:
    """Every loan contract with what the monthly supervision report counts (decision 0039).

    Columns: ``id``, ``borrower_id`` (a member id), ``state``, ``principal_fen``, ``term_months``,
    ``disbursed_on``, ``settled_on``, ``outstanding_principal_fen``, ``overdue_principal_fen``,
    ``overdue_interest_fen`` (the book as it stands now).
    """
    c = loan.c
    return select(
        c.id, c.borrower_id, c.state, c.principal_fen, c.term_months, c.disbursed_on, c.settled_on,
        c.outstanding_principal_fen, c.overdue_principal_fen, c.overdue_interest_fen,
    ).subquery(name)  # fmt: skip
