"""Repayment schedules as golden tables a business person can check (REFERENCE §4.5-4.6).

Amounts in fen: 200170 = 2,001.70 yuan. Every figure was recomputed independently with exact
fractions; the rounding residue lands in the last installment (equal installment) or nowhere
(equal principal: its principal parts are rounded cumulatively).
"""

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from hpf.kernel.errors import InvalidInput
from hpf.loans.calculator.schedule import (
    Method,
    PrepaymentChoice,
    accrued_interest,
    build_schedule,
    days_30_360,
    due_date,
    level_installment,
    payoff_quote,
    prepay,
    reprice,
    split_prepayment,
)

D = Decimal
EI, EP = Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL


def rows(schedule, *periods):
    """(period, due date, installment, principal, interest, remaining) of some periods."""
    by = {r.period: r for r in schedule.installments}
    return [
        (p, by[p].due_date.isoformat(), by[p].installment_fen, by[p].principal_fen, by[p].interest_fen,
         by[p].remaining_fen)
        for p in periods
    ]  # fmt: skip


# ------------------------------------------------------------------ 500,000 yuan, 30 years, 2.60%


def test_equal_installment_500k_30_years_at_2_60():
    s = build_schedule(50_000_000, D("0.026"), 360, EI, date(2025, 6, 20))
    assert rows(s, 1, 2, 359, 360) == [
        #  period  due date      installment principal interest  remaining
        (1, "2025-06-20", 200170, 91837, 108333, 49908163),
        (2, "2025-07-20", 200170, 92036, 108134, 49816127),
        (359, "2055-04-20", 200170, 199306, 864, 199651),
        (360, "2055-05-20", 200084, 199651, 433, 0),  # the last absorbs the residue (−0.86)
    ]
    assert {r.installment_fen for r in s.installments[:-1]} == {200170}  # 2,001.70 a month
    assert s.total_interest_fen == 22_061_114  # 220,611.14 actually charged, fen by fen
    assert sum(r.principal_fen for r in s.installments) == 50_000_000


def test_reference_total_interest_is_the_unrounded_installment_times_360():
    """REFERENCE §4.5 quotes 220,611.48: what calculators show from the unrounded installment
    2,001.6986 × 360 − 500,000. The fen schedule pays 2,001.70 × 359 + 2,000.84."""
    i = Fraction(26, 12_000)
    growth = (1 + i) ** 360
    exact = 50_000_000 * i * growth / (growth - 1)
    assert round(exact * 360 - 50_000_000) == 22_061_148  # 220,611.48
    assert level_installment(50_000_000, D("0.026"), 360) == 200_170
    s = build_schedule(50_000_000, D("0.026"), 360, EI, date(2025, 6, 20))
    assert 200_170 * 359 + 200_084 - 50_000_000 == s.total_interest_fen == 22_061_114


def test_equal_principal_500k_30_years_at_2_60():
    s = build_schedule(50_000_000, D("0.026"), 360, EP, date(2025, 6, 20))
    assert rows(s, 1, 2, 3, 360) == [
        (1, "2025-06-20", 247222, 138889, 108333, 49861111),  # first month 2,472.22
        (2, "2025-07-20", 246921, 138889, 108032, 49722222),
        (3, "2025-08-20", 246620, 138889, 107731, 49583333),
        (360, "2055-05-20", 139190, 138889, 301, 0),  # last 1,391.90
    ]
    assert {r.principal_fen for r in s.installments} == {138888, 138889}  # cumulative rounding
    assert s.total_interest_fen == 19_554_167  # 195,541.67
    assert sum(r.principal_fen for r in s.installments) == 50_000_000


def test_due_dates_are_clamped_to_the_month_end():
    assert [due_date(date(2025, 1, 31), p).isoformat() for p in (1, 2, 3, 4, 14)] == [
        "2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2026-02-28",
    ]  # fmt: skip
    assert due_date(date(2024, 1, 31), 2) == date(2024, 2, 29)
    assert due_date(date(2025, 1, 31), 0) == date(2024, 12, 31)


# ------------------------------------------------------------------------------ re-pricing


