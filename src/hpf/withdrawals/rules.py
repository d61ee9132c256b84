"""Withdrawal (提取) rules: eligibility, the amount allowed and the calculation sheet, per reason.

Pure: no database, no clock. The reasons are the data standard's TQYY codes (REFERENCE §3.2).
Every condition and limit is policy as data (:class:`~hpf.policy.rules.WithdrawalPolicy`: the
shipped defaults overlaid by the center's changes with effective dates, decision 0022): the code
only says *which* parameter a reason uses.

``evaluate(claim, facts, policy, today)`` returns a :class:`Decision`: a
:class:`~hpf.kernel.findings.Verdict` with one finding per rule as it was checked (held or
failed, each with a stable code, a Chinese message a member reads, an English one), the amount
allowed, whether the account is closed (retirement, loss of working capacity, leaving the
city or emigrating, death — the 《条例》 art. 24 reasons that close the account, paying
interest to date), and the calculation sheet (how the allowed amount was reached). A claim
that asks for more than allowed is refused and the sheet says how much would be allowed.
Risks (``Finding.risk``) say what should stop straight-through approval without refusing by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.findings import Finding, Verdict
from hpf.kernel.identifiers import parse_resident_id
from hpf.kernel.money import format_yuan
from hpf.policy.rules import WITHDRAWAL, resolve_withdrawal_policy, shipped_entries
from hpf.policy.rules import WithdrawalPolicy as WithdrawalPolicy


class Reason(StrEnum):
    PURCHASE = "01"  # 购买住房
    BUILD = "02"  # 建造、翻建、大修自住住房
    RETIREMENT = "03"  # 离休、退休
    DISABILITY = "04"  # 完全丧失劳动能力并与单位终止劳动关系
    LEAVING = "05"  # 户口迁出所在市、县或出境定居
    LOAN_REPAYMENT = "06"  # 偿还购房贷款本息（一次性或按月）
    RENT = "07"  # 房租超出家庭工资收入的规定比例
    DEATH = "08"  # 死亡（继承人、受遗赠人提取）
    ILLNESS = "09"  # 大病医疗
    OTHER = "99"  # 其他

    @property
    def label_zh(self) -> str:
        return REASON_ZH[self]


REASON_ZH = {
    Reason.PURCHASE: "购买自住住房",
    Reason.BUILD: "建造、翻建、大修自住住房",
    Reason.RETIREMENT: "离休、退休",
    Reason.DISABILITY: "完全丧失劳动能力并终止劳动关系",
    Reason.LEAVING: "离开本市或出境定居",
    Reason.LOAN_REPAYMENT: "偿还购房贷款本息",
    Reason.RENT: "租房",
    Reason.DEATH: "职工死亡（继承人提取）",
    Reason.ILLNESS: "大病医疗",
    Reason.OTHER: "其他",
}
# 《条例》 art. 24: these close the account (销户) and pay the whole balance with interest to date.
CLOSING = frozenset({Reason.RETIREMENT, Reason.DISABILITY, Reason.LEAVING, Reason.DEATH})
# Withdrawals that spend on housing (counted for the per-year risk flag).
HOUSING = frozenset({Reason.PURCHASE, Reason.BUILD, Reason.RENT, Reason.LOAN_REPAYMENT})
# Account states (GRZHZT, REFERENCE §1.5) from which money may be withdrawn: normal, sealed.
WITHDRAWABLE_STATES = frozenset({"01", "02"})
MAX_MONTHS_PER_CLAIM = 12  # rent and monthly repayment cover at most a year at a time


# ---------------------------------------------------------------------------------- policy
# The parameters are the center's policy (``hpf.policy``: shipped defaults overlaid by the
# center's changes with effective dates; decision 0022). A decision reads them through
# ``hpf.policy.queries.withdrawal_policy_at``; these pure helpers resolve the shipped defaults.

KEYS = tuple(WithdrawalPolicy.__dataclass_fields__)


def default_entries() -> dict[str, list[tuple[date, Any]]]:
    """The shipped defaults as ``{name: [(effective_from, raw value), ...]}``."""
    return shipped_entries(WITHDRAWAL)


def resolve_policy(entries: Mapping[str, Sequence[tuple[date, Any]]], on: date) -> WithdrawalPolicy:
    """The policy in force on ``on``: per key the latest entry with ``effective_from ≤ on``."""
    try:
        return resolve_withdrawal_policy(entries, on)
    except InvalidInput as exc:  # this module's codes, as before the policy store held them
        code = (
            "withdrawal_policy.no_value"
            if exc.code == "policy.no_value"
            else "withdrawal_policy.invalid_value"
        )
        raise InvalidInput(code, exc.title, exc.detail, **exc.extra) from None


def policy_on(on: date) -> WithdrawalPolicy:
    """The shipped defaults in force on ``on`` (a center's policy: ``withdrawal_policy_at``)."""
    return resolve_policy(default_entries(), on)


# ---------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class PastWithdrawal:
    day: date
    reason: Reason
    amount_fen: int


@dataclass(frozen=True)
class MemberFacts:
    """What the center knows about the member when deciding (read by the service)."""

    state: str  # GRZHZT
    gender: str  # "1" male, "2" female (GB/T 2261.1)
    birth_date: date
    carried_fen: int
    current_fen: int
    # Months deposited without a gap, ending at the month before today (or today's): decision 0019.
    continuous_deposit_months: int
    sealed_since: date | None = None
    owns_home: bool = False  # the real-estate registry knows a home of the member (or spouse)
    active_loan: bool = False  # an HPF loan not yet settled
    interest_to_date_fen: int = 0  # closing reasons: interest accrued since the last settlement
    past: tuple[PastWithdrawal, ...] = ()

    @property
    def balance_fen(self) -> int:
        return self.carried_fen + self.current_fen


@dataclass(frozen=True)
class Claim:
    """What the member asks for, with the facts of the evidence (the materials prove them).

    ``document_date``: the contract/registration date (purchase), permit or works contract
    (build), retirement, disability or death certificate. ``cost_fen``: the price the family
    paid (purchase), the cost (build), the self-paid medical cost (illness), the principal to
    repay (one-off loan repayment). ``family_withdrawn_fen``: what the family already withdrew
    for the same home (the service sums it).
    """

    reason: Reason
    requested_fen: int | None = None  # None: as much as allowed
    document_date: date | None = None
    document_no: str | None = None  # contract, permit or certificate number
    cost_fen: int | None = None
    family_withdrawn_fen: int = 0
    rent_monthly_fen: int | None = None
    installment_fen: int | None = None  # monthly repayment of the loan
    monthly_repayment: bool = False  # 06: True = by installment, False = one-off
    labour_ended: bool = False
    emigrated: bool = False
    applicant_is_heir: bool = False


# ---------------------------------------------------------------------------------- output


@dataclass(frozen=True)
class SheetLine:
    label_zh: str
    value: str


@dataclass(frozen=True)
class Decision:
    reason: Reason
    verdict: Verdict  # every rule as it was checked, in order
    allowed_fen: int
    closes_account: bool
    sheet: tuple[SheetLine, ...]
    manual_review: bool = False  # "other": always reviewed by staff

    @property
    def eligible(self) -> bool:
        return self.verdict.passed

    @property
    def refusals(self) -> tuple[Finding, ...]:
        return self.verdict.refusals


@dataclass
class _Work:
    checks: list[Finding] = field(default_factory=list)
    sheet: list[SheetLine] = field(default_factory=list)

    def check(self, code: str, passed: bool, title_zh: str, detail: str = "", *, ok_zh: str) -> bool:
        """Record a condition as it was checked: ``ok_zh`` says what held when it passed,
        ``title_zh`` why it failed (a list says 符合/不符合 beside the matching wording)."""
        self.checks.append(Finding.rule(f"withdrawal.{code}", passed, ok_zh if passed else title_zh, detail))
        return passed

    def line(self, label_zh: str, value: str) -> None:
        self.sheet.append(SheetLine(label_zh, value))


def _yuan(fen: int) -> str:
    return f"{format_yuan(fen)}元"


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (a month counts once its day is reached)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _last(facts: MemberFacts, reason: Reason) -> date | None:
    days = [p.day for p in facts.past if p.reason is reason]
    return max(days) if days else None


# ---------------------------------------------------------------------------------- rules


def _document_within(work: _Work, claim: Claim, today: date, window_months: int, what: str) -> None:
    day = claim.document_date
    if not work.check(
        "document_date_missing",
        day is not None,
        f"请提供{what}日期",
        f"{what}: no date given",
        ok_zh=f"已提供{what}日期",
    ):
        return
    assert day is not None
    if not work.check(
        "document_in_future",
        day <= today,
        f"{what}日期不能晚于今天",
        f"{day} is after {today}",
        ok_zh=f"{what}日期（{day.isoformat()}）不晚于今天",
    ):
        return
    months = months_between(day, today)
    work.check(
        "document_too_old",
        months < window_months,
        f"{what}已超过{window_months}个月，不能再申请此项提取",
        f"{day} is {months} months ago; the window is {window_months} months",
        ok_zh=f"{what}在{window_months}个月以内",
    )


def _cost_limit(work: _Work, claim: Claim, what: str) -> int:
    if not work.check(
        "cost_missing",
        claim.cost_fen is not None and claim.cost_fen > 0,
        f"请填写{what}",
        "no cost",
        ok_zh=f"已填写{what}",
    ):
        return 0
    assert claim.cost_fen is not None
    work.line(what, _yuan(claim.cost_fen))
    if claim.family_withdrawn_fen:
        work.line("家庭成员已为此提取", _yuan(claim.family_withdrawn_fen))
    limit = max(0, claim.cost_fen - claim.family_withdrawn_fen)
    work.check(
        "cost_used_up",
        limit > 0,
        f"{what}已由家庭成员提取完毕",
        f"cost {claim.cost_fen} fen, already withdrawn {claim.family_withdrawn_fen} fen",
        ok_zh=f"{what}尚有可提取的部分",
    )
    return limit


def _rent_limit(work: _Work, claim: Claim, facts: MemberFacts, policy: WithdrawalPolicy, today: date) -> int:
    work.check(
        "rent_deposit_months",
        facts.continuous_deposit_months >= policy.rent_min_deposit_months,
        f"须连续足额缴存满{policy.rent_min_deposit_months}个月",
        f"{facts.continuous_deposit_months} months of continuous deposit",
        ok_zh=f"已连续足额缴存{facts.continuous_deposit_months}个月（须满{policy.rent_min_deposit_months}个月）",
    )
    work.check(
        "rent_owns_home",
        not facts.owns_home,
        "本人或配偶在本市有自有住房，不能租房提取",
        "a home is registered",
        ok_zh="本人及配偶在本市无自有住房登记",
    )
    work.check(
        "rent_active_loan",
        not facts.active_loan,
        "有未结清的住房公积金贷款，不能租房提取",
        "an HPF loan is open",
        ok_zh="无未结清的住房公积金贷款",
    )
    rent = claim.rent_monthly_fen
    if not work.check(
        "rent_missing", rent is not None and rent > 0, "请填写月租金", "no monthly rent", ok_zh="已填写月租金"
    ):
        return 0
    assert rent is not None
    last = _last(facts, Reason.RENT)
    months = MAX_MONTHS_PER_CLAIM if last is None else min(MAX_MONTHS_PER_CLAIM, months_between(last, today))
    if not work.check(
        "rent_interval",
        months >= policy.rent_interval_months,
        f"距上次租房提取不足{policy.rent_interval_months}个月",
        f"last rent withdrawal {last}, {months} months ago",
        ok_zh="首次租房提取" if last is None else f"距上次租房提取已满{policy.rent_interval_months}个月",
    ):
        return 0
    monthly = min(rent, policy.rent_monthly_cap_fen)
    work.line("月租金", _yuan(rent))
    work.line("每月提取限额", _yuan(policy.rent_monthly_cap_fen))
    work.line(
        "本次可提取月数",
        f"{months}个月" + ("（首次提取，最多12个月）" if last is None else f"（上次提取：{last}）"),
    )
    work.line(
        "按月计算",
        f"取 {_yuan(rent)} 与 {_yuan(policy.rent_monthly_cap_fen)} 中较小者 × {months} 个月 = {_yuan(monthly * months)}",
    )
    return monthly * months


def _repayment_limit(
    work: _Work, claim: Claim, facts: MemberFacts, policy: WithdrawalPolicy, today: date
) -> int:
    if not claim.monthly_repayment:
        return _cost_limit(work, claim, "一次性偿还的贷款本金")
    installment = claim.installment_fen
    if not work.check(
        "installment_missing",
        installment is not None and installment > 0,
        "请填写月还款额",
        "no installment",
        ok_zh="已填写月还款额",
    ):
        return 0
    assert installment is not None
    last = _last(facts, Reason.LOAN_REPAYMENT)
    months = MAX_MONTHS_PER_CLAIM if last is None else min(MAX_MONTHS_PER_CLAIM, months_between(last, today))
    if not work.check(
        "repay_interval",
        months >= max(1, policy.repay_interval_months),
        f"距上次还贷提取不足{max(1, policy.repay_interval_months)}个月",
        f"last repayment withdrawal {last}",
        ok_zh="首次还贷提取"
        if last is None
        else f"距上次还贷提取已满{max(1, policy.repay_interval_months)}个月",
    ):
        return 0
    work.line("月还款额", _yuan(installment))
    work.line("本次可提取月数", f"{months}个月")
    work.line("按月计算", f"{_yuan(installment)} × {months} = {_yuan(installment * months)}")
    return installment * months


def _closing_checks(
    work: _Work, claim: Claim, facts: MemberFacts, policy: WithdrawalPolicy, today: date
) -> None:
    reason = claim.reason
    if reason is Reason.RETIREMENT:
        retire_age = policy.retirement_age_male if facts.gender == "1" else policy.retirement_age_female
        age = age_on(facts.birth_date, today)
        certified = claim.document_date is not None and claim.document_date <= today
        work.check(
            "not_retired",
            certified or age >= retire_age,
            f"未达到退休年龄（{retire_age}周岁）且未提供退休证明",
            f"age {age}, retirement age {retire_age}, certificate {claim.document_date}",
            ok_zh="已提供退休证明" if certified else f"已达到退休年龄（{retire_age}周岁）",
        )
    elif reason is Reason.DISABILITY:
        work.check(
            "disability_certificate",
            claim.document_date is not None and claim.document_date <= today,
            "请提供劳动能力鉴定结论",
            "no certificate date",
            ok_zh="已提供劳动能力鉴定结论",
        )
        work.check(
            "labour_not_ended",
            claim.labour_ended,
            "须已与单位终止劳动关系",
            "labour relation not ended",
            ok_zh="已与单位终止劳动关系",
        )
    elif reason is Reason.LEAVING:
        sealed_months = months_between(facts.sealed_since, today) if facts.sealed_since else 0
        leaving = claim.labour_ended and sealed_months >= policy.leave_sealed_months
        work.check(
            "not_left",
            claim.emigrated or leaving,
            f"须出境定居，或已终止劳动关系且账户封存满{policy.leave_sealed_months}个月",
            f"emigrated={claim.emigrated}, labour ended={claim.labour_ended}, sealed {sealed_months} months",
            ok_zh="已出境定居"
            if claim.emigrated
            else f"已终止劳动关系且账户封存{sealed_months}个月（须满{policy.leave_sealed_months}个月）",
        )
    elif reason is Reason.DEATH:
        work.check(
            "not_heir",
            claim.applicant_is_heir,
            "须由继承人或受遗赠人申请",
            "the applicant is not an heir",
            ok_zh="由继承人或受遗赠人申请",
        )
        work.check(
            "death_certificate",
            claim.document_date is not None and claim.document_date <= today,
            "请提供死亡证明",
            "no death certificate date",
            ok_zh="已提供死亡证明",
        )


def evaluate(claim: Claim, facts: MemberFacts, policy: WithdrawalPolicy, today: date) -> Decision:
    """The decision on ``claim``: every rule's result, the amount allowed and the sheet."""
    work = _Work()
    reason = claim.reason
    work.check(
        "account_state",
        facts.state in WITHDRAWABLE_STATES,
        "账户状态不允许提取（已冻结或已销户）",
        f"account state {facts.state}",
        ok_zh="账户状态允许提取",
    )
    balance = facts.balance_fen
    work.line("上年结转余额", _yuan(facts.carried_fen))
    work.line("当年归集余额", _yuan(facts.current_fen))
    work.line("账户余额", _yuan(balance))
    work.check(
        "no_balance", balance > 0, "账户余额为零，无可提取金额", "balance is 0", ok_zh="账户有余额可提取"
    )
    if claim.requested_fen is not None and claim.requested_fen <= 0:
        work.check(
            "amount_not_positive", False, "提取金额须大于零", f"requested {claim.requested_fen} fen", ok_zh=""
        )

    if reason in CLOSING:
        _closing_checks(work, claim, facts, policy, today)
        allowed = balance + facts.interest_to_date_fen
        work.line("结息至今日的利息", _yuan(facts.interest_to_date_fen))
        work.line(
            "销户提取金额（余额＋利息）",
            f"{_yuan(balance)} ＋ {_yuan(facts.interest_to_date_fen)} ＝ {_yuan(allowed)}",
        )
        if claim.requested_fen is not None and claim.requested_fen != allowed:
            work.line("说明", "销户类提取须提取全部余额及利息")
        return Decision(reason, Verdict(tuple(work.checks)), allowed if all(c.passed for c in work.checks) else 0, True,
                        tuple(work.sheet))  # fmt: skip

    limit: int | None
    manual = False
    if reason is Reason.PURCHASE:
        _document_within(work, claim, today, policy.purchase_window_months, "购房合同或不动产登记")
        limit = _cost_limit(work, claim, "家庭支付的购房款")
    elif reason is Reason.BUILD:
        _document_within(work, claim, today, policy.build_window_months, "规划许可或施工合同")
        limit = _cost_limit(work, claim, "建造、翻建、大修费用")
    elif reason is Reason.RENT:
        limit = _rent_limit(work, claim, facts, policy, today)
    elif reason is Reason.LOAN_REPAYMENT:
        limit = _repayment_limit(work, claim, facts, policy, today)
    elif reason is Reason.ILLNESS:
        limit = _cost_limit(work, claim, "个人负担的医疗费用")
    else:  # OTHER: no automatic limit; staff decide
        manual = True
        limit = None
        work.check(
            "other_needs_reason",
            bool(claim.document_no),
            "请说明提取事由并提供证明材料编号",
            "no document",
            ok_zh="已说明提取事由并提供证明材料编号",
        )

    cap = balance if limit is None else min(balance, limit)
    work.line("可提取额度", f"取账户余额与本项限额中较小者 = {_yuan(max(cap, 0))}")
    requested = claim.requested_fen
    if requested is not None and requested > 0:
        work.check(
            "over_limit",
            requested <= cap,
            f"申请金额超过可提取额度{_yuan(max(cap, 0))}",
            f"requested {requested} fen > allowed {cap} fen",
            ok_zh=f"申请金额未超过可提取额度{_yuan(max(cap, 0))}",
        )
    allowed = min(cap, requested) if requested is not None and requested > 0 else cap
    ok = all(c.passed for c in work.checks)
    if ok:
        work.line("本次提取金额", _yuan(allowed))
    return Decision(
        reason, Verdict(tuple(work.checks)), allowed if ok else 0, False, tuple(work.sheet), manual
    )


# ---------------------------------------------------------------------------------- risk


def repeated_withdrawals(
    claim: Claim, facts: MemberFacts, policy: WithdrawalPolicy, today: date
) -> list[Finding]:
    """A flag when housing withdrawals this natural year reach the policy's count."""
    if claim.reason not in HOUSING:
        return []
    this_year = [p for p in facts.past if p.reason in HOUSING and p.day.year == today.year]
    if len(this_year) + 1 <= policy.housing_withdrawals_per_year:
        return []
    return [
        Finding.risk(
            "risk.repeated_withdrawals",
            f"本年度住房消费类提取已{len(this_year)}次，超过{policy.housing_withdrawals_per_year}次",
            f"{len(this_year)} housing withdrawals in {today.year}",
        )
    ]


# ---------------------------------------------------------------------------------- overview

# Refusals a member can cure by bringing evidence (the application form asks for it).
_EVIDENCE = frozenset(
    {
        "withdrawal.document_date_missing",
        "withdrawal.cost_missing",
        "withdrawal.rent_missing",
        "withdrawal.installment_missing",
        "withdrawal.disability_certificate",
        "withdrawal.labour_not_ended",
        "withdrawal.not_heir",
        "withdrawal.death_certificate",
        "withdrawal.other_needs_reason",
    }
)


@dataclass(frozen=True)
class ReasonOverview:
    """Whether a member may apply for a reason now, what blocks it, and at most how much."""

    reason: Reason
    may_apply: bool
    blocking: tuple[Finding, ...]  # what no material can cure (frozen account, too soon, ...)
    needs: tuple[Finding, ...]  # what the application must prove
    up_to_fen: int  # indicative: the most this reason could pay today
    closes_account: bool
    interest_fen: int = 0  # closing reasons: the interest to date included in ``up_to_fen`` (结息)


def _probe(reason: Reason, facts: MemberFacts, policy: WithdrawalPolicy, today: date) -> Claim:
    """The most favourable claim a member could make for ``reason`` today (for the overview)."""
    balance = facts.balance_fen
    if reason is Reason.RENT:
        return Claim(reason, rent_monthly_fen=policy.rent_monthly_cap_fen)
    if reason is Reason.LOAN_REPAYMENT:
        return Claim(reason, cost_fen=max(balance, 1))
    if reason in (Reason.PURCHASE, Reason.BUILD, Reason.ILLNESS):
        return Claim(reason, document_date=today, cost_fen=max(balance, 1))
    return Claim(reason)


def overview(facts: MemberFacts, policy: WithdrawalPolicy, today: date) -> list[ReasonOverview]:
    """Every reason with what the member qualifies for and why not (the self-service page)."""
    out = []
    for reason in Reason:
        decision = evaluate(_probe(reason, facts, policy, today), facts, policy, today)
        blocking = tuple(c for c in decision.refusals if c.code not in _EVIDENCE)
        needs = tuple(c for c in decision.refusals if c.code in _EVIDENCE)
        if reason in CLOSING:
            up_to = facts.balance_fen + facts.interest_to_date_fen
        elif decision.eligible:
            up_to = decision.allowed_fen
        else:
            up_to = facts.balance_fen if reason is not Reason.RENT else 0
        interest = facts.interest_to_date_fen if reason in CLOSING else 0
        out.append(ReasonOverview(reason, not blocking, blocking, needs, 0 if blocking else up_to,
                                  reason in CLOSING, interest))  # fmt: skip
    return out


# ----------------------------------------------------------------------------- family members

MAX_FAMILY = 10
"""Family members named on one claim (spouse, children, parents): the form offers ten lines."""


def family_resident_ids(values: object, label_zh: str = "家庭成员身份证号") -> tuple[str, ...]:
    """The family members' resident ID numbers, each checked like the member's own (GB 11643:
    length, region, birth date, check character), upper-cased.

    They decide whose homes, loans and earlier withdrawals the claim is weighed against, so a
    mistyped number would silently check somebody else, or nobody. A refusal names the number's
    position and the kernel's reason, with the stable code ``withdrawal.payload.family_resident_ids``.
    """

    def refuse(title: str, detail: str, **extra: Any) -> InvalidInput:
        return InvalidInput(
            "withdrawal.payload.family_resident_ids", title, detail, field="family_resident_ids", **extra
        )

    if not isinstance(values, (list, tuple)) or len(values) > MAX_FAMILY:
        raise refuse(
            f"“{label_zh}”须为18位身份证号码，每行一个，最多{MAX_FAMILY}人",
            f"family members must be a list of at most {MAX_FAMILY} resident ID numbers",
        )
    out = []
    for n, value in enumerate(values, start=1):
        if not isinstance(value, str):
            raise refuse(
                f"{label_zh}（第{n}个）应为18位身份证号码", f"family member {n} is not text", position=n
            )
        try:
            out.append(parse_resident_id(value, field="family_resident_ids").number)
        except HpfError as exc:
            raise refuse(
                f"{label_zh}（第{n}个）：{exc.title}",
                f"family member {n}: {exc.detail}",
                position=n,
                cause=exc.code,
            ) from None
    return tuple(out)
