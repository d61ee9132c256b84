"""Unit tests: money as integer fen, rates as Decimal, one rounding step."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpf.kernel.errors import InvalidInput
from hpf.kernel.money import RoundingUnit, apply_rate, format_yuan, parse_rate, parse_yuan, require_fen


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0", 0), ("0.01", 1), ("1234.56", 123456), ("1,234.5", 123450), (Decimal("7.10"), 710), (12, 1200)],
)
def test_yuan_text_parses_to_exact_fen(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1.5, "money.float_refused"),
        ("1.005", "money.precision"),
        ("abc", "money.format"),
        ("NaN", "money.format"),
    ],
)
def test_bad_amounts_are_refused_with_a_code(value, code):
    with pytest.raises(InvalidInput) as err:
        parse_yuan(value)
    assert err.value.code == code


def test_floats_and_bools_are_not_fen():
    for bad in (1.0, True, "100"):
        with pytest.raises(InvalidInput):
            require_fen(bad)


def test_float_rates_are_refused():
    with pytest.raises(InvalidInput):
        parse_rate(0.12)  # type: ignore[arg-type]
    assert parse_rate("0.12") == Decimal("0.12")


# Golden table: base × rate under both rounding units (元以下四舍五入 / 分以下四舍五入).
@pytest.mark.parametrize(
    ("base_fen", "rate", "fen_result", "yuan_result"),
    [
        (800_000, "0.12", 96_000, 96_000),  # 8,000.00 × 12% = 960.00 either way
        (654_321, "0.12", 78_519, 78_500),  # 785.1852 → 785.19 / 785
        (654_321, "0.05", 32_716, 32_700),  # 327.16 05 → 327.16 / 327
        (250_050, "0.07", 17_504, 17_500),  # 175.0350 → 175.04 (half up) / 175
        (210_000, "0.05", 10_500, 10_500),  # 105.00
        (230_000, "0.065", 14_950, 15_000),  # 149.50 → 149.50 / 150 (half up at .5 yuan)
    ],
)
def test_contribution_part_golden_table(base_fen, rate, fen_result, yuan_result):
    assert apply_rate(base_fen, Decimal(rate), RoundingUnit.FEN) == fen_result
    assert apply_rate(base_fen, Decimal(rate), RoundingUnit.YUAN) == yuan_result


def test_format_yuan():
    assert format_yuan(123456789) == "1,234,567.89"
    assert format_yuan(-5, grouping=False) == "-0.05"


@given(st.integers(min_value=0, max_value=10**12), st.decimals(min_value=0, max_value=1, places=4))
def test_rounding_moves_at_most_half_a_unit(amount, rate):
    exact = Decimal(amount) * rate
    assert abs(apply_rate(amount, rate) - exact) <= Decimal("0.5")
    assert abs(apply_rate(amount, rate, RoundingUnit.YUAN) - exact) <= 50


@pytest.mark.parametrize("text", ["1e30", "-1e30", "1e999999999", "92233720368547758.08"])
def test_a_yuan_amount_beyond_64_bits_of_fen_is_refused_without_building_it(text):
    with pytest.raises(InvalidInput) as err:
        parse_yuan(text)
    assert err.value.code == "money.out_of_range"


def test_the_largest_storable_amount_is_accepted():
    assert parse_yuan("92233720368547758.07") == 2**63 - 1
