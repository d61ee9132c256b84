"""Integration tests (SQLite and PostgreSQL): the value date of a list funded late and the
interest it earns (decision 0019), and the amount an employer owes for a month (arrears).

The center (conftest): one employer, 12% + 12%, members 张三 8,000.00, 李四 6,543.21 and 王五
10,000.00 yuan. Parts: 960.00, 785.19 (6,543.21 × 12% = 785.1852 → 785.19), 1,200.00 yuan each.
"""

from datetime import date

from contribution_support import list_rows
from sqlalchemy import select

from hpf.accounts import service as accounts
from hpf.check import check_center
from hpf.contributions import service
from hpf.contributions.month_end import run_month_end
from hpf.contributions.rules import Kind
from hpf.db.engine import read_transaction, write_transaction
from hpf.interest.service import interest_preview
from hpf.ledger import service as ledger
from hpf.ledger.tables import journal_entry, journal_line

PARTS = (96_000, 78_519, 120_000)
TOTAL = 2 * sum(PARTS)  # 589,038 fen = 5,890.38 yuan
JUNE_30 = date(2025, 6, 30)


def _january_list(engine, ctx, emp, members):
    with write_transaction(engine) as conn:
        return service.submit_list(conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month="2025-01",
                                   rows=list_rows(members), source="api", idempotency_key="jan")  # fmt: skip


def _receive(engine, ctx, emp, amount, ref, value_date):
    with write_transaction(engine) as conn:
        service.record_receipt(conn, ctx, emp.account_no, amount, ref, value_date)


def _allocation_value_dates(engine, rem_id):
    """(entry value date, {member_id: line value date}) of a list's allocation."""
    with read_transaction(engine) as conn:
        entry_id = service.get_remittance(conn, rem_id).posted_entry_id
        entry_day = conn.scalar(select(journal_entry.c.value_date).where(journal_entry.c.id == entry_id))
        lines = conn.execute(
            select(journal_line.c.member_id, journal_line.c.value_date).where(
                journal_line.c.entry_id == entry_id, journal_line.c.member_id.is_not(None)
            )
        ).all()
    return entry_day, dict(lines)


def test_a_list_paid_after_its_month_is_valued_the_day_the_money_arrived(engine, ctx, center, clock):
    emp, members = center
    clock.set(date(2025, 2, 10))
    rem = _january_list(engine, ctx, emp, members)
    # January's list: 5,000.00 arrived on 28 January (in time), the rest on 10 February.
    _receive(engine, ctx, emp, 500_000, "JAN-PART", date(2025, 1, 28))
    _receive(engine, ctx, emp, TOTAL - 500_000, "FEB-REST", date(2025, 2, 10))
    # January's month-end runs late, on 10 February: the list is funded by then.
    assert run_month_end(engine, ctx, "2025-01").lists_allocated == 1
    entry_day, line_days = _allocation_value_dates(engine, rem.id)
    # Funded only when the second receipt arrived: valued 10 February, not 31 January.
    assert entry_day == date(2025, 2, 10)
    assert set(line_days.values()) == {date(2025, 2, 10)}
    with read_transaction(engine) as conn:
        # 积数 to 30 June: 张三 holds 2 × 960.00 = 1,920.00 from 10 February → 140 days
        # (18 left in February + 31 + 30 + 31 + 30). 192,000 fen × 140 = 26,880,000 fen·days;
        # × 1.50% ÷ 360 = 1,120 fen = 11.20 yuan. Valued 31 January (150 days) it would have been
        # 192,000 × 150 × 0.015 ÷ 360 = 1,200 fen: 0.80 yuan for ten days the center did not
        # hold the money.
        zhang = interest_preview(conn, members[0].id, JUNE_30)
        assert zhang.accrual_current == 192_000 * 140 == 26_880_000
        assert zhang.interest_fen == 1_120
        # 李四: 157,038 fen × 140 = 21,985,320 fen·days × 0.015 ÷ 360 = 916.055 → 916 fen.
        assert interest_preview(conn, members[1].id, JUNE_30).interest_fen == 916
        # The employer's sub-ledger never goes below zero by value date: in 28 Jan, out 10 Feb.
        assert ledger.employer_balance_of(conn, emp.id) == 0
        assert check_center(conn) == []


