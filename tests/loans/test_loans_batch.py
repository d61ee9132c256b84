"""Bit-packed schedules of many loans equal the ordinary schedules, row for row."""

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hpf.loans.calculator.batch import LoanTerms, many_schedules
from hpf.loans.calculator.schedule import Method, build_schedule

loans = st.builds(
    LoanTerms,
    principal_fen=st.integers(min_value=1, max_value=500_000_000),
    annual_rate=st.sampled_from(["0", "0.021", "0.026", "0.0285", "0.03075", "0.0123457"]).map(Decimal),
    months=st.sampled_from([1, 2, 12, 60, 61, 240, 360]),
    method=st.sampled_from(Method),
)


def exact(loan):
    s = build_schedule(loan.principal_fen, loan.annual_rate, loan.months, loan.method, date(2025, 1, 1))
    return [(r.principal_fen, r.interest_fen, r.remaining_fen) for r in s.installments]


@settings(max_examples=60, deadline=None)
@given(st.lists(loans, min_size=1, max_size=40))
def test_many_schedules_equal_the_ordinary_ones(batch):
    found = many_schedules(batch)
    assert len(found) == len(batch)
    for index, loan in enumerate(batch):
        assert found.rows(index) == exact(loan)


def test_the_golden_loan_in_a_batch_and_a_tiny_one_beside_it():
    golden = LoanTerms(50_000_000, Decimal("0.026"), 360, Method.EQUAL_INSTALLMENT)
    tiny = LoanTerms(300, Decimal("0.026"), 360, Method.EQUAL_INSTALLMENT)  # zero rows: the ordinary path
    found = many_schedules([golden, tiny, golden])
    assert found.row(0, 1) == (91_837, 108_333, 49_908_163)
    assert found.row(2, 360) == (199_651, 433, 0)
    assert found.rows(1) == exact(tiny)
