"""``hpf check`` covers the loan book: a loan that disagrees with 121/122 or with its schedule is
named; the daily run is idempotent per day (integration tier, both engines)."""

from __future__ import annotations

from datetime import date

from loanbook_support import new_loan, open_members
from sqlalchemy import update

from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.loans.book import jobs
from hpf.loans.book import service as loans
from hpf.loans.book.tables import loan, loan_installment


def test_a_loan_that_disagrees_with_the_books_or_its_schedule_is_reported(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        (borrower,) = open_members(conn, ctx, 1)
        loan_id = new_loan(conn, ctx, borrower)
        assert check_center(conn) == []
    with write_transaction(engine) as conn:
        conn.execute(update(loan).where(loan.c.id == loan_id).values(outstanding_principal_fen=11_999_999))
        found = {(f.code, f.subject) for f in check_center(conn)}
        assert found == {("loan_control", "subject 121+122"), ("loan_schedule", f"loan {loan_id}")}
        conn.execute(update(loan).where(loan.c.id == loan_id).values(outstanding_principal_fen=12_000_000))
        conn.execute(
            update(loan_installment)
            .where(loan_installment.c.loan_id == loan_id, loan_installment.c.period == 12)
            .values(principal_fen=loan_installment.c.principal_fen + 1)
        )
        (finding,) = check_center(conn)
        assert (finding.code, finding.subject) == ("loan_schedule", f"loan {loan_id}")
        assert "schedule principal 12000001" in finding.message_en


def test_the_daily_run_accrues_a_day_once(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        (borrower,) = open_members(conn, ctx, 1)
        loan_id = new_loan(conn, ctx, borrower)  # nothing in the account: overdue at month-end
    clock.set(date(2025, 5, 10))
    jobs.run_loan_month_end(engine, ctx, "2025-04")
    first = jobs.run_loan_daily(engine, ctx, date(2025, 5, 10))
    assert jobs.run_loan_daily(engine, ctx, date(2025, 5, 10))["already_done"] is True
    with read_transaction(engine) as conn:
        view = loans.loan_view(conn, loan_id)
    # 1,014,139 overdue for 10 days at 2.60% × 1.5 ÷ 360 = 1,098.65 → 1,099 fen
    assert (view.days_past_due, view.penalty_accrued_fen) == (10, 1_099)
    assert first["penalty_accrued_fen"] == 1_099 and first["overdue_loans"] == 1
