"""Integration (SQLite and PostgreSQL): annual settlement end to end through the ledger.

Every figure is written as a business person would check it: balances in fen, 积数 in
fen·days, interest = 积数 × rate ÷ day basis rounded half up to the fen once per member.
"""

from datetime import date
from decimal import Decimal

import pytest
from interest_support import (
    RATE_1_5,
    YEAR_2024,
    YEAR_2025,
    accruals,
    annual_interest,
    balances,
    carry_in,
    deposit,
    open_center,
    settle,
    withdraw,
    worked_example,
)
from sqlalchemy import func, select

from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.interest import rules
from hpf.interest import service as interest
from hpf.jobs import job_state
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.ledger import service as ledger
from hpf.ledger.tables import accrual_year, journal_entry
from hpf.policy.rules import DepositRate

RATE_CHANGE_2025 = (*RATE_1_5, DepositRate(date(2025, 1, 1), Decimal("0.02"), Decimal("0.02")))  # fictional


def ledger_is_clean(engine) -> bool:
    with read_transaction(engine) as conn:
        return check_center(conn) == []


def entry_count(engine) -> int:
    with read_transaction(engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(journal_entry)))


def subject(engine, code: str) -> int:
    with read_transaction(engine) as conn:
        return {s.code: s.balance_fen for s in ledger.subject_balances(conn)}[code]


@pytest.mark.parametrize(
    ("day_basis", "interest_fen", "carried_after"),
    [
        # 积数 3,602,000.00 yuan·days × 1.50% ÷ basis, rounded half up to the fen (REFERENCE §2.5)
        (360, 15_008, 815_008),  # 150.08 → carried 8,150.08
        (365, 14_803, 814_803),  # 148.03 → carried 8,148.03
    ],
)
def test_worked_example_of_the_reference(engine, ctx, clock, day_basis, interest_fen, carried_after):
    member = open_center(engine, ctx, clock)[0]
    worked_example(engine, ctx, clock, member)
    # 预计积数 before settlement: carried 10,000 × 365 − 2,000 × 112; current 1,000 × 288 − 1,000 × 112
    assert accruals(engine, member) == (342_600_000, 17_600_000)
    summary = settle(engine, ctx, clock, YEAR_2025, day_basis=day_basis)
    assert annual_interest(engine, YEAR_2025) == {member: interest_fen}
    assert balances(engine, [member])[member] == (carried_after, 0)  # current carried over
    assert summary.interest_fen == interest_fen and summary.members_credited == 1
    assert summary.next_year_end == "2026-06-30"
    assert subject(engine, "41101") == interest_fen
    # the new year's 积数 starts from the new carried balance × 365 days (to 2026-06-30)
    assert accruals(engine, member) == (carried_after * 365, 0)
    assert ledger_is_clean(engine)


def test_the_first_settlement_carries_the_current_year_over_without_interest(engine, ctx, clock):
    members = open_center(engine, ctx, clock)
    carry_in(engine, ctx, clock, {members[0]: 1_000_000, members[1]: 5})
    assert balances(engine, members) == {members[0]: (1_000_000, 0), members[1]: (5, 0), members[2]: (0, 0)}
    assert subject(engine, "41101") == 0
    with read_transaction(engine) as conn:
        years = dict(conn.execute(select(accrual_year.c.year_end, accrual_year.c.state)).all())
    assert years == {YEAR_2024: "settled", YEAR_2025: "open"}
    assert ledger_is_clean(engine)


def test_a_year_is_settled_once(engine, ctx, clock):
    member = open_center(engine, ctx, clock)[0]
    worked_example(engine, ctx, clock, member)
    first = settle(engine, ctx, clock, YEAR_2025)
    entries = entry_count(engine)
    again = settle(engine, ctx, clock, YEAR_2025)
    assert again.already_done and again.interest_fen == first.interest_fen == 15_008
    assert entry_count(engine) == entries
    assert balances(engine, [member])[member] == (815_008, 0)
    assert ledger_is_clean(engine)


