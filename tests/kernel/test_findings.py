"""The one findings type: severities, verdicts, and the refusal made of a list of findings."""

import pytest

from hpf.kernel.errors import InvalidInput
from hpf.kernel.findings import Finding, Severity, Verdict, require_ok

HELD = Finding.rule("withdrawal.account_state", True, "账户状态允许提取", "state 01")
FAILED = Finding.rule("withdrawal.no_balance", False, "账户余额为零，无可提取金额", "balance is 0")
RISK = Finding.risk("risk.shared_payee_card", "收款银行卡已被1名非家庭成员的职工使用", "1 other member")


def test_a_rule_is_info_when_it_held_and_error_when_it_failed_a_risk_is_a_warning():
    assert (HELD.severity, HELD.passed) == (Severity.INFO, True)
    assert (FAILED.severity, FAILED.passed) == (Severity.ERROR, False)
    assert (RISK.severity, RISK.passed) == (Severity.WARNING, True)
    plain = Finding("policy.base_below_floor", "缴存基数低于下限2,000.00元", "base 1 fen", subject="base_fen")
    assert plain.severity is Severity.ERROR and not plain.passed and plain.details is None


def test_a_verdict_fails_on_an_error_only_and_keeps_the_order_found():
    assert Verdict().passed and Verdict((HELD, RISK)).passed
    verdict = Verdict.of((HELD, FAILED), (RISK,))
    assert not verdict.passed
    assert verdict.findings == (HELD, FAILED, RISK)
    assert verdict.refusals == (FAILED,) and verdict.risks == (RISK,) and verdict.rules == (HELD, FAILED)


def test_findings_print_subject_code_and_english_and_hash_without_their_details():
    found = Finding("altered", "审计记录被篡改", "row 3's content does not match", subject="row 3",
                    details={"row_id": 3})  # fmt: skip
    assert str(found) == "row 3: altered: row 3's content does not match"
    assert str(Finding("x.y", "中文")) == "x.y: 中文"  # no English: the Chinese
    assert hash(found) == hash(Finding("altered", "审计记录被篡改", "row 3's content does not match",
                                       subject="row 3", details={"row_id": 4}))  # fmt: skip
    assert found != Finding("altered", "审计记录被篡改", "row 3's content does not match", subject="row 3")


def test_require_ok_refuses_with_the_first_and_lists_every_finding():
    require_ok([])
    first = Finding("policy.employer_rate_out_of_range", "单位缴存比例须在5%至12%之间", "13%",
                    subject="employer_rate")  # fmt: skip
    second = Finding(
        "policy.member_rate_out_of_range", "个人缴存比例须在5%至12%之间", "4%", subject="member_rate"
    )
    with pytest.raises(InvalidInput) as err:
        require_ok([first, second])
    assert (err.value.code, err.value.title, err.value.detail) == (first.code, first.message_zh, "13%")
    assert err.value.extra["findings"] == [
        {"code": first.code, "title": first.message_zh, "detail": "13%", "field": "employer_rate"},
        {"code": second.code, "title": second.message_zh, "detail": "4%", "field": "member_rate"},
    ]


def test_severity_and_subject_are_keywords():
    with pytest.raises(TypeError):
        Finding("a.b", "中文", "english", Severity.WARNING)
