"""The supervision rules of decision 0040 with figures worked by hand: a center's score and
class from its indicator values under the shipped policy, the monitoring lines, the policy's
checks."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from hpf.hub.supervision import rules
from hpf.kernel.errors import HpfError

LOAN, OVERDUE, DEPOSIT, USE, FUNDS = "0302020301", "0302020401", "0301020101", "0301020501", "0301008101"
POLICY = rules.shipped()


def values(**kw: str) -> dict[str, Decimal]:
    codes = {"loan": LOAN, "overdue": OVERDUE, "deposit": DEPOSIT, "use": USE, "funds": FUNDS}
    return {codes[k]: Decimal(v) for k, v in kw.items()}


@pytest.mark.parametrize(
    ("given", "score", "grade", "deciding"),
    [
        # all on the good side: 30 + 30 + 20 + 20
        ({"loan": "78", "overdue": "0.02", "deposit": "92", "use": "88"}, "100.00", "A", []),
        # 个贷率 82 between good 80 and warning 85: 15; the rest whole: 15 + 30 + 20 + 20 = 85
        (
            {"loan": "82", "overdue": "0.02", "deposit": "92", "use": "88"},
            "85.00",
            "B",
            [(LOAN, "warning", "15")],
        ),
        # and 逾期率 0.05 in its warning band: 15 + 15 + 20 + 20 = 70
        (
            {"loan": "82", "overdue": "0.05", "deposit": "92", "use": "88"},
            "70.00",
            "C",
            [(LOAN, "warning", "15"), (OVERDUE, "warning", "15")],
        ),
        # 个贷率 86.5 beyond its line: 0; 逾期率 15; 使用率 80 in its band: 10 → 0 + 15 + 20 + 10 = 45;
        # deciding: most points lost first (30, 15, 10)
        (
            {"loan": "86.5", "overdue": "0.05", "deposit": "92", "use": "80"},
            "45.00",
            "D",
            [(LOAN, "beyond", "0"), (OVERDUE, "warning", "15"), (USE, "warning", "10")],
        ),
        # on the lines themselves: 个贷率 85 = warning (15), 逾期率 0.03 = good threshold, not below
        # it (15), 缴存率 90 not above 90 (10), 使用率 not reported (0) → 40; points lost: 使用率 20,
        # 个贷率 and 逾期率 15 each (ties by code), 缴存率 10
        (
            {"loan": "85", "overdue": "0.03", "deposit": "90"},
            "40.00",
            "D",
            [
                (USE, "missing", "0"),
                (LOAN, "warning", "15"),
                (OVERDUE, "warning", "15"),
                (DEPOSIT, "warning", "10"),
            ],
        ),
    ],
)
def test_score_class_and_deciding_indicators(given, score, grade, deciding):
    found = rules.classify(POLICY, values(**given))
    assert (str(found.score), found.grade) == (score, grade)
    assert [(d.indicator, d.band, d.points) for d in found.deciding] == deciding


def test_monitoring_lines():
    # 个贷率 over 85 (not on it); 逾期率 up by 0.02 points (0.01 is not); 归集余额 +25% and −20%
    assert rules.monitor(POLICY, values(loan="85"), {}) == []
    signals = rules.monitor(
        POLICY, values(loan="86.5", overdue="0.05", funds="1250000"), values(overdue="0.03", funds="1000000")
    )
    assert [(s.rule, s.subject, s.value) for s in signals] == [
        ("M-LOAN-RATIO", LOAN, "86.5"),
        ("M-OVERDUE-RISING", OVERDUE, "0.05"),
        ("M-FUND-MOVEMENT", FUNDS, "1250000"),
    ]
    assert "25.0%" in signals[2].detail_zh and "86.5%" in signals[0].detail_zh
    assert (
        rules.monitor(
            POLICY, values(overdue="0.04", funds="1100000"), values(overdue="0.03", funds="1000000")
        )
        == []
    )
    (down,) = rules.monitor(POLICY, values(funds="800000"), values(funds="1000000"))
    assert down.rule == "M-FUND-MOVEMENT" and "-20.0%" in down.detail_zh
    assert rules.monitor(POLICY, values(overdue="0.05"), {}) == []  # no month before: not "rising"


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["indicators"][LOAN].update(weight=29),  # weights add up to 99
        lambda d: d["indicators"][LOAN].update(good="90"),  # good beyond the warning line
        lambda d: d["grades"].pop(),  # no grade from 0
        lambda d: d["credit"]["grounds"]["P1"].update(years=0),
        lambda d: d["monitor"].pop("loan_ratio"),
    ],
)
def test_a_policy_that_does_not_hold_together_is_refused(change):
    document = copy.deepcopy(POLICY.document)
    change(document)
    with pytest.raises(HpfError) as refused:
        rules.parse(document)
    assert refused.value.code == "supervision.policy_invalid"
