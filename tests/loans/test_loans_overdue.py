"""Penalty interest (REFERENCE §4.7) and the five-level classification (§4.8)."""

from decimal import Decimal

import pytest

from hpf.kernel.errors import InvalidInput
from hpf.loans.book.overdue import ClassificationThresholds, RiskClass, classify, penalty_interest

D = Decimal
COMMERCIAL = ClassificationThresholds(special_mention=1, substandard=91, doubtful=181, loss=361)


def test_penalty_example_of_the_reference():
    """2,000 overdue at 2.60% for 30 days: 2,000 × 2.60% ÷ 360 × 1.5 × 30 = 6.50."""
    assert penalty_interest(200_000, D("0.026"), 30) == 650


def test_penalty_multiplier_and_basis_are_parameters():
    assert penalty_interest(200_000, D("0.026"), 30, multiplier=D("1")) == 433
    assert penalty_interest(200_000, D("0.026"), 30, multiplier=D("1.3")) == 563
    assert penalty_interest(200_000, D("0.026"), 365, day_basis=365) == 7800
    assert penalty_interest(200_000, D("0.026"), 0) == 0


def test_penalty_refuses_negative_or_float_input():
    with pytest.raises(InvalidInput):
        penalty_interest(-1, D("0.026"), 30)
    with pytest.raises(InvalidInput):
        penalty_interest(100, 0.026, 30)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        penalty_interest(100, D("0.026"), -1)


@pytest.mark.parametrize(
    ("days", "code", "name"),
    [
        (0, "01", "正常"),
        (1, "02", "关注"),
        (90, "02", "关注"),
        (91, "03", "次级"),
        (180, "03", "次级"),
        (181, "04", "可疑"),
        (360, "04", "可疑"),
        (361, "05", "损失"),
        (5000, "05", "损失"),
    ],
)
def test_classification_by_days_past_due(days, code, name):
    found = classify(days, COMMERCIAL)
    assert (found.value, found.name_zh) == (code, name)


def test_non_performing_is_substandard_doubtful_and_loss():
    assert [c.value for c in RiskClass if c.non_performing] == ["03", "04", "05"]


def test_thresholds_must_increase():
    with pytest.raises(InvalidInput) as refused:
        ClassificationThresholds(1, 91, 91, 361)
    assert refused.value.code == "loan.invalid_thresholds"
    with pytest.raises(InvalidInput):
        ClassificationThresholds(0, 91, 181, 361)
