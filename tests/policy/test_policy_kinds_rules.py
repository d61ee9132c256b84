"""The withdrawal and loan parameters as policy (decision 0022): the shipped defaults, the values a
center may give them, refusals that name the parameter, the Chinese a page shows."""

import json
from dataclasses import fields
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpf.kernel.errors import InvalidInput
from hpf.loans.calculator import schedule
from hpf.policy import rules
from hpf.policy.rules import (
    LOAN,
    LOAN_PARAMS,
    PARAMS,
    WITHDRAWAL,
    WITHDRAWAL_PARAMS,
    ClassificationThresholds,
    LoanPolicy,
    WithdrawalPolicy,
    resolve_loan_policy,
    resolve_withdrawal_policy,
    shipped_entries,
)

D = Decimal
DAY = date(2025, 6, 1)


def test_every_field_of_the_typed_policies_is_a_parameter_in_order():
    assert [p.name for p in WITHDRAWAL_PARAMS] == [f.name for f in fields(WithdrawalPolicy)]
    assert [p.name for p in LOAN_PARAMS] == [f.name for f in fields(LoanPolicy) if f.name != "on"]
    assert {p.key for p in WITHDRAWAL_PARAMS} == {f"withdrawal.{f.name}" for f in fields(WithdrawalPolicy)}
    assert all(len(key) <= 40 for key in PARAMS)  # policy_value.key is VARCHAR(40)
    assert rules.LOAN_TERM_MAX_MONTHS == schedule.MAX_MONTHS


def test_the_shipped_defaults_are_the_values_the_rules_had():
    w = resolve_withdrawal_policy(shipped_entries(WITHDRAWAL), DAY)
    assert w == WithdrawalPolicy(12, 12, 3, 60_000, 3, 1, 6, 60, 50, 4)
    loan = resolve_loan_policy(shipped_entries(LOAN), DAY)
    assert (loan.max_term_months, loan.max_age_plus_term_years, loan.max_amount_fen) == (360, 65, 120_000_000)
    assert (loan.ltv_first_home, loan.ltv_second_home, loan.repayment_capacity_ratio) == (
        D("0.8"),
        D("0.8"),
        D("0.5"),
    )
    assert (loan.balance_multiple, loan.penalty_multiplier, loan.penalty_day_basis) == (
        D("15"),
        D("1.5"),
        360,
    )
    assert loan.classification_thresholds == ClassificationThresholds(1, 91, 181, 361)
    assert loan.dunning_days == (1, 30, 90)
    assert resolve_loan_policy(shipped_entries(LOAN), date(2015, 8, 31)).ltv_second_home == D("0.7")


def test_a_center_entry_by_name_overlays_the_default_from_its_date():
    entries = shipped_entries(WITHDRAWAL)
    entries["rent_monthly_cap_fen"].append((date(2025, 7, 1), 45_000))
    assert resolve_withdrawal_policy(entries, date(2025, 6, 30)).rent_monthly_cap_fen == 60_000
    assert resolve_withdrawal_policy(entries, date(2025, 7, 1)).rent_monthly_cap_fen == 45_000
    assert shipped_entries(WITHDRAWAL)["rent_monthly_cap_fen"] == [(date(1999, 4, 3), 60_000)]  # fresh lists


def test_nothing_in_force_before_the_defaults_names_the_key():
    with pytest.raises(InvalidInput) as err:
        resolve_loan_policy(shipped_entries(LOAN), date(1999, 4, 2))
    assert err.value.code == "policy.no_value" and err.value.extra["field"] == "loan.max_term_months"


@pytest.mark.parametrize(
    ("key", "raw", "expected", "stored"),
    [
        ("withdrawal.rent_monthly_cap_fen", 45_000, 45_000, 45_000),
        ("withdrawal.rent_monthly_cap_fen", "45000", 45_000, 45_000),
        ("withdrawal.rent_monthly_cap_fen", 0, 0, 0),  # a center that stops rent withdrawals
        ("withdrawal.retirement_age_male", 63, 63, 63),
        ("withdrawal.rent_interval_months", 0, 0, 0),
        ("loan.max_amount_fen", 100_000_000, 100_000_000, 100_000_000),
        ("loan.ltv_first_home", "0.7", D("0.7"), "0.7"),
        ("loan.ltv_second_home", "1", D("1"), "1"),
        ("loan.repayment_capacity_ratio", "0.45", D("0.45"), "0.45"),
        ("loan.balance_multiple", "12.5", D("12.5"), "12.5"),
        ("loan.penalty_multiplier", "1.3", D("1.3"), "1.3"),
        ("loan.max_term_months", 300, 300, 300),
        ("loan.penalty_day_basis", 365, 365, 365),
        (
            "loan.classification_thresholds",
            {"special_mention": "1", "substandard": 61, "doubtful": 121, "loss": 241},
            ClassificationThresholds(1, 61, 121, 241),
            {"special_mention": 1, "substandard": 61, "doubtful": 121, "loss": 241},
        ),
        ("loan.dunning_days", [1, 15, 60, 90], (1, 15, 60, 90), [1, 15, 60, 90]),
    ],
)
def test_values_a_center_may_set(key, raw, expected, stored):
    assert rules.validate_value(key, raw) == expected
    assert rules.canonical(key, raw) == stored
    assert rules.validate_value(key, json.loads(json.dumps(stored))) == expected  # stored JSON reads back


