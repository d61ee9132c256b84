"""A small center with loans for the loan pages: the auth center's members, three loans, one
month collected, one loan overdue with a dunning notice, one collateral flag.

- loan ``mine``: member A (the member principal) borrows, colleague C co-borrows; April
  collected from A's account; nothing owed on the business date (2025-05-10).
- loan ``theirs``: stranger B borrows (another employer); April collected; the registry
  reported its home seized (the risk queue).
- loan ``late``: C borrows with no money in the account: April is overdue, 10 days past due
  on 2025-05-10, dunned.
- member D: no loan.

Loans are built with the loan book's own test helpers (``tests/loanbook/loanbook_support.py``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

sys.path.insert(0, str(Path(__file__).parents[1] / "loanbook"))  # the loan book's helpers

from loanbook_support import fund, new_loan, terms

from auth_center import AuthCenter, build_auth_center
from factories import member_payload
from hpf.access.permissions import Principal
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.accounts.service import Member
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.context import Context
from hpf.ledger.tables import journal_entry, journal_line
from hpf.loans.book import jobs
from hpf.loans.book import service as loans
from hpf.loans.book.tables import loan, loan_event, loan_installment
from signing_in import FAST_PASSWORDS, PASSWORD

TODAY = date(2025, 5, 10)


@dataclass
class LoanCenter:
    center: AuthCenter
    mine: int
    theirs: int
    late: int
    colleague_login: Principal
    loanless: Member

    @property
    def app(self) -> Any:
        return self.center.app


def build_loan_center(engine: Engine) -> LoanCenter:
    center = build_auth_center(engine)
    clock = center.clock
    ctx = Context(actor="setup", clock=clock, center_code="990001", source="test")
    a, b, c = center.member.id, center.stranger.id, center.colleague.id
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        fund(conn, ctx, a, 2_000_000, clock.today(), "fund-a")
        fund(conn, ctx, b, 2_000_000, clock.today(), "fund-b")
        mine = new_loan(conn, ctx, a, 1, co_borrower_ids=(c,))
        theirs = new_loan(conn, ctx, b, 2)
        late = new_loan(conn, ctx, c, 3)
        colleague = identity.create_member_login(
            conn, ctx, c, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
        )
        loanless = accounts.open_member(conn, ctx, center.employer.account_no, member_payload(9, name="赵六"))
    clock.set(date(2025, 4, 30))
    jobs.run_loan_month_end(engine, ctx, "2025-04")
    clock.set(TODAY)
    jobs.run_loan_daily(engine, ctx, TODAY)
    with write_transaction(engine) as conn:
        notice = loans.CollateralNotice("R-1", terms(b, 2).certificate_no or "", "seizure", date(2025, 5, 8))
        loans.ingest_collateral_events(conn, ctx, [notice], "registry")
    return LoanCenter(center, mine, theirs, late, colleague, loanless)


def money_state(engine: Engine) -> tuple[Any, ...]:
    """Everything a quote must leave alone: entries, lines, loan rows, installments, events."""
    with read_transaction(engine) as conn:
        return (
            conn.scalar(select(func.count()).select_from(journal_entry)),
            conn.scalar(select(func.coalesce(func.sum(journal_line.c.amount_fen), 0))),
            tuple(conn.execute(select(loan.c.id, loan.c.version, loan.c.outstanding_principal_fen).order_by(loan.c.id))),
            tuple(conn.execute(select(loan_installment).order_by(loan_installment.c.loan_id, loan_installment.c.period))),
            conn.scalar(select(func.count()).select_from(loan_event)),
        )  # fmt: skip