def test_settling_before_the_year_end_is_refused(engine, ctx, clock):
    open_center(engine, ctx, clock)
    clock.set(date(2025, 6, 29))
    with pytest.raises(Conflict) as err:
        interest.settle_year(engine, ctx, YEAR_2025, day_basis=360, rates=RATE_1_5)
    assert (err.value.code, err.value.title) == ("interest.too_early", "未到结息日")


def test_only_the_open_year_can_be_settled(engine, ctx, clock):
    member = open_center(engine, ctx, clock)[0]
    carry_in(engine, ctx, clock, {member: 1_000})  # the open year now ends 2025-06-30
    clock.set(date(2026, 7, 1))
    with pytest.raises(Conflict) as err:
        interest.settle_year(engine, ctx, date(2026, 6, 30), day_basis=360, rates=RATE_1_5)
    assert err.value.code == "interest.year_not_open"
    with pytest.raises(InvalidInput) as bad:
        interest.settle_year(engine, ctx, date(2025, 12, 31), day_basis=360, rates=RATE_1_5)
    assert bad.value.code == "interest.not_year_end"


def test_after_settlement_the_settled_year_refuses_postings(engine, ctx, clock):
    member = open_center(engine, ctx, clock)[0]
    carry_in(engine, ctx, clock, {member: 1_000})
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        deposit(conn, ctx, member, 100, YEAR_2024)
    assert err.value.code == "ledger.value_date_outside_interest_year"


@pytest.mark.parametrize(
    ("day_basis", "example", "whole_year"),
    [
        # worked example: 1,947,000 yuan·days at 1.50% + 1,655,000 at 2.00%
        # whole year:     1,840,000 yuan·days at 1.50% + 1,810,000 at 2.00% (10,000.00 all year)
        (360, 17_307, 17_722),
        (365, 17_070, 17_479),
    ],
)
def test_a_rate_change_mid_year_splits_the_accrual_at_its_date(
    engine, ctx, clock, day_basis, example, whole_year
):
    """A fictional change from 1.50% to 2.00% on 2025-01-01 (184 days before, 181 after)."""
    first, second, _ = open_center(engine, ctx, clock)
    worked_example(engine, ctx, clock, first, also_carried={second: 1_000_000})
    summary = settle(engine, ctx, clock, YEAR_2025, day_basis=day_basis, rates=RATE_CHANGE_2025, chunk_size=2)
    assert annual_interest(engine, YEAR_2025) == {first: example, second: whole_year}
    assert summary.interest_fen == example + whole_year
    assert ledger_is_clean(engine)


@pytest.mark.parametrize(("day_basis", "expected"), [(360, 11_433), (365, 11_276)])
def test_each_balance_part_earns_its_own_rate(engine, ctx, clock, day_basis, expected):
    """Before 2016-02-21 the current-year part earned 0.35% and the carried part 1.10% (REFERENCE
    §2.1): carried 10,000.00 × 365 days at 1.10% + current 1,000.00 × 288 days at 0.35%."""
    rates = (DepositRate(date(2015, 8, 26), Decimal("0.0035"), Decimal("0.011")),)
    member = open_center(engine, ctx, clock)[0]
    carry_in(engine, ctx, clock, {member: 1_000_000})
    clock.set(date(2024, 9, 15))
    with write_transaction(engine) as conn:
        deposit(conn, ctx, member, 100_000, date(2024, 9, 15))
    settle(engine, ctx, clock, YEAR_2025, day_basis=day_basis, rates=rates)
    assert annual_interest(engine, YEAR_2025) == {member: expected}
    assert balances(engine, [member])[member] == (1_100_000 + expected, 0)
    assert ledger_is_clean(engine)


