"""HTTP API of the loan calculator (``/api/v1/loans/calculator``): public, no sign-in.

Input as people type it (principal in yuan, years, rate in percent); output in the API's units
(integer fen, decimal-string rates, ISO dates). Bad input: problem+json 422 with a ``loan.*`` code.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hpf.loans.calculator import CalculatorInput, calculate, parse_input
from hpf.loans.schedule import Schedule
from hpf.security.permissions import Perm
from hpf.web.auth import requires
from hpf.web.deps import Ctx

router = APIRouter(prefix="/api/v1/loans", tags=["loans"])


class InstallmentPublic(BaseModel):
    period: int
    due_date: date
    installment_fen: int
    principal_fen: int
    interest_fen: int
    remaining_fen: int = Field(description="principal outstanding after this installment")


class CalculatorPublic(BaseModel):
    principal_fen: int
    months: int
    annual_rate: str = Field(description='annual rate as a decimal string, "0.026" = 2.60%')
    method: str = Field(description="equal-installment (等额本息) or equal-principal (等额本金)")
    method_code: str = Field(description="DKHKFS: 01 or 02")
    first_due_date: date
    monthly_payment_fen: int = Field(description="the first installment (等额本息: every one but the last)")
    last_installment_fen: int
    total_interest_fen: int
    total_paid_fen: int
    installments: list[InstallmentPublic]

    @classmethod
    def of(cls, given: CalculatorInput, schedule: Schedule) -> CalculatorPublic:
        rows = schedule.installments
        return cls(
            principal_fen=schedule.principal_fen,
            months=schedule.months,
            annual_rate=str(given.annual_rate),
            method=schedule.method.value,
            method_code=schedule.method.code,
            first_due_date=schedule.first_due_date,
            monthly_payment_fen=rows[0].installment_fen,
            last_installment_fen=rows[-1].installment_fen,
            total_interest_fen=schedule.total_interest_fen,
            total_paid_fen=schedule.total_paid_fen,
            installments=[
                InstallmentPublic(
                    period=r.period,
                    due_date=r.due_date,
                    installment_fen=r.installment_fen,
                    principal_fen=r.principal_fen,
                    interest_fen=r.interest_fen,
                    remaining_fen=r.remaining_fen,
                )
                for r in rows
            ],
        )


@router.get(
    "/calculator",
    summary="Loan calculator: the repayment schedule of a loan (anyone, no sign-in)",
    dependencies=[Depends(requires(Perm.PUBLIC))],
)
def calculator(
    ctx: Ctx,
    principal: Annotated[str, Query(max_length=40, description="loan amount in yuan, e.g. 500000")],
    years: Annotated[str, Query(max_length=40, description="term in whole years, 1-30")],
    rate: Annotated[str, Query(max_length=40, description="annual rate in percent, e.g. 2.60")],
    method: Annotated[str, Query(max_length=40, description="equal-installment or equal-principal")] = (
        "equal-installment"
    ),
    start: Annotated[
        str | None, Query(max_length=40, description="first due date (default: 1st of next month)")
    ] = None,
) -> CalculatorPublic:
    given = parse_input(principal, years, rate, method, start, ctx.clock.today())
    return CalculatorPublic.of(given, calculate(given))
