"""Golden rule tables per withdrawal reason: what is allowed, what is refused and with which message."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpf.withdrawals.rules import (
    Claim,
    MemberFacts,
    PastWithdrawal,
    Reason,
    default_entries,
    evaluate,
    months_between,
    policy_on,
    repeated_withdrawals,
    resolve_policy,
)

TODAY = date(2025, 6, 16)
POLICY = policy_on(TODAY)
FACTS = MemberFacts(
    state="01",
    gender="1",
    birth_date=date(1985, 3, 7),
    carried_fen=5_000_000,  # 50,000.00
    current_fen=1_200_000,  # 12,000.00
    continuous_deposit_months=24,
)


def refusals(decision) -> list[tuple[str, str]]:
    return [(c.code, c.message_zh) for c in decision.refusals]


# ------------------------------------------------------------------------------ allowed amounts

GOLDEN = [
    # (case, claim, facts changes, allowed fen, closes)
    ("purchase: min(balance, price paid − family)", Claim(Reason.PURCHASE, document_date=date(2025, 3, 1),
      cost_fen=30_000_000, family_withdrawn_fen=26_000_000), {}, 4_000_000, False),
    ("purchase: the balance binds", Claim(Reason.PURCHASE, document_date=date(2025, 3, 1), cost_fen=90_000_000),
     {}, 6_200_000, False),
    ("purchase: a smaller request", Claim(Reason.PURCHASE, requested_fen=1_000_000, document_date=date(2025, 3, 1),
      cost_fen=90_000_000), {}, 1_000_000, False),
    ("build: the cost binds", Claim(Reason.BUILD, document_date=date(2025, 1, 10), cost_fen=3_500_000), {},
     3_500_000, False),
    ("rent, first time: 12 months × min(rent, cap 600)", Claim(Reason.RENT, rent_monthly_fen=250_000), {},
     12 * 60_000, False),
    ("rent below the cap", Claim(Reason.RENT, rent_monthly_fen=45_000), {}, 12 * 45_000, False),
    ("rent, 4 months after the last", Claim(Reason.RENT, rent_monthly_fen=250_000),
     {"past": (PastWithdrawal(date(2025, 2, 16), Reason.RENT, 720_000),)}, 4 * 60_000, False),
    ("loan, monthly: installment × months since last", Claim(Reason.LOAN_REPAYMENT, installment_fen=200_170,
      monthly_repayment=True), {"past": (PastWithdrawal(date(2025, 3, 16), Reason.LOAN_REPAYMENT, 600_510),)},
     3 * 200_170, False),
    ("loan, one-off: principal to repay", Claim(Reason.LOAN_REPAYMENT, cost_fen=2_000_000), {}, 2_000_000, False),
    ("illness: self-paid cost", Claim(Reason.ILLNESS, cost_fen=880_000), {}, 880_000, False),
    ("retirement by age: balance + interest, closes", Claim(Reason.RETIREMENT), {"birth_date": date(1965, 1, 1),
      "interest_to_date_fen": 43_210}, 6_243_210, True),
    ("retirement by certificate", Claim(Reason.RETIREMENT, document_date=date(2025, 5, 31)), {}, 6_200_000, True),
    ("disability", Claim(Reason.DISABILITY, document_date=date(2025, 4, 1), labour_ended=True), {}, 6_200_000, True),
    ("leaving: sealed 6 months", Claim(Reason.LEAVING, labour_ended=True), {"state": "02",
      "sealed_since": date(2024, 12, 16)}, 6_200_000, True),
    ("emigrating", Claim(Reason.LEAVING, emigrated=True), {}, 6_200_000, True),
    ("death, by an heir", Claim(Reason.DEATH, document_date=date(2025, 6, 1), applicant_is_heir=True),
     {"interest_to_date_fen": 1_000}, 6_201_000, True),
    ("other: staff decide, up to the balance", Claim(Reason.OTHER, document_no="困难证明2025-17"), {}, 6_200_000,
     False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "claim", "changes", "allowed", "closes"), GOLDEN, ids=[g[0] for g in GOLDEN]
)
def test_allowed_amounts(case, claim, changes, allowed, closes):
    decision = evaluate(claim, replace(FACTS, **changes), POLICY, TODAY)
    assert refusals(decision) == []
    assert (decision.allowed_fen, decision.closes_account) == (allowed, closes)
    assert decision.sheet  # the member always sees how it was reached
    assert decision.manual_review is (claim.reason is Reason.OTHER)


# ------------------------------------------------------------------------------ refusals

REFUSED = [
    ("frozen account", Claim(Reason.ILLNESS, cost_fen=100), {"state": "06"},
     [("withdrawal.account_state", "账户状态不允许提取（已冻结或已销户）")]),
    ("nothing in the account", Claim(Reason.ILLNESS, cost_fen=100), {"carried_fen": 0, "current_fen": 0},
     [("withdrawal.no_balance", "账户余额为零，无可提取金额")]),
    ("purchase contract too old", Claim(Reason.PURCHASE, document_date=date(2024, 6, 16), cost_fen=100_000), {},
     [("withdrawal.document_too_old", "购房合同或不动产登记已超过12个月，不能再申请此项提取")]),
    ("purchase contract in the future", Claim(Reason.PURCHASE, document_date=date(2025, 7, 1), cost_fen=100_000),
     {}, [("withdrawal.document_in_future", "购房合同或不动产登记日期不能晚于今天")]),
    ("purchase already withdrawn by the family", Claim(Reason.PURCHASE, document_date=date(2025, 3, 1),
      cost_fen=100_000, family_withdrawn_fen=100_000), {},
     [("withdrawal.cost_used_up", "家庭支付的购房款已由家庭成员提取完毕")]),
    ("asking for more than allowed", Claim(Reason.ILLNESS, requested_fen=900_000, cost_fen=880_000), {},
     [("withdrawal.over_limit", "申请金额超过可提取额度8,800.00元")]),
    ("rent: too few months", Claim(Reason.RENT, rent_monthly_fen=100_000), {"continuous_deposit_months": 2},
     [("withdrawal.rent_deposit_months", "须连续足额缴存满3个月")]),
    ("rent: owns a home", Claim(Reason.RENT, rent_monthly_fen=100_000), {"owns_home": True},
     [("withdrawal.rent_owns_home", "本人或配偶在本市有自有住房，不能租房提取")]),
    ("rent: open loan", Claim(Reason.RENT, rent_monthly_fen=100_000), {"active_loan": True},
     [("withdrawal.rent_active_loan", "有未结清的住房公积金贷款，不能租房提取")]),
    ("rent: too soon", Claim(Reason.RENT, rent_monthly_fen=100_000),
     {"past": (PastWithdrawal(date(2025, 4, 20), Reason.RENT, 100),)},
     [("withdrawal.rent_interval", "距上次租房提取不足3个月")]),
    ("retirement too young, no certificate", Claim(Reason.RETIREMENT), {},
     [("withdrawal.not_retired", "未达到退休年龄（60周岁）且未提供退休证明")]),
    ("disability while still employed", Claim(Reason.DISABILITY, document_date=date(2025, 4, 1)), {},
     [("withdrawal.labour_not_ended", "须已与单位终止劳动关系")]),
    ("leaving, sealed only 3 months", Claim(Reason.LEAVING, labour_ended=True),
     {"state": "02", "sealed_since": date(2025, 3, 16)},
     [("withdrawal.not_left", "须出境定居，或已终止劳动关系且账户封存满6个月")]),
    ("death, not an heir", Claim(Reason.DEATH, document_date=date(2025, 6, 1)), {},
     [("withdrawal.not_heir", "须由继承人或受遗赠人申请")]),
    ("monthly repayment without the installment", Claim(Reason.LOAN_REPAYMENT, monthly_repayment=True), {},
     [("withdrawal.installment_missing", "请填写月还款额")]),
    ("other without a reason", Claim(Reason.OTHER), {},
     [("withdrawal.other_needs_reason", "请说明提取事由并提供证明材料编号")]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "claim", "changes", "expected"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refusals_name_the_rule(case, claim, changes, expected):
    decision = evaluate(claim, replace(FACTS, **changes), POLICY, TODAY)
    assert not decision.eligible and decision.allowed_fen == 0
    assert refusals(decision) == expected


def test_policy_is_data_with_effective_dates():
    entries = default_entries()
    entries["rent_monthly_cap_fen"].append((date(2025, 7, 1), 150_000))
    before, after = resolve_policy(entries, date(2025, 6, 30)), resolve_policy(entries, date(2025, 7, 1))
    assert (before.rent_monthly_cap_fen, after.rent_monthly_cap_fen) == (60_000, 150_000)
    claim = Claim(Reason.RENT, rent_monthly_fen=250_000)
    assert evaluate(claim, FACTS, after, date(2025, 7, 1)).allowed_fen == 12 * 150_000


def test_repeated_housing_withdrawals_are_a_risk_not_a_refusal():
    past = tuple(PastWithdrawal(date(2025, m, 1), Reason.RENT, 100) for m in (1, 2, 3, 4))
    facts = replace(FACTS, past=past)
    (risk,) = repeated_withdrawals(Claim(Reason.PURCHASE), facts, POLICY, TODAY)
    assert risk.code == "risk.repeated_withdrawals" and "4次" in risk.message_zh
    assert repeated_withdrawals(Claim(Reason.ILLNESS), facts, POLICY, TODAY) == []


def test_months_between():
    assert months_between(date(2025, 1, 31), date(2025, 2, 28)) == 0
    assert months_between(date(2025, 1, 15), date(2025, 2, 15)) == 1
    assert months_between(date(2024, 6, 16), date(2025, 6, 16)) == 12


@given(
    carried=st.integers(0, 10**9),
    current=st.integers(0, 10**9),
    cost=st.integers(1, 10**10),
    family=st.integers(0, 10**10),
    requested=st.none() | st.integers(-10, 10**10),
    reason=st.sampled_from([Reason.PURCHASE, Reason.BUILD, Reason.ILLNESS, Reason.LOAN_REPAYMENT]),
)
def test_never_more_than_the_balance_or_the_limit(carried, current, cost, family, requested, reason):
    facts = replace(FACTS, carried_fen=carried, current_fen=current)
    claim = Claim(reason, requested_fen=requested, document_date=date(2025, 5, 1), cost_fen=cost,
                  family_withdrawn_fen=family)  # fmt: skip
    decision = evaluate(claim, facts, POLICY, TODAY)
    assert 0 <= decision.allowed_fen <= min(carried + current, max(cost - family, 0))
    if decision.eligible:
        assert decision.allowed_fen > 0
        if requested is not None:
            assert decision.allowed_fen == requested


def test_overview_says_what_the_member_qualifies_for_and_why_not():
    from hpf.withdrawals.rules import overview

    facts = replace(
        FACTS, continuous_deposit_months=2, past=(PastWithdrawal(date(2025, 5, 1), Reason.RENT, 1),)
    )
    by_reason = {o.reason: o for o in overview(facts, POLICY, TODAY)}
    assert set(by_reason) == set(Reason)
    purchase = by_reason[Reason.PURCHASE]
    assert purchase.may_apply and purchase.up_to_fen == 6_200_000 and not purchase.closes_account
    rent = by_reason[Reason.RENT]
    assert not rent.may_apply and rent.up_to_fen == 0
    assert {c.code for c in rent.blocking} == {"withdrawal.rent_deposit_months", "withdrawal.rent_interval"}
    retirement = by_reason[Reason.RETIREMENT]  # 40 years old, no certificate
    assert not retirement.may_apply and retirement.closes_account
    death = by_reason[Reason.DEATH]  # heirs apply with a certificate: evidence, not a block
    assert death.may_apply and {c.code for c in death.needs} == {
        "withdrawal.not_heir",
        "withdrawal.death_certificate",
    }
    frozen = overview(replace(FACTS, state="06"), POLICY, TODAY)
    assert not any(o.may_apply for o in frozen)


# ------------------------------------------------------------- every condition as it was checked

FAILURE_WORDS = (
    "为零",
    "不能",
    "不足",
    "请提供",
    "请填写",
    "请说明",
    "须由",
    "超过可提取",
    "未达到",
    "已超过",
)


@pytest.mark.parametrize("reason", list(Reason))
def test_a_passed_condition_says_what_held_and_a_failed_one_why(reason):
    claims = [
        Claim(reason),
        Claim(reason, document_date=date(2025, 3, 1), cost_fen=100_000, rent_monthly_fen=150_000,
              installment_fen=200_000, labour_ended=True, applicant_is_heir=True, document_no="X1",
              monthly_repayment=reason is Reason.LOAN_REPAYMENT),
    ]  # fmt: skip
    for claim in claims:
        for facts in (FACTS, replace(FACTS, carried_fen=0, current_fen=0)):
            for check in evaluate(claim, facts, POLICY, TODAY).verdict.findings:
                if check.passed:
                    assert check.message_zh and not any(w in check.message_zh for w in FAILURE_WORDS), check
                else:
                    assert check.message_zh, check


def test_the_balance_condition_both_ways():
    empty = replace(FACTS, carried_fen=0, current_fen=0)
    [found] = [
        c
        for c in evaluate(Claim(Reason.RENT), empty, POLICY, TODAY).verdict.findings
        if c.code.endswith("no_balance")
    ]
    assert (found.passed, found.message_zh) == (False, "账户余额为零，无可提取金额")
    [found] = [
        c
        for c in evaluate(Claim(Reason.RENT), FACTS, POLICY, TODAY).verdict.findings
        if c.code.endswith("no_balance")
    ]
    assert (found.passed, found.message_zh) == (True, "账户有余额可提取")


def test_the_sheet_in_words_and_the_interest_of_a_closing_withdrawal():
    rent = evaluate(Claim(Reason.RENT, rent_monthly_fen=250_000), FACTS, POLICY, TODAY)
    lines = {s.label_zh: s.value for s in rent.sheet}
    assert lines["按月计算"] == "取 2,500.00元 与 600.00元 中较小者 × 12 个月 = 7,200.00元"
    assert lines["当年归集余额"] == "12,000.00元" and "本年缴存余额" not in lines
    assert all("min(" not in s.value for s in rent.sheet)
    closing = evaluate(
        Claim(Reason.RETIREMENT, document_date=date(2025, 6, 1)),
        replace(FACTS, interest_to_date_fen=12_345),
        POLICY,
        TODAY,
    )
    lines = {s.label_zh: s.value for s in closing.sheet}
    assert closing.allowed_fen == 6_212_345  # 50,000.00 + 12,000.00 + 123.45 of interest to date
    assert lines["结息至今日的利息"] == "123.45元"
    assert lines["销户提取金额（余额＋利息）"] == "62,000.00元 ＋ 123.45元 ＝ 62,123.45元"
