"""Money and rates: integer fen, Decimal rates, and the one place that rounds.

Amounts are plain ``int`` fen (1 yuan = 100 fen) in storage, rules and APIs; a float is
refused wherever money enters. Rates are ``Decimal``. Rounding is ROUND_HALF_UP (四舍五入),
applied once, at a named step, to a named unit (fen or whole yuan: centers use both).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from hpf.kernel.errors import InvalidInput

ROUNDING = ROUND_HALF_UP
FEN_PER_YUAN = 100


class RoundingUnit(StrEnum):
    """The unit a computed amount is rounded to (元以下四舍五入 or 分以下四舍五入)."""

    FEN = "fen"
    YUAN = "yuan"


def require_fen(value: object, field: str = "amount") -> int:
    """Accept an integer amount in fen; refuse floats, bools and anything else."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(
            "money.not_integer_fen",
            "金额必须为整数（单位：分）",
            f"{field} must be an integer number of fen, got {type(value).__name__}",
            field=field,
        )
    return value


MAX_FEN = 2**63 - 1
"""The largest amount a BIGINT column holds."""
MAX_YUAN = Decimal(MAX_FEN) / 100


def parse_yuan(value: str | Decimal | int, field: str = "amount") -> int:
    """Parse a yuan amount such as ``"1234.56"`` into fen; more than two decimals is refused."""
    if isinstance(value, (float, bool)):
        raise InvalidInput(
            "money.float_refused",
            "金额不能使用浮点数",
            f"{field}: give yuan as a string or Decimal, not {type(value).__name__}",
            field=field,
        )
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidInput(
            "money.format", "金额格式错误", f"{field}: {value!r} is not a yuan amount", field=field
        ) from None
    if not amount.is_finite():
        raise InvalidInput("money.format", "金额格式错误", f"{field}: not finite", field=field)
    # Before anything is multiplied or made an int: "1e999999999" is a valid Decimal whose int()
    # would take minutes and gigabytes, and anything beyond 64 bits cannot be stored anyway.
    if amount.copy_abs() > MAX_YUAN:  # copy_abs: no context, so no Overflow on a huge exponent
        raise InvalidInput(
            "money.out_of_range",
            "金额超出允许范围",
            f"{field}: {str(value)[:40]!r} is beyond {MAX_FEN} fen",
            field=field,
        )
    fen = amount * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise InvalidInput(
            "money.precision",
            "金额最多保留两位小数",
            f"{field}: {value!r} has more than two decimal places",
            field=field,
        )
    return int(fen)


def yuan(fen: int) -> Decimal:
    """The yuan value of an amount in fen, exactly."""
    return (Decimal(require_fen(fen)) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def format_yuan(fen: int, grouping: bool = True) -> str:
    """``123456`` → ``"1,234.56"`` (grouping) or ``"1234.56"``."""
    value = yuan(fen)
    return f"{value:,.2f}" if grouping else f"{value:.2f}"


def parse_rate(value: str | Decimal, field: str = "rate") -> Decimal:
    """A rate as a Decimal fraction (``"0.12"`` for 12%); floats are refused."""
    if isinstance(value, (float, bool)):
        raise InvalidInput(
            "rate.float_refused",
            "比例/利率不能使用浮点数",
            f"{field}: give the rate as a string or Decimal",
            field=field,
        )
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(
            "rate.format", "比例/利率格式错误", f"{field}: {value!r} is not a number", field=field
        ) from None
    if not rate.is_finite() or rate < 0:
        raise InvalidInput(
            "rate.range", "比例/利率不能为负数", f"{field}: {value!r} must be ≥ 0", field=field
        )
    return rate


def round_fen(amount_fen: Decimal, unit: RoundingUnit = RoundingUnit.FEN) -> int:
    """Round an exact amount in fen to the given unit, half up. The one rounding step."""
    if unit is RoundingUnit.YUAN:
        whole_yuan = (amount_fen / FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUNDING)
        return int(whole_yuan) * FEN_PER_YUAN
    return int(amount_fen.quantize(Decimal(1), rounding=ROUNDING))


def apply_rate(amount_fen: int, rate: Decimal, unit: RoundingUnit = RoundingUnit.FEN) -> int:
    """``amount × rate`` rounded half up to ``unit`` (e.g. a monthly contribution part)."""
    require_fen(amount_fen)
    if not isinstance(rate, Decimal):
        raise InvalidInput("rate.not_decimal", "比例/利率必须为Decimal", "rate must be a Decimal")
    return round_fen(Decimal(amount_fen) * rate, unit)
