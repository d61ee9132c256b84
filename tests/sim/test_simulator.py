"""The simulator lives months of a small center; the ledger stays right and history is realistic."""

from datetime import date

from sqlalchemy import func, select

from hpf.check import check_center
from hpf.contributions.tables import arrears, remittance
from hpf.db.calendar import set_business_date, stored_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.jobs import batch_job
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger.tables import journal_entry
from hpf.loans.book.tables import loan, loan_debit
from hpf.schema import upgrade
from hpf.services.tables import application
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate


def lived_center(tmp_path, name: str, months: int = 13):
    engine = make_engine(f"sqlite:///{tmp_path}/{name}.sqlite3")
    upgrade(engine)
    start = date(2025, 1, 1)
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(
        engine, Context("demo", FixedClock(start), "990001"), seed=3, employers=40, members=1200
    )
    return engine, simulate(engine, "990001", months=months, seed=3)


def test_a_year_of_simulated_business_keeps_the_ledger_right(tmp_path):
    engine, summary = lived_center(tmp_path, "a")
    assert summary.months == 13
    assert summary.settlements == 1  # June 2025
    assert summary.hires and summary.leavers and summary.transfers and summary.late
    w = summary.withdrawals  # applications of every kind of outcome
    assert w.applied > 30 and w.straight_through > w.applied // 2
    assert w.reviewed and w.refused and w.paid and 0 < w.payout_failed < w.paid // 5  # a few refused
    loans = summary.loans  # applied, reviewed by another person, disbursed, serviced
    assert loans.applied >= 10 and loans.approved and loans.refused
    with read_transaction(engine) as conn:
        assert stored_business_date(conn) == date(2026, 2, 1)
        assert check_center(conn) == []
        posted = conn.scalar(
            select(func.count()).select_from(remittance).where(remittance.c.state == "posted")
        )
        assert posted > 13 * 30
        assert conn.scalar(select(func.count()).select_from(arrears)) > 0
        interest = conn.scalar(
            select(func.count()).select_from(journal_entry).where(journal_entry.c.business_type == "09")
        )
        assert interest >= 1  # the interest credited (the carry-over is a reclassification, no entry)
        outcomes = dict(
            conn.execute(
                select(application.c.state, func.count())
                .where(application.c.item_code.like("WD-%"))
                .group_by(application.c.state)
            ).all()
        )
        assert outcomes["executed"] == w.paid and outcomes["failed"] == w.payout_failed
        # Every withdrawal of the months lived was decided; the approved ones wait for the next
        # payment run, and those filed on the last day wait for the reviewer (leave_work).
        assert outcomes["rejected"] == w.refused and outcomes["under_review"] >= 1
        assert set(outcomes) <= {"executed", "failed", "rejected", "approved", "under_review"}
        active = conn.scalar(select(func.count()).select_from(loan).where(loan.c.state == "active"))
        assert active and active <= loans.approved  # disbursed by the payment run (a few are paid off)
        debits = dict(
            conn.execute(select(loan_debit.c.state, func.count()).group_by(loan_debit.c.state)).all()
        )  # bank-debit loans are debited at the fake bank (BDC105); none is left unanswered
        assert debits.get("failed", 0) == loans.debits_failed and set(debits) <= {"success", "failed"}
        reasons = conn.scalars(select(application.c.item_code).distinct()).all()
        assert len(reasons) >= 9  # nearly every reason of the catalog
        jobs = conn.execute(select(batch_job.c.job, batch_job.c.state)).all()
        assert {j for j, _ in jobs} >= {"month_end", "interest_settlement", "loan_month_end", "loan_daily"}
        assert {s for _, s in jobs} == {"done"}


def test_the_same_seed_lives_the_same_history(tmp_path):
    _, first = lived_center(tmp_path, "b", months=3)
    _, second = lived_center(tmp_path, "c", months=3)
    assert first == second
