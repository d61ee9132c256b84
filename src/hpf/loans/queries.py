"""What other packages may read of the loan book: an SQL building block.

The loans' tables (``tables.py``, ``scorecard_tables.py``) are private to the package
(``tests/test_architecture.py``); other packages read them through this module, or through
``service`` where a use case already answers (``loan_book``, ``member_loans``,
``loan_summary`` …).
"""

from __future__ import annotations

from sqlalchemy import Subquery, select

from hpf.loans.book.tables import loan
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
