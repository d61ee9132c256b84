"""The loan month-end with a bank: BDC105 debits first, then only what the bank paid is collected."""

from __future__ import annotations

import pytest
from loandebit_support import (
    APRIL_END,
    FIRST_INSTALLMENT,
    MONTH,
    bank_debit_loans,
    credits,
    debits,
    installment_states,
    seq_of,
    subject,
)
from sqlalchemy import func, select

from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import HpfError
from hpf.ledger.tables import journal_entry, journal_line
from hpf.loans.book import jobs
from hpf.loans.debit import service as debit
from hpf.settlement.adapter import UnconfiguredBank


def bank_collected(engine) -> int:
    """Dr 101 of the month's collection entries."""
    with read_transaction(engine) as conn:
        return int(
            conn.scalar(
                select(func.coalesce(func.sum(journal_line.c.amount_fen), 0))
                .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
                .where(journal_entry.c.business_id == f"LOAN-ME-{MONTH}", journal_line.c.subject_code == "101",
                       journal_line.c.side == "D")
            )
        )  # fmt: skip


@pytest.fixture
def april(fake):
    fake.today = APRIL_END
    return fake


def test_debits_that_succeed_are_collected_and_match_the_banks_credits(engine, ctx, clock, bank, april):
    ids = bank_debit_loans(engine, ctx, clock)
    summary = jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)
    assert (summary["debits_success"], summary["debits_failed"], summary["debits_pending"]) == (3, 0, 0)
    assert (summary["installments_paid"], summary["became_overdue"]) == (3, 0)
    assert installment_states(engine, ids) == dict.fromkeys(ids, "paid")
    assert credits(april) == sorted((seq_of(ctx, i), FIRST_INSTALLMENT) for i in ids)
    assert bank_collected(engine) == 3 * FIRST_INSTALLMENT == april.balance_fen - april.opening_fen
    with read_transaction(engine) as conn:
        assert check_center(conn) == []
        assert subject(conn, "122") == 0
    calls = april.debit_calls
    assert jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)["already_done"] is True
    assert april.debit_calls == calls and bank_collected(engine) == 3 * FIRST_INSTALLMENT


def test_a_refused_debit_leaves_that_installment_overdue(engine, ctx, clock, bank, april):
    ids = bank_debit_loans(engine, ctx, clock)
    april.arm("fail", seq_of(ctx, ids[1]))
    summary = jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)
    assert (summary["debits_success"], summary["debits_failed"], summary["became_overdue"]) == (2, 1, 1)
    assert debits(engine)[ids[1]] == ("failed", "E3001")
    assert installment_states(engine, ids) == {ids[0]: "paid", ids[1]: "overdue", ids[2]: "paid"}
    assert bank_collected(engine) == 2 * FIRST_INSTALLMENT == april.balance_fen - april.opening_fen
    with read_transaction(engine) as conn:
        assert subject(conn, "122") == 988_139  # the refused installment's principal
        assert check_center(conn) == []


@pytest.mark.parametrize("mode", ["timeout", "lost"])
def test_no_answer_leaves_the_debits_pending_and_a_rerun_debits_each_once(
    engine, ctx, clock, bank, april, mode
):
    ids = bank_debit_loans(engine, ctx, clock)
    april.arm(mode, seq_of(ctx, ids[0]))
    with pytest.raises(HpfError) as caught:
        jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)
    assert (caught.value.code, caught.value.status) == ("loan.debit_no_answer", 503)
    assert {state for state, _ in debits(engine).values()} == {"pending"}
    assert installment_states(engine, ids) == dict.fromkeys(ids, "due")
    assert bank_collected(engine) == 0

    summary = jobs.run_loan_month_end(engine, ctx, MONTH, bank=bank)
    assert (summary["debits_success"], summary["installments_paid"]) == (3, 3)
    assert credits(april) == sorted((seq_of(ctx, i), FIRST_INSTALLMENT) for i in ids)  # one credit each
    assert april.balance_fen - april.opening_fen == 3 * FIRST_INSTALLMENT == bank_collected(engine)
    with read_transaction(engine) as conn:
        assert check_center(conn) == []


def test_without_a_bank_debits_are_taken_as_collected(engine, ctx, clock, april):
    ids = bank_debit_loans(engine, ctx, clock, count=2)
    summary = jobs.run_loan_month_end(engine, ctx, MONTH)
    assert summary["installments_paid"] == 2 and "debits_success" not in summary
    assert debits(engine) == {} and april.debit_calls == 0
    assert installment_states(engine, ids) == dict.fromkeys(ids, "paid")


def test_debits_go_in_batches_and_an_unconfigured_bank_refuses(engine, ctx, clock, bank, april):
    ids = bank_debit_loans(engine, ctx, clock)
    with write_transaction(engine) as conn:
        assert debit.create_debits(conn, ctx, MONTH, APRIL_END.replace(day=1), APRIL_END) == 3
        assert debit.create_debits(conn, ctx, MONTH, APRIL_END.replace(day=1), APRIL_END) == 0  # once a month
    assert debit.send_debits(engine, ctx, MONTH, bank, 1, batch_size=2) == {
        "debits_sent": 3,
        "debit_batches": 2,
    }
    assert debits(engine) == dict.fromkeys(ids, ("success", "0000"))
    assert debit.send_debits(engine, ctx, MONTH, bank, 2) == {"debits_sent": 0, "debit_batches": 0}
    with pytest.raises(HpfError) as refused:
        UnconfiguredBank().debit_loans("B1", [])
    assert refused.value.code == "settlement.bank_unavailable"
