"""The day's reconciliation after a month-end with bank debits."""

from __future__ import annotations

import pytest
from loandebit_support import APRIL_END, FIRST_INSTALLMENT, MONTH, bank_debit_loans, seq_of

from hpf.loans import queries
from hpf.loans.book import jobs
from hpf.settlement import messages as m
from hpf.settlement.reconciliation import fetch_and_reconcile


@pytest.fixture
def april(fake):
    fake.today = APRIL_END
    return fake


def differences(engine, ctx, bank) -> list[tuple[str, str]]:
    run = fetch_and_reconcile(engine, ctx, APRIL_END, bank, queries.collected_debits_subquery)
    return [(d.kind, d.ref) for d in run.items]


def test_successful_debits_reconcile_clean(engine, ctx, clock, bank, april):
    bank_debit_loans(engine, ctx, clock)
    jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)
    assert differences(engine, ctx, bank) == []


def test_a_credit_for_a_debit_recorded_failed_is_a_difference(engine, ctx, clock, bank, april):
    ids = bank_debit_loans(engine, ctx, clock)
    refused = seq_of(ctx, ids[2])
    april.arm("fail", refused)
    jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)
    assert differences(engine, ctx, bank) == []
    # The bank's books say it took the money after all.
    april.statement.append(
        m.StatementLine(bank_seq_no="K-LATE-1", tx_date=APRIL_END, direction="C", amt_fen=FIRST_INSTALLMENT,
                        ref_seq_no=refused)
    )  # fmt: skip
    assert differences(engine, ctx, bank) == [("bank_only", refused)]


def test_a_success_the_bank_never_credited_is_a_difference(engine, ctx, clock, bank, april):
    bank_debit_loans(engine, ctx, clock)
    jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)
    april.statement.pop()
    assert differences(engine, ctx, bank) == [("amount_mismatch", f"LOAN-ME-{MONTH}")]


def test_the_grouping_is_what_the_caller_hands_in(engine, ctx, clock, bank, april):
    """Settlement reads no loan table: without the loans' building block each successful debit
    stands under its own reference, and the month's collection entry has no bank line."""
    from sqlalchemy import literal, select

    ids = bank_debit_loans(engine, ctx, clock)
    jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)

    def nothing_grouped():  # a block of the documented columns that groups no real reference
        return select(literal("-").label("ref"), literal("-").label("business_id")).subquery()

    run = fetch_and_reconcile(engine, ctx, APRIL_END, bank, nothing_grouped)
    assert sorted((d.kind, d.ref) for d in run.items) == sorted(
        [("bank_only", seq_of(ctx, i)) for i in ids] + [("ledger_only", f"LOAN-ME-{MONTH}")]
    )
