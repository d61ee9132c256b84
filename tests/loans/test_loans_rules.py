"""Loan policy defaults, eligibility refusals and the largest loan (REFERENCE §4.1-4.3)."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from hpf.kernel.errors import InvalidInput
from hpf.loans.application.rules import (
    LimitKind,
    LoanRequest,
    first_installment,
    loan_policy,
    loan_policy_defaults,
    max_loan_amount,
    resolve_loan_policy,
)
from hpf.loans.calculator.schedule import Method

D = Decimal
POLICY = loan_policy(date(2025, 6, 1))


def request(**changes: object) -> LoanRequest:
    base = LoanRequest(
        house_price_fen=150_000_000,  # 1,500,000 yuan
        appraisal_fen=None,
        second_home=False,
        term_months=360,
        annual_rate=D("0.026"),
        method=Method.EQUAL_INSTALLMENT,
        age_years=30,
        balance_fen=10_000_000,  # 100,000 yuan in the accounts
        monthly_base_fen=2_000_000,  # Σ bases 20,000 yuan
        continuous_deposit_months=24,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_default_policy():
    p = POLICY
    assert (p.max_term_months, p.max_age_plus_term_years, p.min_continuous_deposit_months, p.max_loans) == (
        360, 65, 6, 2,
    )  # fmt: skip
    assert (p.ltv_first_home, p.ltv_second_home) == (D("0.8"), D("0.8"))
    assert loan_policy(date(2015, 8, 31)).ltv_second_home == D("0.7")  # 30% down before 建金〔2015〕128号
    assert (p.penalty_multiplier, p.penalty_day_basis) == (D("1.5"), 360)
    assert (p.balance_multiple, p.repayment_capacity_ratio, p.max_amount_fen) == (
        D("15"),
        D("0.5"),
        120_000_000,
    )
    t = p.classification_thresholds
    assert (t.special_mention, t.substandard, t.doubtful, t.loss) == (1, 91, 181, 361)


def test_a_center_entry_overlays_a_default():
    entries = loan_policy_defaults()
    entries["max_amount_fen"].append((date(2025, 7, 1), 80_000_000))
    assert resolve_loan_policy(entries, date(2025, 6, 30)).max_amount_fen == 120_000_000
    assert resolve_loan_policy(entries, date(2025, 7, 1)).max_amount_fen == 80_000_000
    entries["ltv_first_home"].append((date(2025, 7, 1), 0.8))
    with pytest.raises(InvalidInput) as refused:
        resolve_loan_policy(entries, date(2025, 7, 1))
    assert refused.value.code == "loan.invalid_policy"


@pytest.mark.parametrize(
    ("changes", "bound", "amount"),
    [
        ({"house_price_fen": 200_000_000}, LimitKind.CAP, 120_000_000),
        ({}, LimitKind.LTV, 120_000_000),  # a tie with the cap: the first listed
        ({"house_price_fen": 100_000_000}, LimitKind.LTV, 80_000_000),
        ({"appraisal_fen": 90_000_000}, LimitKind.LTV, 72_000_000),  # the lower of price and appraisal
        ({"balance_fen": 4_000_000}, LimitKind.BALANCE_MULTIPLE, 60_000_000),
        ({"monthly_base_fen": 600_000}, LimitKind.REPAYMENT_CAPACITY, 74_936_483),
        ({"monthly_base_fen": 600_000, "age_years": 45}, LimitKind.AGE_TERM, 56_097_083),
    ],
)
def test_the_largest_loan_is_the_tightest_limit(changes, bound, amount):
    found = max_loan_amount(request(**changes), POLICY)
    assert (found.bound, found.amount_fen, found.eligible) == (bound, amount, True)
    assert found.amount_fen == min(found.limits.values())


def test_repayment_capacity_is_the_largest_principal_whose_first_installment_fits():
    """Σ bases 6,000 × 50% = 3,000 a month at most: 749,364.83 yuan (exact: ⌈3,000.005 ÷ f⌉ − 1 fen
    with f the annuity factor of 2.60% over 360 months)."""
    found = max_loan_amount(request(monthly_base_fen=600_000), POLICY)
    capacity = found.limits[LimitKind.REPAYMENT_CAPACITY]
    assert first_installment(capacity, D("0.026"), 360, Method.EQUAL_INSTALLMENT) <= 300_000
    assert first_installment(capacity + 1, D("0.026"), 360, Method.EQUAL_INSTALLMENT) > 300_000
    ep = max_loan_amount(request(monthly_base_fen=600_000, method=Method.EQUAL_PRINCIPAL), POLICY)
    assert ep.limits[LimitKind.REPAYMENT_CAPACITY] < capacity  # equal principal starts higher


def test_age_shortens_the_term():
    found = max_loan_amount(request(age_years=45), POLICY)
    assert found.term_months == 240  # 45 + 20 = 65
    assert LimitKind.AGE_TERM in found.limits
    assert LimitKind.AGE_TERM not in max_loan_amount(request(age_years=35), POLICY).limits


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"continuous_deposit_months": 5}, "loan.deposit_too_short"),
        ({"loans_used": 2}, "loan.too_many_loans"),
        ({"has_outstanding_loan": True}, "loan.outstanding_loan"),
        ({"term_months": 361}, "loan.term_too_long"),
        ({"age_years": 65}, "loan.age_limit"),
    ],
)
def test_each_failed_rule_gives_its_refusal(changes, code):
    found = max_loan_amount(request(**changes), POLICY)
    assert [f.code for f in found.refusals] == [code]
    assert found.amount_fen == 0 and not found.eligible
    assert found.refusals[0].message_zh and found.refusals[0].message_en


def test_every_refusal_is_listed():
    found = max_loan_amount(request(continuous_deposit_months=0, loans_used=3, age_years=70), POLICY)
    assert [f.code for f in found.refusals] == [
        "loan.deposit_too_short",
        "loan.too_many_loans",
        "loan.age_limit",
    ]
    assert found.refusals[0].message_zh == "申请前须连续足额缴存住房公积金满6个月"


def test_bad_requests_are_refused_outright():
    with pytest.raises(InvalidInput):
        request(balance_fen=-1)
    with pytest.raises(InvalidInput):
        request(term_months=0)