def test_repricing_on_1_january_after_the_2025_cut():
    """300,000 yuan, 20 years, signed 2024-06-01 at 2.85% (>5 years, first home since 2024-05-18),
    first due 2024-07-01. The 2025-05-08 cut to 2.60% reaches it on 2026-01-01: period 19."""
    s = build_schedule(30_000_000, D("0.0285"), 240, EI, date(2024, 7, 1))
    assert s.period_due_on_or_after(date(2026, 1, 1)) == 19
    after = reprice(s, 19, D("0.026"))
    assert rows(after, 18, 19, 240) == [
        (18, "2025-12-01", 164136, 96708, 67428, 28293867),  # 1,641.36 at 2.85%
        (19, "2026-01-01", 160685, 99382, 61303, 28194485),  # 1,606.85 at 2.60%, 222 months left
        (240, "2044-06-01", 160615, 160268, 347, 0),
    ]
    assert after.installments[17].annual_rate == D("0.0285")
    assert after.installments[18].annual_rate == D("0.026")
    assert after.installments[:18] == s.installments[:18]
    assert after.total_interest_fen == 8_626_448 < s.total_interest_fen == 9_392_519
    assert sum(r.principal_fen for r in after.installments) == 30_000_000


def test_repricing_an_equal_principal_loan():
    s = reprice(build_schedule(30_000_000, D("0.0285"), 240, EP, date(2024, 7, 1)), 19, D("0.026"))
    assert rows(s, 1, 18, 19, 240) == [
        (1, "2024-07-01", 196250, 125000, 71250, 29875000),
        (18, "2025-12-01", 191203, 125000, 66203, 27750000),
        (19, "2026-01-01", 185125, 125000, 60125, 27625000),
        (240, "2044-06-01", 125271, 125000, 271, 0),
    ]
    assert s.total_interest_fen == 7_941_035


# ---------------------------------------------------------------------------- prepayment


def test_partial_prepayment_keeping_the_term_lowers_the_installment():
    """500,000 yuan, 30 years, 2.60%: 100,000 repaid on the 60th due date, after its installment."""
    s = build_schedule(50_000_000, D("0.026"), 360, EI, date(2025, 6, 20))
    assert s.outstanding_after(60) == 44_122_385
    after = prepay(s, 60, 10_000_000, PrepaymentChoice.REDUCE_INSTALLMENT)
    assert after.months == 360
    assert rows(after, 60, 61, 360) == [
        (60, "2030-05-20", 200170, 104345, 95825, 34122385),  # 441,223.85 − 100,000 prepaid
        (61, "2030-06-20", 154803, 80871, 73932, 34041514),  # 1,548.03 for the 300 months left
        (360, "2055-05-20", 154745, 154410, 335, 0),
    ]
    assert after.total_interest_fen == 18_451_042
    assert after.installments[59].prepaid_fen == after.total_prepaid_fen == 10_000_000
    assert sum(r.principal_fen for r in after.installments) == 40_000_000  # + 100,000 prepaid
    again = prepay(after, 60, 4_122_385, PrepaymentChoice.REDUCE_INSTALLMENT)  # the same day, more
    assert again.outstanding_after(60) == 30_000_000 and again.total_prepaid_fen == 14_122_385


def test_partial_prepayment_keeping_the_installment_shortens_the_term():
    s = build_schedule(50_000_000, D("0.026"), 360, EI, date(2025, 6, 20))
    after = prepay(s, 60, 10_000_000, PrepaymentChoice.SHORTEN_TERM)
    assert after.months == 60 + 213  # 87 months sooner
    assert rows(after, 61, 273) == [
        (61, "2030-06-20", 200170, 126238, 73932, 33996147),  # 2,001.70 as before
        (273, "2048-02-20", 199789, 199357, 432, 0),
    ]
    assert after.total_interest_fen == 14_646_029 < 18_451_042  # shortening saves more


