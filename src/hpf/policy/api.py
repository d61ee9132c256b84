"""HTTP API for policy parameters (``/api/v1/policy``): read what is in force, schedule changes.

Rates and ratios are decimal strings (``"0.12"`` = 12%), amounts integer fen, dates ISO. The
contribution parameters at ``/api/v1/policy``, the withdrawal parameters at
``/api/v1/policy/withdrawal``, the loan parameters at ``/api/v1/policy/loan``; a change of any of
them is asked for at ``POST /api/v1/policy/changes`` and waits for another administrator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hpf.access.permissions import Perm, Scope
from hpf.approvals import service as approvals
from hpf.approvals.public import ApprovalPublic
from hpf.policy import service
from hpf.policy.rules import LoanPolicy, Policy, WithdrawalPolicy
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Code, Text
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1/policy", tags=["policy"], route_class=HpfRoute)

READ = [Depends(requires(Perm.POLICY_READ, scope=Scope.OPEN))]  # policy is public knowledge

Money = int  # fen


class ContributionYear(BaseModel):
    start: date
    end: date


class PolicyPublic(BaseModel):
    on: date = Field(description="the day the values are in force")
    base_floor_fen: Money = Field(description="缴存基数下限, fen")
    base_cap_fen: Money = Field(description="缴存基数上限, fen")
    monthly_amount_min_fen: Money | None = Field(description="月缴存额下限, fen; null = not used")
    monthly_amount_max_fen: Money | None = Field(description="月缴存额上限, fen; null = not used")
    employer_rate_min: str = Field(description='单位缴存比例下限, decimal string, e.g. "0.05"')
    employer_rate_max: str
    member_rate_min: str
    member_rate_max: str
    rounding_unit: str = Field(description='"fen" or "yuan": unit each monthly part is rounded to (half up)')
    day_basis: int = Field(description="days of the interest year for 积数 interest: 360 or 365")
    contribution_year_start: str = Field(description='"MM-DD", e.g. "07-01"')
    contribution_year: ContributionYear = Field(description="the contribution year holding `on`")

    @classmethod
    def of(cls, p: Policy) -> PolicyPublic:
        start, end = p.contribution_year(p.on)
        month, day = p.contribution_year_start
        return cls(
            on=p.on,
            base_floor_fen=p.base_floor_fen,
            base_cap_fen=p.base_cap_fen,
            monthly_amount_min_fen=p.monthly_amount_min_fen,
            monthly_amount_max_fen=p.monthly_amount_max_fen,
            employer_rate_min=str(p.employer_rate_min),
            employer_rate_max=str(p.employer_rate_max),
            member_rate_min=str(p.member_rate_min),
            member_rate_max=str(p.member_rate_max),
            rounding_unit=p.rounding_unit.value,
            day_basis=p.day_basis,
            contribution_year_start=f"{month:02d}-{day:02d}",
            contribution_year=ContributionYear(start=start, end=end),
        )


class DepositRatePublic(BaseModel):
    effective_from: date
    current_rate: str = Field(description="当年归集 rate, annual, decimal string")
    carried_rate: str = Field(description="上年结转 rate, annual, decimal string")
    source: str = Field(description='"default" (national, shipped) or "center"')


class WithdrawalPolicyPublic(BaseModel):
    """The withdrawal parameters (keys ``withdrawal.<field>`` in a change)."""

    on: date = Field(description="the day the values are in force")
    purchase_window_months: int = Field(
        description="购房提取申请期限: months after the contract/registration"
    )
    build_window_months: int = Field(description="建造、翻建、大修提取申请期限, months")
    rent_min_deposit_months: int = Field(description="租房提取连续缴存月数下限")
    rent_monthly_cap_fen: Money = Field(description="租房提取每月限额 per member, fen")
    rent_interval_months: int = Field(description="两次租房提取最短间隔, months")
    repay_interval_months: int = Field(description="两次按月还贷提取最短间隔, months")
    leave_sealed_months: int = Field(description="离开本市提取: months the account has been sealed")
    retirement_age_male: int = Field(description="退休提取年龄（男） without a certificate")
    retirement_age_female: int = Field(description="退休提取年龄（女） without a certificate")
    housing_withdrawals_per_year: int = Field(description="housing withdrawals a year before a risk flag")

    @classmethod
    def of(cls, on: date, p: WithdrawalPolicy) -> WithdrawalPolicyPublic:
        return cls(on=on, **dataclasses.asdict(p))


class ClassificationThresholdsPublic(BaseModel):
    special_mention: int = Field(description="first day past due of 关注")
    substandard: int = Field(description="first day past due of 次级")
    doubtful: int = Field(description="first day past due of 可疑")
    loss: int = Field(description="first day past due of 损失")


class LoanPolicyPublic(BaseModel):
    """The loan parameters (keys ``loan.<field>`` in a change)."""

    on: date = Field(description="the day the values are in force")
    max_term_months: int = Field(description="贷款期限上限, months")
    max_age_plus_term_years: int = Field(description="借款人年龄与贷款期限之和上限, years")
    max_amount_fen: Money = Field(description="个人住房贷款最高额度, fen")
    min_continuous_deposit_months: int = Field(description="申请贷款连续缴存月数下限")
    max_loans: int = Field(description="每户家庭贷款次数上限")
    penalty_day_basis: int = Field(description="罚息计息天数基准: 360 or 365")
    ltv_first_home: str = Field(description='首套住房最高贷款比例, decimal string ("0.8": 20% down at least)')
    ltv_second_home: str = Field(description="第二套住房最高贷款比例, decimal string")
    balance_multiple: str = Field(description="账户余额倍数, decimal string")
    repayment_capacity_ratio: str = Field(description="还款能力系数: first installment ≤ this × Σ bases")
    penalty_multiplier: str = Field(description="罚息利率倍数 of the annual rate, decimal string")
    classification_thresholds: ClassificationThresholdsPublic
    dunning_days: list[int] = Field(description="days past due at which a dunning notice goes out")
    refuse_unsettled_elsewhere: bool = Field(
        description="an unsettled HPF loan of the household at another center refuses a new one"
    )
    refuse_credit_listed: bool = Field(
        default=True, description="a borrower or co-borrower on the national credit list is refused a loan"
    )

    @classmethod
    def of(cls, p: LoanPolicy) -> LoanPolicyPublic:
        t = p.classification_thresholds
        return cls(
            on=p.on,
            max_term_months=p.max_term_months,
            max_age_plus_term_years=p.max_age_plus_term_years,
            max_amount_fen=p.max_amount_fen,
            min_continuous_deposit_months=p.min_continuous_deposit_months,
            max_loans=p.max_loans,
            penalty_day_basis=p.penalty_day_basis,
            ltv_first_home=str(p.ltv_first_home),
            ltv_second_home=str(p.ltv_second_home),
            balance_multiple=str(p.balance_multiple),
            repayment_capacity_ratio=str(p.repayment_capacity_ratio),
            penalty_multiplier=str(p.penalty_multiplier),
            classification_thresholds=ClassificationThresholdsPublic(
                special_mention=t.special_mention, substandard=t.substandard, doubtful=t.doubtful, loss=t.loss
            ),
            dunning_days=list(p.dunning_days),
            refuse_unsettled_elsewhere=p.refuse_unsettled_elsewhere,
            refuse_credit_listed=p.refuse_credit_listed,
        )


class PolicyChangeCreate(BaseModel):
    key: Code = Field(
        description="policy key, e.g. base_cap_fen, employer_rate_max, deposit_rate, "
        "withdrawal.rent_monthly_cap_fen, loan.max_amount_fen, loan.ltv_first_home"
    )
    effective_from: date = Field(description="first day the value applies; not before the business date")
    value: Any = Field(
        description="JSON value: integer fen for *_fen (null for an unused monthly limit), decimal string "
        'for rates and ratios ("0.12"; a ratio is 0..1), "fen"/"yuan", 360/365, "MM-DD", '
        '{"current_rate", "carried_rate"}, an integer for months, ages and counts, '
        '{"special_mention", "substandard", "doubtful", "loss"} for loan.classification_thresholds, '
        "a list of increasing days for loan.dunning_days"
    )
    reason: Text = Field(description="why (e.g. the notice number); required")


class PolicyChangePublic(BaseModel):
    id: int
    key: str
    label_zh: str
    effective_from: date
    value: Any
    recorded_at: datetime
    actor: str
    reason: str

    @classmethod
    def of(cls, row: service.PolicyChange) -> PolicyChangePublic:
        return cls(**{k: getattr(row, k) for k in cls.model_fields})


@router.get("", summary="The policy in force on a day (default: the business date)", dependencies=READ)
def get_policy(
    conn: ReadDb, ctx: Ctx, on: Annotated[date | None, Query(description="YYYY-MM-DD")] = None
) -> PolicyPublic:
    return PolicyPublic.of(service.policy_at(conn, on or ctx.clock.today()))


@router.get(
    "/withdrawal", summary="The withdrawal parameters in force on a day (default: the business date)",
    dependencies=READ,
)  # fmt: skip
def get_withdrawal_policy(
    conn: ReadDb, ctx: Ctx, on: Annotated[date | None, Query(description="YYYY-MM-DD")] = None
) -> WithdrawalPolicyPublic:
    day = on or ctx.clock.today()
    return WithdrawalPolicyPublic.of(day, service.withdrawal_policy_at(conn, day))


@router.get(
    "/loan", summary="The loan parameters in force on a day (default: the business date)", dependencies=READ
)
def get_loan_policy(
    conn: ReadDb, ctx: Ctx, on: Annotated[date | None, Query(description="YYYY-MM-DD")] = None
) -> LoanPolicyPublic:
    return LoanPolicyPublic.of(service.loan_policy_at(conn, on or ctx.clock.today()))


@router.get("/deposit-rates", summary="Deposit interest rate history (存款利率)", dependencies=READ)
def get_deposit_rates(conn: ReadDb) -> list[DepositRatePublic]:
    return [
        DepositRatePublic(
            effective_from=r.effective_from,
            current_rate=r.current_rate,
            carried_rate=r.carried_rate,
            source=r.source,
        )
        for r in service.deposit_rate_history(conn)
    ]


@router.get("/changes", summary="Changes the center recorded, latest effective date first", dependencies=READ)
def get_changes(conn: ReadDb) -> list[PolicyChangePublic]:
    return [PolicyChangePublic.of(r) for r in service.list_changes(conn)]


def summary_of(reason: str) -> Callable[[dict[str, Any]], str]:
    """The approval queue's line for a change, from what the policy rules made of it."""
    return lambda change: (
        f"{change['label_zh']}调整为{change['shown']}，{change['effective_from']}起生效：{reason}"
    )


@router.post(
    "/changes",
    status_code=202,
    summary="Ask to schedule a change of a policy parameter; another administrator approves it",
    dependencies=[Depends(requires(Perm.POLICY_CHANGE, scope=Scope.OPEN))],
)
def post_change(body: PolicyChangeCreate, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> ApprovalPublic:
    payload = {
        "key": body.key,
        "effective_from": body.effective_from.isoformat(),
        "value": body.value,
        "reason": body.reason,
    }
    row = approvals.submit(conn, ctx, who, approvals.POLICY_CHANGE, payload, summary_of(body.reason))
    return ApprovalPublic.of(row)
