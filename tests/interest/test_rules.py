"""Unit: exact 积数 interest, the one rounding step, splitting 积数 at a date (no database)."""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpf.interest import rules
from hpf.kernel.errors import InvalidInput
from hpf.policy.rules import DepositRate, deposit_rate_segments

START, YEAR_END = date(2024, 6, 30), date(2025, 6, 30)
RATE = Decimal("0.015")
# REFERENCE §2.5: the member's changes in the year ending 2025-06-30, after 10,000.00 carried over.
OPENING = 1_000_000
CHANGES = [(date(2024, 9, 15), 100_000), (date(2025, 3, 10), -300_000)]
BALANCE = OPENING + sum(fen for _, fen in CHANGES)


@pytest.mark.parametrize(
    ("day_basis", "interest"),
    [(360, 15_008), (365, 14_803)],  # 150.08 / 148.03 yuan
)
def test_worked_example_of_the_reference(day_basis, interest):
    accrual = rules.accrual_after(BALANCE, CHANGES, YEAR_END, START)
    assert accrual == 360_200_000  # 3,602,000 yuan·days
    assert accrual == OPENING * 365 + 100_000 * 288 - 300_000 * 112  # the 预计积数 check
    assert rules.interest_fen([(accrual, RATE)], day_basis) == interest


@pytest.mark.parametrize(
    ("accrual", "day_basis", "interest", "why"),
    [
        (1_200, 360, 1, "1,200 × 0.15 ÷ 360 = 0.5 fen: half rounds up"),
        (1_199, 360, 0, "0.49958… fen rounds down"),
        (-5_000_000, 360, 0, "a negative 积数 (back-valued withdrawal) pays nothing"),
        (0, 365, 0, "no balance, no interest"),
    ],
)
def test_rounding_is_half_up_once_and_never_negative(accrual, day_basis, interest, why):
    assert rules.interest_fen([(accrual, Decimal("0.15"))], day_basis) == interest, why


def test_pieces_are_summed_exactly_before_the_one_rounding():
    # each piece alone is 0.4 fen (rounds to 0); together 0.8 fen rounds to 1
    piece = (960, Decimal("0.15"))  # 960 × 0.15 / 360 = 0.4
    assert rules.interest_fen([piece], 360) == 0
    assert rules.interest_fen([piece, piece], 360) == 1


def test_rates_are_exact_units_of_ten_to_the_minus_seven():
    assert rules.rate_units(Decimal("0.015")) == 150_000
    assert rules.rate_units(Decimal("0.0035")) == 35_000
    assert rules.rate_units(Decimal("0.0000001")) == 1
    with pytest.raises(InvalidInput) as err:
        rules.rate_units(Decimal("0.00000001"))
    assert err.value.code == "interest.rate_precision"
    with pytest.raises(InvalidInput):
        rules.rate_units(Decimal("-0.01"))


def test_the_day_basis_is_360_or_365():
    with pytest.raises(InvalidInput) as err:
        rules.interest_fen([(1, RATE)], 366)
    assert err.value.code == "interest.day_basis"


def test_accrual_to_date_subtracts_the_days_not_yet_held():
    # from the 预计积数 at 2025-03-10 (after the withdrawal): the days up to 2025-03-10
    to_date = rules.accrual_to_date(360_200_000, BALANCE, YEAR_END, date(2025, 3, 10))
    assert to_date == OPENING * 77 + 1_100_000 * 176  # 270,600,000
    assert to_date == rules.accrual_pieces(BALANCE, CHANGES, YEAR_END, [(START, date(2025, 3, 10))])[0]


def test_a_rate_change_splits_the_year_at_its_date():
    """A fictional change to 2.00% on 2025-01-01 (REFERENCE rates are 1.50% since 2016-02-21)."""
    history = [
        DepositRate(date(2016, 2, 21), RATE, RATE),
        DepositRate(date(2025, 1, 1), Decimal("0.02"), Decimal("0.02")),
    ]
    segments = deposit_rate_segments(history, START, YEAR_END)
    pieces = rules.member_interest_pieces((0, BALANCE), ([], CHANGES), YEAR_END, segments)
    current = [accrual for accrual, _ in pieces[1::2]]
    # 184 days to 2024-12-31: 10,000 × 77 + 11,000 × 107; then 11,000 × 69 + 8,000 × 112
    assert current == [194_700_000, 165_500_000]
    assert sum(current) == 360_200_000
    # (1,947,000 × 1.5% + 1,655,000 × 2%) ÷ 360 = 173.0694… yuan
    assert rules.interest_fen(pieces, 360) == 17_307
    assert rules.interest_fen(pieces, 365) == 17_070


def test_the_sql_integer_formula_is_the_rounding_step():
    units = 360_200_000 * rules.rate_units(RATE)
    assert rules.sql_round_half_up(units, 360) == 15_008
    assert rules.sql_round_half_up(units, 365) == 14_803
    assert rules.sql_round_half_up(-units, 365) == 0


def test_the_overflow_bound_covers_realistic_balances():
    bound = rules.max_safe_accrual(rules.rate_units(RATE), 365, terms=2)
    assert bound > 10**9 * 366  # ten million yuan held a whole leap year
    worst = 2 * bound * rules.rate_units(RATE) + rules.RATE_SCALE * 365
    assert worst <= rules.INT64_MAX


# ---------------------------------------------------------------------------------- properties

days = st.integers(1, 365).map(lambda n: START + timedelta(days=n))
changes = st.lists(st.tuples(days, st.integers(-(10**7), 10**7)), max_size=12)


def brute_force(opening: int, changes, after: date, through: date) -> int:
    """Σ over the days after < d ≤ through of the balance held that day (changes valued < d)."""
    total, day = 0, after + timedelta(days=1)
    while day <= through:
        total += opening + sum(fen for v, fen in changes if v < day)
        day += timedelta(days=1)
    return total


@given(opening=st.integers(0, 10**8), changes=changes, cut=days)
def test_accrual_after_is_the_sum_of_daily_balances(opening, changes, cut):
    balance = opening + sum(fen for _, fen in changes)
    assert rules.accrual_after(balance, changes, YEAR_END, START) == brute_force(
        opening, changes, START, YEAR_END
    )
    before, after = rules.accrual_pieces(balance, changes, YEAR_END, [(START, cut), (cut, YEAR_END)])
    assert before == brute_force(opening, changes, START, cut)
    assert after == brute_force(opening, changes, cut, YEAR_END)


@given(
    accruals=st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=4),
    rate=st.integers(0, 10**6).map(lambda n: Decimal(n).scaleb(-rules.RATE_PLACES)),
    day_basis=st.sampled_from([360, 365]),
)
def test_interest_is_never_negative_and_matches_the_sql_formula(accruals, rate, day_basis):
    pieces = [(a, rate) for a in accruals]
    got = rules.interest_fen(pieces, day_basis)
    assert got >= 0
    assert got == rules.sql_round_half_up(sum(accruals) * rules.rate_units(rate), day_basis)
    exact = Fraction(sum(accruals)) * Fraction(rate) / day_basis
    assert got == 0 if exact <= 0 else abs(got - exact) <= Fraction(1, 2)
