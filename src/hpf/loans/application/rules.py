"""Loan policy as data, eligibility, and the largest loan a household may take.

Pure: no database, no clock; standard library and ``hpf.kernel`` (and the other pure rules of
``hpf.policy`` and ``hpf.loans``) only.

- **Policy.** :class:`~hpf.policy.rules.LoanPolicy` — the longest term, age + term, loan-to-value
  for a first and a second home, balance multiple, repayment-capacity ratio, absolute cap,
  continuous-deposit months, number of loans, penalty multiplier and day basis, classification
  thresholds, dunning stages — is the center's policy (``hpf.policy``: the shipped defaults of
  ``hpf/policy/loan_policy.json`` overlaid by the center's changes with effective dates, decision
  0022). Most are set by each city (LOCAL); the file says which are UNVERIFIED.
  :func:`resolve_loan_policy` gives the policy in force on a day from entries.
- **Eligibility** is a registry of pure rules (:data:`ELIGIBILITY_RULES`), each returning
  :class:`~hpf.kernel.findings.Finding` refusals with a stable code, Chinese and English messages.
- **Amount** (REFERENCE §4.2): :func:`max_loan_amount` is the minimum of every limit — loan-to-value,
  absolute cap, balance multiple, repayment capacity, and age/term (the term is shortened so that
  age + term stays within the policy, and the capacity at that term becomes a limit) — and says
  which limit bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from hpf.kernel.errors import InvalidInput
from hpf.kernel.findings import Finding
from hpf.kernel.money import require_fen
from hpf.loans.calculator.schedule import Method, level_installment, monthly_interest
from hpf.policy.rules import LOAN, shipped_entries
from hpf.policy.rules import LoanPolicy as LoanPolicy
from hpf.policy.rules import resolve_loan_policy as _resolve

# ----------------------------------------------------------------------------------- policy
# The parameters are the center's policy (``hpf.policy``: shipped defaults overlaid by the
# center's changes with effective dates; decision 0022). The book, the jobs and an application
# read them through ``hpf.policy.queries.loan_policy_at``; these pure helpers resolve the
# shipped defaults.


def resolve_loan_policy(entries: Mapping[str, Sequence[tuple[date, Any]]], on: date) -> LoanPolicy:
    """The :class:`LoanPolicy` in force on ``on``: per key the latest entry ``≤ on`` (later listed wins)."""
    try:
        return _resolve(entries, on)
    except InvalidInput as exc:  # this module's codes, as before the policy store held them
        code = "loan.policy_missing" if exc.code == "policy.no_value" else "loan.invalid_policy"
        raise InvalidInput(code, exc.title, exc.detail, **exc.extra) from None


def loan_policy_defaults() -> dict[str, list[tuple[date, Any]]]:
    """The shipped defaults as ``{key: [(effective_from, raw value), ...]}``."""
    return shipped_entries(LOAN)


def loan_policy(on: date) -> LoanPolicy:
    """The shipped default policy in force on ``on`` (a center's policy: ``loan_policy_at``)."""
    return resolve_loan_policy(loan_policy_defaults(), on)


# ------------------------------------------------------------------------------ application


@dataclass(frozen=True)
class LoanRequest:
    """What the limits and eligibility rules look at (borrower and co-borrowers together).

    ``appraisal_fen``: the appraised value, None if none; the lower of price and appraisal
    counts. ``monthly_base_fen``: Σ monthly contribution bases (缴存基数). ``loans_used``: HPF
    loans the household already took (settled or not).
    """

    house_price_fen: int
    appraisal_fen: int | None
    second_home: bool
    term_months: int
    annual_rate: Decimal
    method: Method
    age_years: int
    balance_fen: int
    monthly_base_fen: int
    continuous_deposit_months: int
    loans_used: int = 0
    has_outstanding_loan: bool = False

    @property
    def value_fen(self) -> int:
        """The home's value for the loan-to-value limit: the lower of price and appraisal."""
        return (
            self.house_price_fen
            if self.appraisal_fen is None
            else min(self.house_price_fen, self.appraisal_fen)
        )

    def __post_init__(self) -> None:
        for name in ("house_price_fen", "balance_fen", "monthly_base_fen"):
            if require_fen(getattr(self, name), name) < 0:
                raise InvalidInput(
                    "loan.invalid_request", "金额不能为负数", f"{name} must be ≥ 0", field=name
                )
        if self.appraisal_fen is not None and require_fen(self.appraisal_fen, "appraisal_fen") < 0:
            raise InvalidInput(
                "loan.invalid_request", "金额不能为负数", "appraisal_fen must be ≥ 0", field="appraisal_fen"
            )
        for name in ("term_months", "age_years", "continuous_deposit_months", "loans_used"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < (1 if name == "term_months" else 0)
            ):
                raise InvalidInput(
                    "loan.invalid_request", "期限、年龄、月数须为非负整数", f"{name}: {value!r}", field=name
                )


Rule = Callable[[LoanRequest, LoanPolicy], list[Finding]]


def deposit_long_enough(request: LoanRequest, policy: LoanPolicy) -> list[Finding]:
    months = policy.min_continuous_deposit_months
    if request.continuous_deposit_months >= months:
        return []
    return [
        Finding(
            "loan.deposit_too_short",
            f"申请前须连续足额缴存住房公积金满{months}个月",
            f"{request.continuous_deposit_months} months of continuous deposit, {months} needed",
            subject="continuous_deposit_months",
        )
    ]


def loans_within_count(request: LoanRequest, policy: LoanPolicy) -> list[Finding]:
    if request.loans_used < policy.max_loans:
        return []
    return [
        Finding(
            "loan.too_many_loans",
            f"每户家庭最多可使用{policy.max_loans}次住房公积金贷款",
            f"the household used {request.loans_used} HPF loans; at most {policy.max_loans} are allowed",
            subject="loans_used",
        )
    ]


def no_outstanding_loan(request: LoanRequest, policy: LoanPolicy) -> list[Finding]:
    if not request.has_outstanding_loan:
        return []
    return [
        Finding(
            "loan.outstanding_loan",
            "尚有未结清的住房公积金贷款",
            "an HPF loan of the household is not yet repaid",
            subject="has_outstanding_loan",
        )
    ]


def term_within_limit(request: LoanRequest, policy: LoanPolicy) -> list[Finding]:
    if request.term_months <= policy.max_term_months:
        return []
    return [
        Finding(
            "loan.term_too_long",
            f"贷款期限最长{policy.max_term_months // 12}年",
            f"a term of {request.term_months} months exceeds {policy.max_term_months}",
            subject="term_months",
        )
    ]


def age_leaves_a_term(request: LoanRequest, policy: LoanPolicy) -> list[Finding]:
    if request.age_years < policy.max_age_plus_term_years:
        return []
    return [
        Finding(
            "loan.age_limit",
            f"借款人年龄与贷款期限之和不得超过{policy.max_age_plus_term_years}年",
            f"at {request.age_years} no term fits age + term ≤ {policy.max_age_plus_term_years}",
            subject="age_years",
        )
    ]


#: Eligibility rules, in the order their refusals are reported.
ELIGIBILITY_RULES: tuple[Rule, ...] = (
    deposit_long_enough,
    loans_within_count,
    no_outstanding_loan,
    term_within_limit,
    age_leaves_a_term,
)


def eligibility(request: LoanRequest, policy: LoanPolicy) -> list[Finding]:
    """Every refusal of every eligibility rule (empty: eligible)."""
    return [finding for rule in ELIGIBILITY_RULES for finding in rule(request, policy)]


# ----------------------------------------------------------------------------------- amount


class LimitKind(StrEnum):
    """The limits of a loan amount, in the order a tie is reported."""

    LTV = "ltv"
    CAP = "cap"
    BALANCE_MULTIPLE = "balance_multiple"
    REPAYMENT_CAPACITY = "repayment_capacity"
    AGE_TERM = "age_term"

    @property
    def name_zh(self) -> str:
        return {
            "ltv": "最高贷款比例",
            "cap": "最高贷款额度",
            "balance_multiple": "账户余额倍数",
            "repayment_capacity": "还款能力",
            "age_term": "年龄与期限",
        }[self.value]


@dataclass(frozen=True)
class LoanLimit:
    """The answer of :func:`max_loan_amount`.

    ``amount_fen``: the largest loan, the minimum of ``limits``; 0 when a rule refuses.
    ``bound``: the limit that gives the minimum. ``term_months``: the term the limits hold for
    (the request's, shortened to fit age + term). ``refusals``: every eligibility refusal.
    """

    amount_fen: int
    bound: LimitKind
    limits: Mapping[LimitKind, int]
    term_months: int
    refusals: tuple[Finding, ...]

    @property
    def eligible(self) -> bool:
        return not self.refusals


def _floor_fen(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def first_installment(principal_fen: int, annual_rate: Decimal, months: int, method: Method) -> int:
    """The first month's installment of a loan (the repayment-capacity test uses it)."""
    if method is Method.EQUAL_INSTALLMENT:
        return level_installment(principal_fen, annual_rate, months)
    return (2 * principal_fen + months) // (2 * months) + monthly_interest(principal_fen, annual_rate)


def capacity_amount(max_installment_fen: int, annual_rate: Decimal, months: int, method: Method) -> int:
    """The largest principal whose first installment is at most ``max_installment_fen``."""
    low, high = 0, months * (max_installment_fen + 1)  # first_installment(high) > the maximum
    while high - low > 1:
        middle = (low + high) // 2
        if first_installment(middle, annual_rate, months, method) <= max_installment_fen:
            low = middle
        else:
            high = middle
    return low


def max_loan_amount(request: LoanRequest, policy: LoanPolicy) -> LoanLimit:
    """The largest loan the request allows under the policy, which limit bound, and refusals.

    Limits (REFERENCE §4.2): price or appraisal (the lower) × loan-to-value; the absolute cap;
    balance × multiple; repayment capacity — first installment ≤ Σ bases × ratio — at the
    requested term (at most the policy's longest); and, when age + term exceeds the policy, the
    capacity at the longest term that fits (``AGE_TERM``). Each is rounded down to the fen.
    """
    value = request.value_fen
    ltv = policy.ltv_second_home if request.second_home else policy.ltv_first_home
    max_installment = _floor_fen(request.monthly_base_fen * policy.repayment_capacity_ratio)
    term = min(request.term_months, policy.max_term_months)
    limits = {
        LimitKind.LTV: _floor_fen(value * ltv),
        LimitKind.CAP: policy.max_amount_fen,
        LimitKind.BALANCE_MULTIPLE: _floor_fen(request.balance_fen * policy.balance_multiple),
        LimitKind.REPAYMENT_CAPACITY: capacity_amount(
            max_installment, request.annual_rate, term, request.method
        ),
    }
    age_term = 12 * (policy.max_age_plus_term_years - request.age_years)
    if age_term < term:
        term = max(age_term, 0)
        limits[LimitKind.AGE_TERM] = (
            capacity_amount(max_installment, request.annual_rate, term, request.method) if term else 0
        )
    bound = min(limits, key=lambda kind: limits[kind])  # the first of equal minima
    refusals = tuple(eligibility(request, policy))
    return LoanLimit(
        amount_fen=0 if refusals else limits[bound],
        bound=bound,
        limits=limits,
        term_months=term,
        refusals=refusals,
    )