def test_a_center_without_balances_settles_nothing_and_rolls_the_year(engine, ctx, clock):
    open_center(engine, ctx, clock)
    summary = settle(engine, ctx, clock, YEAR_2024)
    assert (summary.interest_fen, summary.carried_over_fen) == (0, 0)
    assert summary.next_year_end == "2025-06-30"
    assert ledger_is_clean(engine)


# --------------------------------------------------------------------------------- restarts

CARRIED = [1_000_000, 0, 250_000, 3, 7_777_777, 500, 42_000]  # fen, members 1..7
DEPOSITS = [100_000, 5_000, 0, 0, 1, 99_999, 300]  # current part, valued 2024-12-01


def seven_members(engine, ctx, clock) -> list[int]:
    members = open_center(engine, ctx, clock, members=7)
    carry_in(engine, ctx, clock, {m: fen for m, fen in zip(members, CARRIED, strict=True) if fen})
    clock.set(date(2024, 12, 1))
    with write_transaction(engine) as conn:
        for m, fen in zip(members, DEPOSITS, strict=True):
            if fen:
                deposit(conn, ctx, m, fen, date(2024, 12, 1))
    return members


def expected_interest(day_basis: int) -> list[int]:
    days = (YEAR_2025 - date(2024, 12, 1)).days  # 211
    return [
        rules.interest_fen([(c * 365 + d * days, Decimal("0.015"))], day_basis)
        for c, d in zip(CARRIED, DEPOSITS, strict=True)
    ]


