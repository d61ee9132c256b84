"""Golden cases of the loan book, on SQLite and PostgreSQL (integration tier).

Loans are disbursed by posting Dr 121 / Cr 101 here (``loanbook_support.disburse``): the payout
belongs to ``hpf.settlement``, which will post that entry and call ``activate``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from loanbook_support import disburse, fund, new_loan, open_members, subject, terms
from sqlalchemy import select

from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict, HpfError, InvalidInput
from hpf.ledger.tables import journal_entry, journal_line
from hpf.loans.book import jobs
from hpf.loans.book import service as loans
from hpf.loans.book.tables import dunning_notice
from hpf.loans.calculator.schedule import PrepaymentChoice, build_schedule, prepay, reprice

APRIL_END = date(2025, 4, 30)
# 23,665.44 yuan over 12 months at 2.60%: an installment of exactly 2,000.00 (REFERENCE §4.7).
TWO_THOUSAND_A_MONTH = 2_366_544


def lines_of(conn, entry_id):
    rows = conn.execute(
        select(journal_line.c.subject_code, journal_line.c.side, journal_line.c.amount_fen,
               journal_line.c.member_id, journal_line.c.balance_part)
        .where(journal_line.c.entry_id == entry_id).order_by(journal_line.c.id)
    ).all()  # fmt: skip
    return sorted(tuple(r) for r in rows)


def month_end_entries(conn, month):
    return conn.execute(
        select(journal_entry.c.id, journal_entry.c.idempotency_key, journal_entry.c.business_type)
        .where(journal_entry.c.business_id == f"LOAN-ME-{month}").order_by(journal_entry.c.id)
    ).all()  # fmt: skip


def test_an_installment_is_collected_from_the_borrowers_hpf_account(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        (borrower,) = open_members(conn, ctx, 1)
        fund(conn, ctx, borrower, 2_000_000, date(2025, 3, 20), "fund")
        loan_id = new_loan(conn, ctx, borrower)
        first = loans.installments(conn, loan_id)[0]
    assert (first.principal_fen, first.interest_fen) == (988_139, 26_000)  # 120,000 yuan, 12 months

    clock.set(APRIL_END)
    summary = jobs.run_loan_month_end(engine, ctx, "2025-04")
    assert (summary["installments_paid"], summary["collected_fen"], summary["became_overdue"]) == (
        1,
        1_014_139,
        0,
    )
    with read_transaction(engine) as conn:
        ((entry_id, key, business_type),) = month_end_entries(conn, "2025-04")
        assert business_type == "11" and key.startswith("loan-me:2025-04:h:")
        assert lines_of(conn, entry_id) == sorted([
            ("201", "D", 1_014_139, borrower, "current"),  # nothing carried over yet: this year's part
            ("121", "C", 988_139, None, None),
            ("40103", "C", 26_000, None, None),
        ])  # fmt: skip
        row = loans.installments(conn, loan_id)[0]
        assert (row.state, row.paid_principal_fen, row.paid_interest_fen, row.paid_on) == (
            "paid", 988_139, 26_000, APRIL_END,
        )  # fmt: skip
        assert loans.loan_view(conn, loan_id).outstanding_principal_fen == 12_000_000 - 988_139
        assert subject(conn, "121") == 12_000_000 - 988_139
        assert check_center(conn) == []
    assert jobs.run_loan_month_end(engine, ctx, "2025-04")["already_done"] is True


def test_the_borrower_pays_when_the_balance_covers_the_installment(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        rich, poor = open_members(conn, ctx, 2)
        fund(conn, ctx, rich, 2_000_000, date(2025, 3, 20), "rich")
        fund(conn, ctx, poor, 1_000_000, date(2025, 3, 20), "poor")  # < 1,014,139 due
        paid = new_loan(conn, ctx, rich, 1)
        late = new_loan(conn, ctx, poor, 2)
    clock.set(APRIL_END)
    jobs.run_loan_month_end(engine, ctx, "2025-04")
    with read_transaction(engine) as conn:
        ((entry_id, _, _),) = month_end_entries(conn, "2025-04")[:1]
        assert ("201", "D", 1_014_139, rich, "current") in lines_of(conn, entry_id)
        assert loans.installments(conn, paid)[0].state == "paid"
        assert loans.installments(conn, late)[0].state == "overdue"
        view = loans.loan_view(conn, late)
        assert (view.overdue_principal_fen, view.overdue_interest_fen, view.overdue_since) == (
            988_139, 26_000, APRIL_END,
        )  # fmt: skip
        assert subject(conn, "122") == 988_139
        assert check_center(conn) == []


def test_a_bank_debit_loan_is_recorded_as_received_from_the_bank(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        (borrower,) = open_members(conn, ctx, 1)
        loan_id = new_loan(conn, ctx, borrower, repayment_source=loans.RepaymentSource.BANK_DEBIT)
    clock.set(APRIL_END)
    jobs.run_loan_month_end(engine, ctx, "2025-04")
    with read_transaction(engine) as conn:
        ((entry_id, key, business_type),) = month_end_entries(conn, "2025-04")
        assert business_type == "02" and ":b:" in key
        assert lines_of(conn, entry_id) == sorted(
            [
                ("101", "D", 1_014_139, None, None),
                ("121", "C", 988_139, None, None),
                ("40103", "C", 26_000, None, None),
            ]
        )
        assert loans.installments(conn, loan_id)[0].state == "paid"
        assert check_center(conn) == []


def test_a_loan_30_days_overdue_is_recovered_penalty_first_then_interest_then_principal(engine, ctx, clock):
    """REFERENCE §4.7: 2,000 overdue at 2.60% for 30 days → 6.50 of penalty interest."""
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        (borrower,) = open_members(conn, ctx, 1)
        loan_id = new_loan(conn, ctx, borrower, principal_fen=TWO_THOUSAND_A_MONTH)
        first = loans.installments(conn, loan_id)[0]
    assert first.principal_fen + first.interest_fen == 200_000
    assert first.interest_fen == 5_128
    clock.set(APRIL_END)
    jobs.run_loan_month_end(engine, ctx, "2025-04")  # the account is empty: overdue
    for day in range(1, 31):
        clock.set(date(2025, 5, day))
        jobs.run_loan_daily(engine, ctx, date(2025, 5, day))
    with write_transaction(engine) as conn:
        view = loans.loan_view(conn, loan_id)
        assert (view.days_past_due, view.penalty_accrued_fen, view.classification) == (30, 650, "02")
        notices = conn.execute(
            select(dunning_notice.c.stage, dunning_notice.c.issued_on).order_by(dunning_notice.c.id)
        ).all()
        assert [tuple(n) for n in notices] == [(1, date(2025, 5, 1)), (30, date(2025, 5, 30))]
        assert subject(conn, "122") == 194_872

        # 1,000.00 from the bank: the penalty, all the overdue interest, then principal.
        part = loans.repay(conn, ctx, loan_id, 100_000, loans.PaymentSource.BANK, "counter-1")
        assert (part.penalty_fen, part.overdue_interest_fen, part.overdue_principal_fen) == (
            650,
            5_128,
            94_222,
        )
        assert lines_of(conn, part.entry_id) == sorted(
            [
                ("101", "D", 100_000, None, None),
                ("40103", "C", 5_778, None, None),
                ("122", "C", 94_222, None, None),
            ]
        )
        assert loans.loan_view(conn, loan_id).classification == "02"  # still 100,650 overdue
        # The rest, and the installment due today (period 2, 05-30) with it, from the HPF account.
        fund(conn, ctx, borrower, 400_000, date(2025, 5, 30), "later")
        rest = loans.repay(
            conn, ctx, loan_id, 100_650 + 200_000, loans.PaymentSource.HPF_ACCOUNT, "counter-2"
        )
        assert (rest.penalty_fen, rest.overdue_principal_fen) == (0, 100_650)
        assert rest.current_interest_fen + rest.current_principal_fen == 200_000
        replay = loans.repay(conn, ctx, loan_id, 300_650, loans.PaymentSource.HPF_ACCOUNT, "counter-2")
        assert replay.replayed and replay.settled is False and replay.entry_id == rest.entry_id
        view = loans.loan_view(conn, loan_id)
        assert (view.overdue_principal_fen, view.days_past_due, view.classification) == (0, 0, "01")
        assert (view.penalty_accrued_fen, view.overdue_since) == (0, None)
        assert subject(conn, "122") == 0
        assert [r.state for r in loans.installments(conn, loan_id)[:3]] == ["paid", "paid", "due"]
        assert check_center(conn) == []
        with pytest.raises(InvalidInput) as too_much:
            loans.repay(conn, ctx, loan_id, 1, loans.PaymentSource.BANK, "counter-3")
        assert too_much.value.code == "loan.invalid_repayment"  # nothing is owed today


def test_existing_loans_are_repriced_on_1_january(engine, ctx, clock):
    """The 2025-05-08 cut (2.60% → 2.10%, ≤ 5 years) reaches existing loans on 2026-01-01."""
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        old_borrower, new_borrower = open_members(conn, ctx, 2)
        old = new_loan(conn, ctx, old_borrower, 1, repayment_source=loans.RepaymentSource.BANK_DEBIT)
        newer = new_loan(conn, ctx, new_borrower, 2, annual_rate=Decimal("0.021"), contract_date=date(2025, 6, 1),
                         first_due_date=date(2025, 7, 1))  # fmt: skip
        before = loans.installments(conn, old)
    clock.set(date(2026, 1, 1))
    with write_transaction(engine) as conn:
        with pytest.raises(InvalidInput):
            loans.reprice(conn, ctx, date(2026, 1, 2))
        assert loans.reprice(conn, ctx, date(2026, 1, 1)) == {
            "on": "2026-01-01",
            "loans_repriced": 1,
            "rate_changes": 1,
        }
    with write_transaction(engine) as conn:
        assert loans.reprice(conn, ctx, date(2026, 1, 1))["already_done"] is True
        after = loans.installments(conn, old)
        view = loans.loan_view(conn, old)
        assert view.annual_rate == Decimal("0.021") and view.rate_e7 == 210_000
        expected = reprice(build_schedule(12_000_000, Decimal("0.026"), 12, terms(0).method, date(2025, 4, 30)),
                           10, Decimal("0.021"))  # fmt: skip
        assert after[:9] == before[:9]  # periods due before 1 January keep their rate
        assert [(r.period, r.rate_e7, r.principal_fen, r.interest_fen) for r in after[9:]] == [
            (i.period, 210_000, i.principal_fen, i.interest_fen) for i in expected.installments[9:]
        ]
        assert loans.installments(conn, newer)[0].rate_e7 == 210_000  # already at the new rate
        assert check_center(conn) == []


@pytest.mark.parametrize("choice", list(PrepaymentChoice))
def test_a_partial_prepayment_shortens_the_term_or_lowers_the_installment(engine, ctx, clock, choice):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        (borrower,) = open_members(conn, ctx, 1)
        loan_id = new_loan(conn, ctx, borrower, repayment_source=loans.RepaymentSource.BANK_DEBIT)
    clock.set(APRIL_END)
    jobs.run_loan_month_end(engine, ctx, "2025-04")
    with write_transaction(engine) as conn:
        # on the due date itself: no interest days, the whole amount is principal
        done = loans.prepay(conn, ctx, loan_id, 3_000_000, choice, loans.PaymentSource.BANK, f"pre-{choice}")
        assert (done.principal_fen, done.interest_fen) == (3_000_000, 0)
        rows = loans.installments(conn, loan_id)
        expected = prepay(build_schedule(12_000_000, Decimal("0.026"), 12, terms(0).method, date(2025, 4, 30)),
                          1, 3_000_000, choice)  # fmt: skip
        assert [(r.principal_fen, r.interest_fen, r.prepaid_fen) for r in rows] == [
            (i.principal_fen, i.interest_fen, i.prepaid_fen) for i in expected.installments
        ]
        if choice is PrepaymentChoice.SHORTEN_TERM:
            assert len(rows) < 12 and rows[1].principal_fen + rows[1].interest_fen == 1_014_139
        else:
            assert len(rows) == 12 and rows[1].principal_fen + rows[1].interest_fen < 1_014_139
        assert loans.loan_view(conn, loan_id).outstanding_principal_fen == 12_000_000 - 988_139 - 3_000_000
        assert check_center(conn) == []
        again = loans.prepay(conn, ctx, loan_id, 3_000_000, choice, loans.PaymentSource.BANK, f"pre-{choice}")
        assert again.replayed and len(loans.installments(conn, loan_id)) == len(rows)


def test_a_full_prepayment_settles_the_loan_with_interest_to_the_day(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        (borrower,) = open_members(conn, ctx, 1)
        loan_id = new_loan(conn, ctx, borrower, repayment_source=loans.RepaymentSource.BANK_DEBIT)
    clock.set(APRIL_END)
    jobs.run_loan_month_end(engine, ctx, "2025-04")
    clock.set(date(2025, 5, 10))
    with write_transaction(engine) as conn:
        done = loans.payoff(conn, ctx, loan_id, loans.PaymentSource.BANK, "payoff")
        # 11,011,861 outstanding × 2.60% ÷ 360 × 10 days (04-30 → 05-10) = 7,953.01 → 7,953
        assert (done.principal_fen, done.interest_fen, done.days) == (11_011_861, 7_953, 10)
        view = loans.loan_view(conn, loan_id)
        assert (view.state, view.outstanding_principal_fen, view.settled_on) == (
            "settled",
            0,
            date(2025, 5, 10),
        )
        assert len(loans.installments(conn, loan_id)) == 2 and subject(conn, "121") == 0
        assert check_center(conn) == []


def test_bad_terms_are_refused_and_change_nothing(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        (borrower,) = open_members(conn, ctx, 1)
    cases = [
        ({"principal_fen": 0}, "loan.invalid_terms"),
        ({"principal_fen": 1.5}, "money.not_integer_fen"),
        ({"annual_rate": Decimal("0.02612345678")}, "loan.invalid_rate"),
        ({"term_months": 400}, "loan.term_too_long"),
        ({"certificate_no": None}, "loan.certificate_required"),
        ({"first_due_date": date(2025, 3, 1)}, "loan.invalid_terms"),
        ({"borrower_id": 999_999}, "loan.member_not_found"),
    ]
    for changes, code in cases:
        with pytest.raises(HpfError) as refused, write_transaction(engine) as conn:
            loans.create_loan(conn, ctx, terms(changes.pop("borrower_id", borrower), **changes))
        assert refused.value.code == code
        assert refused.value.title and refused.value.detail
    with write_transaction(engine) as conn:
        loan_id = loans.create_loan(conn, ctx, terms(borrower))
        assert loans.create_loan(conn, ctx, terms(borrower)) == loan_id  # the same application again
        with pytest.raises(Conflict) as used:
            loans.create_loan(conn, ctx, terms(borrower, principal_fen=5_000_000))
        assert used.value.code == "loan.application_used"
    with pytest.raises(InvalidInput) as wrong, write_transaction(engine) as conn:
        disburse(conn, ctx, loan_id, 11_000_000, date(2025, 3, 20))  # 121 debited by the wrong amount
    assert wrong.value.code == "loan.disbursement_mismatch"
    with read_transaction(engine) as conn:
        assert loans.loan_view(conn, loan_id).state == "approved"
        assert subject(conn, "121") == 0


def test_the_registry_feed_flags_loans_for_the_risk_queue(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        a, b = open_members(conn, ctx, 2)
        first = new_loan(conn, ctx, a, 1)
        new_loan(conn, ctx, b, 2)
        feed = loans.FakeCollateralFeed([
            loans.CollateralNotice("R-1", f"  {terms(a, 1).certificate_no} ", "seizure", date(2025, 4, 2)),
            loans.CollateralNotice("R-2", "鲁(2025)济南市不动产证明第9999999号", "dispute", date(2025, 4, 3)),
            loans.CollateralNotice("R-0", terms(b, 2).certificate_no, "sale", date(2025, 1, 1)),  # before `since`
        ])  # fmt: skip
        notices = feed.notices(date(2025, 4, 1))
        assert loans.ingest_collateral_events(conn, ctx, notices, "fake") == {
            "stored": 1, "duplicates": 0, "unmatched": 1, "flagged": 1,
        }  # fmt: skip
        assert loans.ingest_collateral_events(conn, ctx, notices, "fake")["duplicates"] == 1
        queue = loans.collateral_risk_queue(conn)
        assert [(q.id, q.collateral_flag) for q in queue] == [(first, "seizure")]
        loans.review_collateral(conn, ctx, first, "已联系借款人，查封系他案误封")
        assert loans.collateral_risk_queue(conn) == []
        assert [e.kind for e in loans.events(conn, first)][-2:] == [
            "collateral_flagged",
            "collateral_reviewed",
        ]
        assert loans.loan_view(conn, first).certificate_no == terms(a, 1).certificate_no
