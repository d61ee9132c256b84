"""A few bank-debit (委托扣款) loans disbursed and active, and what the fake bank holds of them."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from sqlalchemy import select

from hpf.db.engine import read_transaction, write_transaction
from hpf.loans.book import service as loans
from hpf.loans.book.tables import loan_debit
from hpf.loans.debit.service import seq_prefix
from settlement_support import CARD

sys.path.insert(0, str(Path(__file__).parents[1] / "loanbook"))  # the loan book's helpers

from loanbook_support import new_loan, open_members, subject

__all__ = ["subject"]

MONTH = "2025-04"
APRIL_END = date(2025, 4, 30)
# 120,000 yuan over 12 months at 2.60%: the first installment of each loan.
FIRST_INSTALLMENT = 988_139 + 26_000


def bank_debit_loans(engine, ctx, clock, count: int = 3) -> list[int]:
    """``count`` bank-debit loans contracted 2025-03-20, first due 2025-04-30; the clock at April's end."""
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        people = open_members(conn, ctx, count)
        ids = [
            new_loan(
                conn, ctx, person, n + 1, repayment_source=loans.RepaymentSource.BANK_DEBIT, debit_card=CARD
            )
            for n, person in enumerate(people)
        ]
    clock.set(APRIL_END)
    return ids


def seq_of(ctx, loan_id: int, month: str = MONTH) -> str:
    return f"{seq_prefix(ctx, month)}{loan_id:010d}"


def debits(engine, month: str = MONTH) -> dict[int, tuple[str, str | None]]:
    """loan id → (state, ret_code) of the month's debits."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(loan_debit.c.loan_id, loan_debit.c.state, loan_debit.c.ret_code).where(
                loan_debit.c.month == month
            )
        ).all()
    return {int(r.loan_id): (r.state, r.ret_code) for r in rows}


def credits(fake) -> list[tuple[str, int]]:
    """The fake bank's incoming lines (reference, fen)."""
    return sorted((x.ref_seq_no, x.amt_fen) for x in fake.statement if x.direction == "C")


def installment_states(engine, loan_ids: list[int]) -> dict[int, str]:
    with read_transaction(engine) as conn:
        return {i: loans.installments(conn, i)[0].state for i in loan_ids}