@pytest.mark.parametrize(
    ("key", "raw", "words"),
    [
        ("withdrawal.rent_monthly_cap_fen", -1, "金额不能为负数"),
        ("withdrawal.rent_monthly_cap_fen", 450.0, "须为整数"),
        ("withdrawal.rent_monthly_cap_fen", "450.00", "须为整数"),
        ("withdrawal.rent_monthly_cap_fen", None, "须为整数"),
        ("withdrawal.rent_monthly_cap_fen", 2**63, "金额超出允许范围"),
        ("withdrawal.rent_monthly_cap_fen", "9" * 5000, "须为整数"),  # never int() of a huge string
        ("withdrawal.purchase_window_months", 0, "须为1至120之间的整数"),
        ("withdrawal.retirement_age_female", 35, "须为40至80之间的整数"),
        ("withdrawal.housing_withdrawals_per_year", True, "须为整数"),
        ("loan.ltv_first_home", "1.2", "须在0至1之间"),
        ("loan.ltv_first_home", 0.8, "须为字符串形式的小数"),
        ("loan.ltv_first_home", "-0.1", "格式错误或为负数"),
        ("loan.ltv_second_home", "abc", "格式错误或为负数"),
        ("loan.repayment_capacity_ratio", "1.01", "须在0至1之间"),
        ("loan.repayment_capacity_ratio", "0.123456789", "最多保留7位小数"),
        ("loan.balance_multiple", "101", "须在0至100之间"),
        ("loan.penalty_multiplier", "0.9", "须在1至10之间"),
        ("loan.max_term_months", 601, "须为1至600之间的整数"),
        ("loan.max_amount_fen", -100, "金额不能为负数"),
        ("loan.max_loans", 11, "须为0至10之间的整数"),
        ("loan.penalty_day_basis", 364, "须为360或365"),
        ("loan.classification_thresholds", [1, 91, 181, 361], "四个起始逾期天数"),
        ("loan.classification_thresholds", {"special_mention": 1, "substandard": 91}, "四个起始逾期天数"),
        (
            "loan.classification_thresholds",
            {"special_mention": 1, "substandard": 181, "doubtful": 91, "loss": 361},
            "依次递增",
        ),
        (
            "loan.classification_thresholds",
            {"special_mention": 0, "substandard": 91, "doubtful": 181, "loss": 361},
            "须为1至3650之间的整数",
        ),
        ("loan.dunning_days", [], "须给出1至10个逾期天数"),
        ("loan.dunning_days", [30, 1], "逾期天数须依次递增"),
        ("loan.dunning_days", "1,30,90", "须给出1至10个逾期天数"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(key, raw, words):
    with pytest.raises(InvalidInput) as err:
        rules.validate_value(key, raw)
    assert err.value.code == "policy.invalid_value"
    assert err.value.extra["field"] == key
    assert err.value.title.startswith(PARAMS[key].label_zh + "：") and words in err.value.title


def test_an_unknown_parameter_of_a_kind_is_refused():
    for key in ("loan.nope", "withdrawal.", "rent_monthly_cap_fen", "loan_rate"):
        with pytest.raises(InvalidInput) as err:
            rules.validate_value(key, 1)
        assert err.value.code == "policy.unknown_key"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=15), inner, max_size=5),
    max_leaves=12,
)


@given(key=st.sampled_from(sorted(PARAMS)), raw=JSON_VALUES)
def test_any_json_value_is_read_or_refused_never_an_error(key, raw):
    try:
        value = rules.validate_value(key, raw)
    except InvalidInput as err:
        refused: InvalidInput | None = err
    else:
        refused = None
    if refused is not None:
        assert refused.code == "policy.invalid_value" and refused.extra["field"] == key
        return
    assert rules.validate_value(key, rules.to_json(key, value)) == value
    assert rules.describe(key, value)


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("withdrawal.rent_monthly_cap_fen", 45_000, "450.00元"),
        ("withdrawal.purchase_window_months", 12, "12个月"),
        ("withdrawal.retirement_age_male", 60, "60周岁"),
        ("withdrawal.housing_withdrawals_per_year", 4, "4次"),
        ("loan.max_amount_fen", 120_000_000, "1,200,000.00元"),
        ("loan.ltv_first_home", D("0.7"), "70%（最低首付30%）"),
        ("loan.repayment_capacity_ratio", D("0.5"), "50%"),
        ("loan.balance_multiple", D("15"), "15倍"),
        ("loan.penalty_multiplier", D("1.5"), "1.5倍"),
        ("loan.max_age_plus_term_years", 65, "65年"),
        ("loan.penalty_day_basis", 360, "360天"),
        (
            "loan.classification_thresholds",
            ClassificationThresholds(1, 91, 181, 361),
            "逾期1天起关注，91天起次级，181天起可疑，361天起损失",
        ),
        ("loan.dunning_days", (1, 30, 90), "逾期第1、30、90天"),
    ],
)
def test_describe_in_chinese(key, value, shown):
    assert rules.describe(key, value) == shown
    assert rules.LABELS_ZH[key] and rules.UNITS_ZH[key]