def test_a_list_paid_in_its_month_keeps_the_month_end(engine, ctx, center, clock):
    emp, members = center
    clock.set(date(2025, 2, 10))
    rem = _january_list(engine, ctx, emp, members)
    _receive(engine, ctx, emp, TOTAL, "JAN-ALL", date(2025, 1, 28))  # recorded late, valued in time
    _receive(engine, ctx, emp, 10_000, "FEB-EXTRA", date(2025, 2, 5))  # later money, not needed
    run_month_end(engine, ctx, "2025-01")
    entry_day, _ = _allocation_value_dates(engine, rem.id)
    assert entry_day == date(2025, 1, 31)
    with read_transaction(engine) as conn:
        # 192,000 fen × 150 days (31 January → 30 June) × 0.015 ÷ 360 = 1,200 fen = 12.00 yuan.
        assert interest_preview(conn, members[0].id, JUNE_30).interest_fen == 1_200
        assert ledger.employer_balance_of(conn, emp.id) == 10_000
        assert check_center(conn) == []


def test_arrears_are_what_the_members_of_that_month_owe(engine, ctx, center):
    emp, members = center
    rem = _january_list(engine, ctx, emp, members)
    _receive(engine, ctx, emp, TOTAL, "JAN", date(2025, 3, 15))
    with write_transaction(engine) as conn:
        service.allocate(conn, ctx, rem.id)
        # 王五 leaves in February: sealed (封存), the employer owes nothing more for him.
        accounts.seal_member(conn, ctx, members[2].account_no, "离职")
    summary = run_month_end(engine, ctx, "2025-02")  # on 15 March: February not remitted
    assert summary.arrears_marked == 1
    with read_transaction(engine) as conn:
        (owed,) = service.open_arrears(conn, emp.id)
    # 张三 960.00 + 960.00, 李四 785.19 + 785.19 = 3,490.38 yuan — not January's 5,890.38,
    # which still held 王五's 2 × 1,200.00.
    assert (owed.month, owed.expected_fen) == ("2025-02", 2 * 96_000 + 2 * 78_519)
    assert owed.expected_fen == 349_038


def test_arrears_follow_a_base_adjustment_and_round_each_part(engine, ctx, center):
    emp, _ = center
    with write_transaction(engine) as conn:
        accounts.activate_employer(conn, ctx, emp.account_no)  # 正常, never remitted yet
        # 调基调比 to 7% + 5%: 张三 8,000.00 → 560.00 + 400.00; 李四 6,543.21 → 458.0247 → 458.02
        # and 327.1605 → 327.16; 王五 10,000.00 → 700.00 + 500.00.
        service.adjust_base_and_rates(conn, ctx, emp.account_no, employer_rate="0.07",
                                      member_rate="0.05", bases={}, reason="年度调整")  # fmt: skip
    run_month_end(engine, ctx, "2025-02")
    with read_transaction(engine) as conn:
        owed = {a.month: a.expected_fen for a in service.open_arrears(conn, emp.id)}
    # 960.00 + 785.18 + 1,200.00 = 2,945.18 yuan; no list was ever paid (it was 0 before).
    assert owed == {"2025-02": 56_000 + 40_000 + 45_802 + 32_716 + 70_000 + 50_000}


def test_money_after_the_interest_year_end_waits_for_the_settlement(engine, ctx, center, clock):
    """June's run on 2 July before the 30 June settlement: a list whose money arrived on 1 July
    cannot be valued in the open year (to 30 June) nor before its money: it stays pending, and is
    allocated after the settlement, valued in the new year."""
    from hpf.interest.service import settle_year_with_policy

    emp, members = center
    clock.set(date(2025, 7, 2))
    rem = _january_list(engine, ctx, emp, members)
    _receive(engine, ctx, emp, TOTAL, "JUL-1", date(2025, 7, 1))
    summary = run_month_end(engine, ctx, "2025-06")
    assert (summary.lists_funded, summary.lists_allocated) == (1, 0)
    with read_transaction(engine) as conn:
        assert service.get_remittance(conn, rem.id).state == "pending"
    settle_year_with_policy(engine, ctx, JUNE_30)
    with write_transaction(engine) as conn:
        assert service.allocate(conn, ctx, rem.id).state == "posted"
    entry_day, _ = _allocation_value_dates(engine, rem.id)
    assert entry_day == date(2025, 7, 2)
    with read_transaction(engine) as conn:
        assert check_center(conn) == []
