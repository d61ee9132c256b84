"""The demo's story reads right: balances follow from deposits, loans are asked for in round
sums, and a small simulation ends with work in every queue."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from hpf.accounts.tables import employer, member
from hpf.approvals.service import approval_request
from hpf.check import check_center
from hpf.contributions.tables import receipt, remittance
from hpf.db.calendar import set_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger.tables import journal_entry, journal_line, member_balance
from hpf.loans.book.tables import loan
from hpf.schema import upgrade
from hpf.services.tables import application
from hpf.settlement.tables import payment_order
from hpf.sim.generator import build_demo_center, carried_kept_pct
from hpf.sim.loans import round_request
from hpf.sim.simulator import simulate

START = date(2024, 12, 1)  # the demo's usual start: two years before "today"


@pytest.fixture(scope="module")
def lived(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('story')}/story.sqlite3")
    upgrade(engine)
    with write_transaction(engine) as conn:
        set_business_date(conn, START)
    build_demo_center(engine, Context("demo", FixedClock(START), "990001"), seed=5, employers=30, members=900)
    with read_transaction(engine) as conn:
        opening = conn.execute(
            select(
                member.c.opened_on, member.c.base_fen, member.c.birth_date, employer.c.member_rate,
                member_balance.c.carried_fen, member_balance.c.current_fen,
            )
            .join(employer, employer.c.id == member.c.employer_id)
            .join(member_balance, member_balance.c.member_id == member.c.id)
        ).all()  # fmt: skip
    summary = simulate(engine, "990001", months=10, seed=5)  # loans need 6 months deposited here
    yield engine, opening, summary
    engine.dispose()


def _months(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def test_opening_balances_follow_from_the_deposit_history(lived):
    _, opening, _ = lived
    july = date(2024, 7, 1)  # the 缴存年度 the demo starts in
    carried = [r for r in opening if r.carried_fen > 0]
    assert len(carried) > len(opening) // 2
    for r in opening:
        monthly = 2 * round(r.base_fen * r.member_rate)  # both parts of a month's deposit
        before_july = max(0, _months(r.opened_on, july))
        working = max(0, _months(r.birth_date, july) - 18 * 12)
        # Never more than every month deposited here before 1 July, at today's base.
        assert r.carried_fen <= monthly * min(before_july, working) + 1, r
        if r.carried_fen:  # and at least a quarter of it (withdrawals, lower wages in the past)
            assert r.carried_fen >= monthly * min(before_july, working, 240) // 4 - 1, r
        assert r.current_fen <= monthly * 5  # July to November
    opened_mid_2024 = [r for r in opening if r.opened_on >= date(2024, 5, 1)]
    assert opened_mid_2024 and all(r.carried_fen <= 2 * 2 * round(r.base_fen * r.member_rate)
                                   for r in opened_mid_2024)  # fmt: skip
    assert max(r.carried_fen for r in opened_mid_2024) < 5_000_000  # not 130–230 thousand yuan


def test_accounts_opened_while_simulating_start_at_zero(lived):
    engine, opening, summary = lived
    with read_transaction(engine) as conn:
        hired = conn.scalars(select(member.c.id).where(member.c.id > len(opening))).all()
        migrated = conn.scalar(
            select(func.count())
            .select_from(journal_line.join(journal_entry, journal_entry.c.id == journal_line.c.entry_id))
            .where(journal_line.c.member_id.in_(hired), journal_entry.c.business_type == "99")
        )
    assert len(hired) == summary.hires > 0 and migrated == 0  # no opening balance: deposits only


def test_what_is_kept_of_past_deposits():
    assert carried_kept_pct(0, 0.99) == 100 and carried_kept_pct(12, 0.0) == 100
    assert carried_kept_pct(12, 0.999) == 86  # a year: at most 15 % gone
    assert carried_kept_pct(120, 0.999) == 26 and carried_kept_pct(60, 0.5) == 63


def test_loans_are_asked_for_in_round_sums(lived):
    engine, _, summary = lived
    assert round_request(45_740_878) == 45_000_000  # 457,408.78 yuan → 450,000
    assert round_request(957_123) == 900_000 and round_request(99_999) == 0
    with read_transaction(engine) as conn:
        principals = conn.scalars(select(loan.c.principal_fen)).all()
        asked = [p.get("requested_fen") for p in conn.scalars(
            select(application.c.payload).where(application.c.item_code == "LN-APPLY"))]  # fmt: skip
    assert principals and summary.loans.approved, summary.loans
    assert all(p % 100_000 == 0 for p in principals), principals  # whole thousands of yuan
    assert sum(p % 1_000_000 == 0 for p in principals) >= len(principals) // 2  # mostly 10,000s
    assert all(a is None or a % 100_000 == 0 for a in asked), asked  # None: the rules lend nothing


def test_a_small_simulation_ends_with_work_in_every_queue(lived):
    engine, _, _ = lived
    with read_transaction(engine) as conn:
        assert check_center(conn) == []
        waiting = dict(
            conn.execute(
                select(application.c.item_code, func.count())
                .where(application.c.state == "under_review")
                .group_by(application.c.item_code)
            ).all()
        )
        pending = conn.scalars(
            select(approval_request.c.kind).where(approval_request.c.state == "pending")
        ).all()
        reserved = conn.scalar(
            select(func.count()).select_from(payment_order).where(payment_order.c.state == "reserved")
        )
        lists = conn.scalar(
            select(func.count()).select_from(remittance).where(remittance.c.state == "pending")
        )
        duplicate = conn.scalar(
            select(func.count()).select_from(receipt).where(receipt.c.bank_ref.like("SIMDUP%"))
        )
    assert any(code.startswith("WD-") for code in waiting), waiting  # withdrawals under review
    assert waiting.get("LN-APPLY"), waiting  # loan applications under review
    assert sorted(pending) == ["ledger.reversal", "policy.change"]  # maker-checker: a second person
    assert reserved  # payouts reserved for the next payment run
    assert lists and duplicate == 1  # receipts of the new month not yet allocated, one keyed twice
