"""The loan calculator (贷款试算) that anyone may use: what people type, checked, and its schedule.

Pure: no database, no clock (the caller passes the business date). Shared by ``hpf loan
schedule``, ``GET /api/v1/loans/calculator`` and the ``/loans/calculator`` page, so all three
accept and refuse the same input: the principal in yuan (at most two decimals), the term in whole
years, the annual rate in percent (``2.60`` = 2.60%), the method and the first due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.money import parse_yuan
from hpf.loans.calculator.schedule import Method, Schedule, build_schedule

MAX_YEARS = 30
MAX_PRINCIPAL_FEN = 100_000_000_00  # 100 million yuan: far above any HPF loan
RATE_PLACES = 5  # in percent: 7 places as a fraction, NUMERIC(8,7) in the data standard


@dataclass(frozen=True)
class CalculatorInput:
    principal_fen: int
    years: int
    annual_rate: Decimal  # a fraction: 0.026
    method: Method
    first_due_date: date

    @property
    def months(self) -> int:
        return 12 * self.years


def _principal(text: str) -> int:
    refusal = InvalidInput(
        "loan.invalid_principal",
        "贷款金额须为大于零的金额（元），最多两位小数，不超过1亿元",
        f"principal: {text!r} is not a positive yuan amount with at most two decimals, ≤ 100 million",
        field="principal",
    )
    try:
        fen = parse_yuan(text.strip(), "principal")
    except HpfError:
        raise refusal from None
    if not 0 < fen <= MAX_PRINCIPAL_FEN:
        raise refusal
    return fen


def _years(text: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_YEARS):
        raise InvalidInput(
            "loan.invalid_term",
            f"贷款年限须为1至{MAX_YEARS}之间的整数",
            f"years: {text!r} is not a whole number of years in 1..{MAX_YEARS}",
            field="years",
        )
    return int(value)


def _rate(text: str) -> Decimal:
    refusal = InvalidInput(
        "loan.invalid_rate",
        f"年利率须为0至24之间的百分数，如2.60，最多{RATE_PLACES}位小数",
        f"rate: {text!r} is not a percentage in [0, 24] with at most {RATE_PLACES} decimals",
        field="rate",
    )
    try:
        percent = Decimal(text.strip().removesuffix("%"))
    except InvalidOperation:
        raise refusal from None
    exponent = percent.as_tuple().exponent
    if (
        not percent.is_finite()
        or not 0 <= percent <= 24
        or (isinstance(exponent, int) and -exponent > RATE_PLACES)
    ):
        raise refusal
    return percent / 100


def _method(text: str) -> Method:
    try:
        return Method(text.strip())
    except ValueError:
        raise InvalidInput(
            "loan.invalid_method",
            "还款方式须为等额本息（equal-installment）或等额本金（equal-principal）",
            f"method: {text!r} is not equal-installment or equal-principal",
            field="method",
        ) from None


def _first_due(text: str | None, today: date) -> date:
    if text is None or not text.strip():
        return first_of_next_month(today)
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            "loan.invalid_date",
            "首次还款日格式错误，应为YYYY-MM-DD",
            f"start: {text!r} is not an ISO date",
            field="start",
        ) from None


def first_of_next_month(day: date) -> date:
    """The default first due date: the 1st of the month after ``day``."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def parse_input(
    principal: str, years: str, rate: str, method: str, start: str | None, today: date
) -> CalculatorInput:
    """Check what was typed; the first mistake is refused (``InvalidInput``, 422)."""
    return CalculatorInput(
        _principal(principal), _years(years), _rate(rate), _method(method), _first_due(start, today)
    )


def calculate(given: CalculatorInput) -> Schedule:
    return build_schedule(
        given.principal_fen, given.annual_rate, given.months, given.method, given.first_due_date
    )
