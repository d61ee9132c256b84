"""What other packages may read of the loan book: SQL building blocks.

The loans' tables (``tables.py``, ``scorecard_tables.py``) are private to the package
(``tests/test_architecture.py``); other packages read them through this module, or through
``service`` where a use case already answers (``loan_book``, ``member_loans``,
``loan_summary`` …).
"""

from __future__ import annotations

from sqlalchemy import Subquery, literal, select

from hpf.loans.book.tables import collateral_event, loan, loan_debit
from hpf.loans.scorecard.tables import loan_features


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
