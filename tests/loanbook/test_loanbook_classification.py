"""Five-level classification: the set-based UPDATE agrees with ``overdue.classify`` and never
ranks a loan lower for being later; the recovery order, as properties (unit + integration)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st
from loanbook_support import new_loan, open_members
from sqlalchemy import update

from hpf.db.engine import write_transaction
from hpf.loans.application.rules import loan_policy
from hpf.loans.book import jobs
from hpf.loans.book import service as loans
from hpf.loans.book.overdue import Owed, allocate_recovery, classify
from hpf.loans.book.tables import loan

DAYS = [0, 1, 2, 30, 89, 90, 91, 92, 180, 181, 182, 360, 361, 400, 2000]


def test_the_daily_classification_follows_the_thresholds_and_is_monotone(engine, ctx, clock):
    day = date(2026, 6, 30)
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        borrowers = open_members(conn, ctx, len(DAYS))
        ids = [new_loan(conn, ctx, b, n + 1) for n, b in enumerate(borrowers)]
        for loan_id, days in zip(ids, DAYS, strict=True):
            if days:  # a test-only shortcut: overdue since `days` before the run
                conn.execute(update(loan).where(loan.c.id == loan_id)
                             .values(overdue_since=day - timedelta(days=days), penalty_through=day))  # fmt: skip
    clock.set(day)
    summary = jobs.run_loan_daily(engine, ctx, day)
    thresholds = loan_policy(day).classification_thresholds
    with write_transaction(engine) as conn:
        got = [(loans.loan_view(conn, i).days_past_due, loans.loan_view(conn, i).classification) for i in ids]
    assert got == [(d, classify(d, thresholds).value) for d in DAYS]
    classes = [c for _, c in got]
    assert classes == sorted(classes)  # later never means a better class
    assert summary["classification_changes"] == sum(1 for c in classes if c != "01")


@given(st.integers(0, 5000), st.integers(0, 5000))
def test_classification_is_monotone_in_days_past_due(a, b):
    thresholds = loan_policy(date(2025, 1, 1)).classification_thresholds
    low, high = sorted((a, b))
    assert classify(low, thresholds) <= classify(high, thresholds)


owed = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**7)), max_size=4)


@given(st.integers(0, 10**5), owed, owed, st.data())
def test_a_recovery_pays_everything_older_first(penalty, late, now, data):
    overdue = [Owed(n + 1, i, p) for n, (i, p) in enumerate(late)]
    current = [Owed(len(late) + n + 1, i, p) for n, (i, p) in enumerate(now)]
    total = penalty + sum(i + p for i, p in (*late, *now))
    if total == 0:
        return
    amount = data.draw(st.integers(1, total))
    paid = allocate_recovery(amount, penalty, overdue, current)
    assert paid.total_fen == amount
    # each bucket is paid in full before anything of the next is touched
    buckets = [
        (paid.penalty_fen, penalty),
        (sum(o.interest_fen for o in paid.overdue), sum(i for i, _ in late)),
        (sum(o.principal_fen for o in paid.overdue), sum(p for _, p in late)),
        (sum(o.interest_fen + o.principal_fen for o in paid.current), sum(i + p for i, p in now)),
    ]
    partial = [got < want for got, want in buckets]
    if True in partial:
        first_short = partial.index(True)
        assert all(got == 0 for got, _ in buckets[first_short + 1 :])


def test_a_recovery_is_recorded_as_a_change_of_class(engine, ctx, clock):
    """次级/可疑 → 正常 after a repayment is a row of the class history like any other change."""
    from sqlalchemy import select

    from hpf.loans.book.tables import loan_event

    day = date(2026, 6, 30)
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        [borrower] = open_members(conn, ctx, 1)
        loan_id = new_loan(conn, ctx, borrower, 1)
        conn.execute(update(loan).where(loan.c.id == loan_id)
                     .values(overdue_since=day - timedelta(days=200), penalty_through=day))  # fmt: skip
    clock.set(day)
    jobs.run_loan_daily(engine, ctx, day)
    with write_transaction(engine) as conn:
        assert loans.loan_view(conn, loan_id).classification == "04"
        loans.repay(
            conn, ctx, loan_id, 100, loans.PaymentSource.BANK, "recover-1"
        )  # nothing overdue any more
        assert loans.loan_view(conn, loan_id).classification == "01"
        changes = [
            (e.detail["from"], e.detail["to"])
            for e in conn.execute(
                select(loan_event).where(loan_event.c.loan_id == loan_id, loan_event.c.kind == "classified")
                .order_by(loan_event.c.id)
            )
        ]  # fmt: skip
    assert changes == [("01", "04"), ("04", "01")]
