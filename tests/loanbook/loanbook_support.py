"""A small center for loan book tests: members with money, loans disbursed and active.

The disbursement entry (Dr 121 / Cr 101) is posted here with ``ledger.post``: the payout
belongs to ``hpf.settlement``, which will post it and call ``activate`` itself.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.kernel.context import Context
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.loans.book import service as loans
from hpf.loans.calculator.schedule import Method


def open_members(conn, ctx: Context, count: int, seq: int = 1) -> list[int]:
    emp = accounts.register_employer(conn, ctx, employer_payload(seq))
    return [
        accounts.open_member(conn, ctx, emp.account_no, member_payload(seq * 100 + i)).id
        for i in range(count)
    ]


def fund(conn, ctx: Context, member_id: int, amount_fen: int, day: date, key: str) -> None:
    """Money into a member's account (as if remitted): Dr 101 / Cr 201 current part."""
    ledger.post(
        conn,
        JournalEntry("01", f"TEST-{member_id}", key, day, day, (
            Line("101", Side.DEBIT, amount_fen),
            Line("201", Side.CREDIT, amount_fen, member_id=member_id, part=BalancePart.CURRENT),
        )),
        ctx.clock,
    )  # fmt: skip


def terms(borrower_id: int, application_id: int = 1, **changes: object) -> loans.LoanTerms:
    base = loans.LoanTerms(
        application_id=application_id,
        borrower_id=borrower_id,
        principal_fen=12_000_000,
        annual_rate=Decimal("0.026"),
        term_months=12,
        method=Method.EQUAL_INSTALLMENT,
        contract_date=date(2025, 3, 20),
        first_due_date=date(2025, 4, 30),
        repayment_source=loans.RepaymentSource.HPF_ACCOUNT,
        house_nature="01",
        second_home=False,
        house_price_fen=100_000_000,
        floor_area=Decimal("89.50"),
        guarantee_type="01",
        certificate_no=f"鲁(2025)济南市不动产证明第{application_id:07d}号",
        appraisal_fen=98_000_000,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def disburse(conn, ctx: Context, loan_id: int, principal_fen: int, day: date) -> int:
    """Post the disbursement (what hpf.settlement will do) and activate the loan."""
    entry_id = ledger.post(
        conn,
        JournalEntry("01", f"LOAN-{loan_id}", f"disburse:{loan_id}", day, day, (
            Line("121", Side.DEBIT, principal_fen), Line("101", Side.CREDIT, principal_fen),
        ), memo="贷款发放"),
        ctx.clock,
    )  # fmt: skip
    loans.activate(conn, ctx, loan_id, day, entry_id)
    return entry_id


def new_loan(conn, ctx: Context, borrower_id: int, application_id: int = 1, **changes: object) -> int:
    t = terms(borrower_id, application_id, **changes)
    loan_id = loans.create_loan(conn, ctx, t)
    disburse(conn, ctx, loan_id, t.principal_fen, t.contract_date)
    return loan_id


def subject(conn, code: str) -> int:
    """Debit-minus-credit balance of a subject."""
    for row in ledger.subject_balances(conn):
        if row.code == code:
            return int(row.debit_fen - row.credit_fen)
    raise KeyError(code)