def test_a_run_stopped_midway_leaves_nothing_and_finishes_on_rerun(engine, ctx, clock, monkeypatch):
    """The interest and the roll are one transaction (decision 0009): a crash rolls back both."""
    members = seven_members(engine, ctx, clock)
    before = balances(engine, members)
    real = ledger.post_set_and_roll

    def power_cut_before_commit(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("power cut")

    monkeypatch.setattr(ledger, "post_set_and_roll", power_cut_before_commit)
    with pytest.raises(RuntimeError):
        settle(engine, ctx, clock, YEAR_2025, chunk_size=2)
    monkeypatch.setattr(ledger, "post_set_and_roll", real)
    with read_transaction(engine) as conn:
        assert job_state(conn, interest.JOB, "2025-06-30") == "running"
        assert conn.scalar(select(accrual_year.c.year_end).where(accrual_year.c.state == "open")) == YEAR_2025
        assert check_center(conn) == []
    assert annual_interest(engine, YEAR_2025) == {}
    assert balances(engine, members) == before

    summary = settle(engine, ctx, clock, YEAR_2025, chunk_size=2)
    want = expected_interest(360)
    assert annual_interest(engine, YEAR_2025) == {m: x for m, x in zip(members, want, strict=True) if x}
    assert summary.interest_fen == sum(want) and summary.chunks == 4
    assert balances(engine, members) == {
        m: (c + d + x, 0) for m, c, d, x in zip(members, CARRIED, DEPOSITS, want, strict=True)
    }
    assert ledger_is_clean(engine)


@pytest.mark.parametrize("rerun_chunk_size", [2, 3])
def test_ranges_posted_by_an_earlier_chunked_run_are_credited_once(engine, ctx, clock, rerun_chunk_size):
    """A year left half-settled by the earlier chunk-per-transaction settlement (its first range of
    two members posted and credited, the year not rolled) is finished by the next run."""
    from sqlalchemy import BigInteger, String, literal, union_all

    members = seven_members(engine, ctx, clock)
    want = expected_interest(360)
    clock.set(YEAR_2025)
    key = f"interest:{YEAR_2025}:{members[0]}-{members[1]}"
    credits = [
        select(literal(key), literal("201"), literal("C"), literal(x, BigInteger), literal(m, BigInteger),
               literal(None, BigInteger), literal("carried"))
        for m, x in zip(members[:2], want, strict=False) if x
    ]  # fmt: skip
    expense = select(literal(key), literal("41101"), literal("D"), literal(sum(want[:2]), BigInteger),
                     literal(None, BigInteger), literal(None, BigInteger), literal(None, String))  # fmt: skip
    header = ledger.EntryHeader("09", interest.annual_business_id(YEAR_2025), key, YEAR_2025, YEAR_2025)
    with write_transaction(engine) as conn:
        ledger.post_set(conn, [header], union_all(*credits, expense), ctx.clock)
    assert ledger_is_clean(engine)

    summary = settle(engine, ctx, clock, YEAR_2025, chunk_size=rerun_chunk_size)
    assert annual_interest(engine, YEAR_2025) == {m: x for m, x in zip(members, want, strict=True) if x}
    assert summary.interest_fen == sum(want)
    assert summary.carried_over_fen == sum(DEPOSITS)
    assert summary.chunks_skipped == (1 if rerun_chunk_size == 2 else 0)
    assert balances(engine, members) == {
        m: (c + d + x, 0) for m, c, d, x in zip(members, CARRIED, DEPOSITS, want, strict=True)
    }
    assert subject(engine, "41101") == sum(want)
    assert ledger_is_clean(engine)


# -------------------------------------------------------------------------- closing settlement


@pytest.mark.parametrize(
    ("day_basis", "at_closing", "after_reopening", "whole_year"),
    [
        # closing 2025-03-10: 10,000.00 × 77 days + 11,000.00 × 176 days = 2,706,000 yuan·days;
        # reopened with 500.00 on 2025-05-01: 500.00 × 60 days; a neighbour held 10,000.00 all year
        (360, 11_275, 125, 15_208),
        (365, 11_121, 123, 15_000),
    ],
)
def test_closing_settlement_pays_interest_to_date_and_the_year_end_only_the_rest(
    engine, ctx, clock, day_basis, at_closing, after_reopening, whole_year
):
    closer, neighbour, _ = open_center(engine, ctx, clock)
    carry_in(engine, ctx, clock, {closer: 1_000_000, neighbour: 1_000_000})
    clock.set(date(2024, 9, 15))
    with write_transaction(engine) as conn:
        deposit(conn, ctx, closer, 100_000, date(2024, 9, 15))
    day = date(2025, 3, 10)
    clock.set(day)
    with read_transaction(engine) as conn:
        preview = interest.interest_preview(conn, closer, day, day_basis=day_basis, rates=RATE_1_5)
    assert preview.interest_fen == at_closing
    assert preview.accrual_carried + preview.accrual_current == 270_600_000
    with write_transaction(engine) as conn:
        paid, entry_id = interest.settle_on_close(conn, ctx, closer, day, day_basis=day_basis, rates=RATE_1_5)
        assert paid == at_closing and entry_id is not None
        carried, current = ledger.member_balances(conn, [closer])[closer]
        assert (carried, current) == (1_000_000 + at_closing, 100_000)
        # the closing withdrawal pays out principal and interest (销户提取)
        withdraw(conn, ctx, closer, carried + current, day)
    with write_transaction(engine) as conn:  # replayed: the same entry, nothing new
        assert interest.settle_on_close(conn, ctx, closer, day, day_basis=day_basis, rates=RATE_1_5) == (
            paid,
            entry_id,
        )
    assert ledger_is_clean(engine)
    clock.set(date(2025, 5, 1))
    with write_transaction(engine) as conn:  # re-employed: a new deposit
        deposit(conn, ctx, closer, 50_000, date(2025, 5, 1))
    settle(engine, ctx, clock, YEAR_2025, day_basis=day_basis)
    assert annual_interest(engine, YEAR_2025) == {closer: after_reopening, neighbour: whole_year}
    assert subject(engine, "41101") == at_closing + after_reopening + whole_year
    assert balances(engine, [closer])[closer] == (50_000 + after_reopening, 0)
    assert ledger_is_clean(engine)


def test_a_reversed_closing_settlement_leaves_the_whole_year_to_the_annual_one(engine, ctx, clock):
    member = open_center(engine, ctx, clock)[0]
    carry_in(engine, ctx, clock, {member: 1_000_000})
    clock.set(date(2025, 3, 10))
    with write_transaction(engine) as conn:
        _, entry_id = interest.settle_on_close(
            conn, ctx, member, date(2025, 3, 10), day_basis=360, rates=RATE_1_5
        )
    with write_transaction(engine) as conn:
        ledger.reverse(conn, entry_id, reason="销户申请撤回", actor="t", clock=ctx.clock)
    settle(engine, ctx, clock, YEAR_2025)
    assert annual_interest(engine, YEAR_2025) == {member: 15_208}  # 3,650,000 yuan·days ÷ 360 × 1.5%
    assert ledger_is_clean(engine)


def test_closing_settlement_refuses_days_it_cannot_settle(engine, ctx, clock):
    member = open_center(engine, ctx, clock)[0]
    carry_in(engine, ctx, clock, {member: 1_000_000})
    clock.set(date(2025, 3, 10))
    with pytest.raises(Conflict) as future, write_transaction(engine) as conn:
        interest.settle_on_close(conn, ctx, member, date(2025, 3, 11), day_basis=360, rates=RATE_1_5)
    assert future.value.code == "interest.future_date"
    with pytest.raises(Conflict) as settled, write_transaction(engine) as conn:
        interest.settle_on_close(conn, ctx, member, YEAR_2024, day_basis=360, rates=RATE_1_5)
    assert settled.value.code == "interest.outside_open_year"
    with write_transaction(engine) as conn:
        interest.settle_on_close(conn, ctx, member, date(2025, 3, 10), day_basis=360, rates=RATE_1_5)
    with pytest.raises(Conflict) as earlier, write_transaction(engine) as conn:
        interest.settle_on_close(conn, ctx, member, date(2025, 3, 1), day_basis=360, rates=RATE_1_5)
    assert earlier.value.code == "interest.already_settled"


def test_a_negative_accrual_pays_nothing_and_is_reported(engine, ctx, clock):
    """A withdrawal valued before the deposit that funded it (back-valued) leaves the member
    with a negative 积数: −1,000.00 held from 2024-07-02 to 2025-06-01 (335 days)."""
    member, other, _ = open_center(engine, ctx, clock)
    carry_in(engine, ctx, clock, {other: 1_000_000})
    clock.set(date(2025, 6, 1))
    with write_transaction(engine) as conn:
        deposit(conn, ctx, member, 100_000, date(2025, 6, 1))
        withdraw(conn, ctx, member, 100_000, date(2024, 7, 1))
    assert sum(accruals(engine, member)) == -100_000 * 335
    summary = settle(engine, ctx, clock, YEAR_2025)
    assert annual_interest(engine, YEAR_2025) == {other: 15_208}
    assert (summary.negative_accrual_members, summary.negative_accrual_sample) == (1, [member])
    assert ledger_is_clean(engine)


def test_an_entry_of_a_settled_year_is_undone_on_the_first_day_of_the_open_one(engine, ctx, clock):
    """A payout reserved before 30 June and refused by the bank after the settlement: its
    reversal cannot be valued in the settled year, so it is valued on 1 July."""
    member = open_center(engine, ctx, clock)[0]
    clock.set(date(2024, 6, 30))
    with write_transaction(engine) as conn:
        paid_in = deposit(conn, ctx, member, 10_000, YEAR_2024)
    settle(engine, ctx, clock, YEAR_2024)  # the year ending 2024-06-30 is closed; 2025 is open
    with write_transaction(engine) as conn:
        undone = ledger.reverse(conn, paid_in, reason="银行退回", actor="test", clock=ctx.clock)
        value_date = conn.scalar(select(journal_entry.c.value_date).where(journal_entry.c.id == undone))
        assert ledger.member_balances(conn, [member])[member] == (0, 0)
    assert value_date == date(2024, 7, 1)
    assert ledger_is_clean(engine)
