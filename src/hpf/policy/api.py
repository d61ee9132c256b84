"""HTTP API for policy parameters (``/api/v1/policy``): read what is in force, schedule changes.

Rates are decimal strings (``"0.12"`` = 12%), amounts integer fen, dates ISO.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hpf.access.permissions import Perm, Scope
from hpf.approvals import service as approvals
from hpf.approvals.public import ApprovalPublic
from hpf.policy import service
from hpf.policy.rules import Policy
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


class PolicyChangeCreate(BaseModel):
    key: Code = Field(description="policy key, e.g. base_cap_fen, employer_rate_max, deposit_rate")
    effective_from: date = Field(description="first day the value applies; not before the business date")
    value: Any = Field(
        description="JSON value: integer fen for *_fen (null for an unused monthly limit), decimal string "
        'for rates ("0.12"), "fen"/"yuan", 360/365, "MM-DD", or {"current_rate", "carried_rate"}'
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
    def of(cls, row: dict[str, Any]) -> PolicyChangePublic:
        return cls(**{k: row[k] for k in cls.model_fields})


@router.get("", summary="The policy in force on a day (default: the business date)", dependencies=READ)
def get_policy(
    conn: ReadDb, ctx: Ctx, on: Annotated[date | None, Query(description="YYYY-MM-DD")] = None
) -> PolicyPublic:
    return PolicyPublic.of(service.policy_at(conn, on or ctx.clock.today()))


@router.get("/deposit-rates", summary="Deposit interest rate history (存款利率)", dependencies=READ)
def get_deposit_rates(conn: ReadDb) -> list[DepositRatePublic]:
    return [
        DepositRatePublic(
            effective_from=r["effective_from"],
            current_rate=r["current_rate"],
            carried_rate=r["carried_rate"],
            source=r["source"],
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
