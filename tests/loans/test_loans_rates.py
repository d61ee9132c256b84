"""The national loan rate table (REFERENCE §4.4) and re-pricing on the next 1 January."""

from datetime import date
from decimal import Decimal

import pytest

from hpf.kernel.errors import InvalidInput
from hpf.loans.calculator import rates

D = Decimal


@pytest.mark.parametrize(
    ("day", "months", "second_home", "rate"),
    [
        (date(2015, 8, 26), 60, False, "0.0275"),
        (date(2015, 8, 26), 61, False, "0.0325"),
        (date(2022, 9, 30), 360, False, "0.0325"),
        (date(2022, 10, 1), 360, False, "0.031"),
        (date(2022, 10, 1), 360, True, "0.03575"),
        (date(2024, 5, 18), 60, False, "0.0235"),
        (date(2024, 5, 18), 240, True, "0.03325"),
        (date(2025, 5, 7), 360, False, "0.0285"),
        (date(2025, 5, 8), 360, False, "0.026"),
        (date(2025, 5, 8), 36, False, "0.021"),
        (date(2025, 5, 8), 60, True, "0.02525"),
        (date(2025, 5, 8), 120, True, "0.03075"),
        (date(2008, 12, 1), 120, False, "0.0459"),
    ],
)
def test_rate_for_a_new_loan(day, months, second_home, rate):
    assert rates.rate_on(day, months, second_home) == D(rate)


def test_every_entry_names_its_source_and_the_table_is_in_date_order():
    table = rates.national_rates()
    assert [e.effective_from for e in table] == sorted(e.effective_from for e in table)
    assert all(e.source for e in table)
    assert table[-1].effective_from == date(2025, 5, 8)


def test_no_rate_before_the_table_or_for_an_unknown_second_home_rate():
    with pytest.raises(InvalidInput) as early:
        rates.rate_on(date(2000, 1, 1), 120, False)
    assert early.value.code == "loan.rate_unknown"
    with pytest.raises(InvalidInput) as second:
        rates.rate_on(date(2015, 7, 1), 120, True)
    assert second.value.code == "loan.rate_unknown"
    with pytest.raises(InvalidInput) as term:
        rates.rate_on(date(2025, 7, 1), 0, False)
    assert term.value.code == "loan.invalid_term"


def test_existing_loans_are_repriced_on_the_next_1_january():
    assert rates.repricing_date(date(2025, 5, 8)) == date(2026, 1, 1)
    assert rates.repricing_date(date(2015, 8, 26)) == date(2016, 1, 1)
    signed = date(2024, 6, 1)  # at 2.85%, after the 2024-05-18 cut
    assert rates.rate_for_existing_loan(signed, date(2025, 12, 31), 240, False) == D("0.0285")
    assert rates.rate_for_existing_loan(signed, date(2026, 1, 1), 240, False) == D("0.026")
    assert rates.rate_changes(signed, date(2030, 1, 1), 240, False) == [(date(2026, 1, 1), D("0.026"))]


def test_a_2015_loan_walks_through_every_later_cut():
    signed = date(2015, 6, 1)  # 3.75% (>5 years) since 2015-05-11
    assert rates.rate_on(signed, 240, False) == D("0.0375")
    assert rates.rate_changes(signed, date(2026, 12, 31), 240, False) == [
        (date(2016, 1, 1), D("0.0325")),  # 06-28 and 08-26 cuts meet on one 1 January
        (date(2023, 1, 1), D("0.031")),
        (date(2025, 1, 1), D("0.0285")),  # UNVERIFIED date for the 2024 cut: the rule's answer
        (date(2026, 1, 1), D("0.026")),
    ]


def test_a_center_may_pass_its_own_table():
    table = rates.parse_rate_table(
        [{"effective_from": "2025-05-08", "first_home": {"up_to_5y": "0.021", "over_5y": "0.026"},
          "second_home": {"up_to_5y": "0.03", "over_5y": "0.035"}}]
    )  # fmt: skip
    assert rates.rate_on(date(2025, 6, 1), 360, True, table) == D("0.035")
    with pytest.raises(InvalidInput):
        rates.parse_rate_table([{"effective_from": "2025-05-08", "first_home": {"up_to_5y": 0.021}}])


def test_a_supposed_change_moves_new_and_later_repriced_loans_in_its_block_only():
    """A what-if's rate change (decision 0038): +50 bp from 2026-03-01 — new loans from that day
    take the moved rate (2.60 % → 3.10 % over 5 years, first home); a loan of 2025 is re-priced
    on 2027-01-01; before the day, and outside the block, the national table stands."""
    day = date(2026, 3, 1)
    national = rates.rate_on(day, 360, False)
    assert national == Decimal("0.026")
    with rates.supposing(50, day):
        assert rates.rate_on(day, 360, False) == Decimal("0.031")
        assert rates.rate_on(day, 60, False) == rates.rate_on(date(2026, 2, 28), 60, False) + Decimal("0.005")
        assert rates.rate_on(date(2026, 2, 28), 360, False) == Decimal("0.026")
        assert rates.rate_for_existing_loan(date(2025, 6, 1), date(2027, 1, 1), 360, False) == Decimal(
            "0.031"
        )
        assert rates.rate_for_existing_loan(date(2025, 6, 1), date(2026, 12, 31), 360, False) == Decimal(
            "0.026"
        )
    assert rates.rate_on(day, 360, False) == national
    for bad in (0, 301, True, "50"):
        with pytest.raises(InvalidInput), rates.supposing(bad, day):  # type: ignore[arg-type]
            pass