def test_partial_prepayment_of_an_equal_principal_loan_each_way():
    s = build_schedule(50_000_000, D("0.026"), 360, EP, date(2025, 6, 20))
    lower = prepay(s, 60, 10_000_000, PrepaymentChoice.REDUCE_INSTALLMENT)
    assert rows(lower, 61, 360) == [
        (61, "2030-06-20", 174167, 105556, 68611, 31561111),
        (360, "2055-05-20", 105785, 105556, 229, 0),
    ]
    assert lower.total_interest_fen == 16_293_333
    shorter = prepay(s, 60, 10_000_000, PrepaymentChoice.SHORTEN_TERM)
    assert shorter.months == 60 + 229  # about the same principal a month: 1,382.82 vs 1,388.89
    assert rows(shorter, 61, 289) == [
        (61, "2030-06-20", 206893, 138282, 68611, 31528385),
        (289, "2049-06-20", 138582, 138282, 300, 0),
    ]
    assert shorter.total_interest_fen == 13_857_640 < lower.total_interest_fen < s.total_interest_fen


@pytest.mark.parametrize("amount", [0, -1, 44_122_385, 50_000_000])
def test_a_partial_prepayment_must_leave_some_principal(amount):
    s = build_schedule(50_000_000, D("0.026"), 360, EI, date(2025, 6, 20))
    with pytest.raises(InvalidInput) as refused:
        prepay(s, 60, amount, PrepaymentChoice.SHORTEN_TERM)
    assert refused.value.code == "loan.invalid_prepayment"


def test_payoff_quote_is_principal_plus_interest_to_the_day():
    """Bijie (REFERENCE §4.6): interest on the outstanding principal at annual ÷ 360 a day,
    30-day months, from the last due date paid."""
    s = build_schedule(50_000_000, D("0.026"), 360, EI, date(2025, 6, 20))
    quote = payoff_quote(s, 60, date(2030, 6, 5))  # 15 days after the 60th due date
    assert (quote.principal_fen, quote.days, quote.interest_fen, quote.total_fen) == (
        44_122_385, 15, 47_799, 44_170_184,  # 441,223.85 × 2.60% ÷ 360 × 15 = 477.99
    )  # fmt: skip
    on_due_date = payoff_quote(s, 60, date(2030, 6, 20))
    assert on_due_date.days == 30 and on_due_date.interest_fen == s.installments[60].interest_fen
    assert payoff_quote(s, 0, date(2025, 5, 20)).interest_fen == 0  # on the day of disbursement
    with pytest.raises(InvalidInput) as late:
        payoff_quote(s, 60, date(2030, 6, 21))  # the 61st installment is overdue
    assert late.value.code == "loan.payoff_date"


def test_split_of_a_mid_period_prepayment():
    """提前还本金额 = 提前还款金额 ÷ (1 + 月利率 × 天数 ÷ 30): 10,000 paid 15 days in at 2.60%."""
    principal, interest = split_prepayment(1_000_000, D("0.026"), 15)
    assert (principal, interest) == (998_918, 1_082)
    assert split_prepayment(1_000_000, D("0.026"), 0) == (1_000_000, 0)


def test_30_360_days_and_accrued_interest():
    assert days_30_360(date(2025, 1, 31), date(2025, 2, 28)) == 28
    assert days_30_360(date(2025, 1, 15), date(2025, 3, 31)) == 75
    assert days_30_360(date(2024, 12, 20), date(2025, 1, 20)) == 30
    assert accrued_interest(200_000, D("0.026"), 30) == 433  # 2,000 × 2.60% ÷ 12


@pytest.mark.parametrize(
    ("principal", "rate", "months", "code"),
    [
        (0, D("0.026"), 360, "loan.invalid_principal"),
        (100, D("0.026"), 0, "loan.invalid_term"),
        (100, D("-0.01"), 12, "loan.invalid_rate"),
        (100, D("1"), 12, "loan.invalid_rate"),
    ],
)
def test_bad_terms_are_refused(principal, rate, months, code):
    with pytest.raises(InvalidInput) as refused:
        build_schedule(principal, rate, months, EI, date(2025, 1, 1))
    assert refused.value.code == code


def test_a_zero_rate_loan_repays_principal_only():
    s = build_schedule(1_000_000, D("0"), 3, EI, date(2025, 1, 1))
    assert [r.installment_fen for r in s.installments] == [333_333, 333_333, 333_334]
    assert s.total_interest_fen == 0
