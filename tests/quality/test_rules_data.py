"""The rule files: every family present, ids stable and in their family's prefix, every check
named exists; a malformed rule is refused; the score's arithmetic, worked by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hpf.quality import checks
from hpf.quality.rules import Dimension, RuleError, _rule, read_rules
from hpf.quality.service import score_of


def test_every_family_has_rules_with_their_prefix_and_a_known_check():
    rules = read_rules(checks.NAMES)
    assert {r.dimension for r in rules} == set(Dimension)
    for r in rules:
        assert r.id.startswith(f"Q-{r.dimension.value[:3].upper()}-"), r.id
        assert r.check in checks.CHECKS and r.title_zh and r.explanation_zh and r.fix_zh
    assert {"Q-VAL-ID-CHECKSUM", "Q-CON-ID-BIRTH", "Q-UNI-PERSON-OPEN", "Q-TIM-REMITTANCE-LATE"} <= {
        r.id for r in rules
    }


GOOD = {
    "id": "Q-VAL-X", "table": "member", "object": "member", "severity": "error", "title_zh": "标题",
    "explanation_zh": "说明", "fix_zh": "更正", "fix_service": "s", "fix_page": "/", "check": "code_in_table",
    "params": {},
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "Q-COM-X"}, "must start with Q-VAL-"),
        ({"check": "no_such_check"}, "no check named"),
        ({"object": "person"}, "unknown object"),
        ({"severity": "info"}, "severity"),
        ({"extra": 1}, "keys"),
    ],
)
def test_a_malformed_rule_is_refused(change, message):
    assert _rule(Dimension.VALIDITY, GOOD, checks.NAMES).id == "Q-VAL-X"
    with pytest.raises(RuleError, match=message):
        _rule(Dimension.VALIDITY, GOOD | change, checks.NAMES)


def test_the_score_is_one_less_the_failing_share_half_up():
    assert score_of(8, 1) == Decimal("0.8750")
    assert score_of(3, 1) == Decimal("0.6667")  # 0.66666… rounds up
    assert score_of(3, 2) == Decimal("0.3333")
    assert score_of(20000, 1) == Decimal("1.0000")  # 0.99995, half up
    assert score_of(0, 0) == Decimal(1)
