"""Interest on member deposits by the 积数 (accumulated daily balance) method, exactly.

Pure: no database, no clock; standard library and ``hpf.kernel`` only.

Conventions (REFERENCE §2.3-2.5, and the ledger's 预计积数 bookkeeping):

- A period is half-open, ``(after, through]``: the days ``d`` with ``after < d ≤ through``. The
  interest year is ``(previous 06-30, 06-30]``. A change valued on ``v`` counts from ``v + 1``,
  so it adds ``amount × (year_end − v)`` to the year's 积数 (``accrual_days`` of the ledger).
- 积数 are integers in fen·days. Rates are ``Decimal`` annual fractions (``Decimal("0.015")``).
- **The rounding step.** A member's interest is ``Σ 积数ᵢ × rateᵢ ÷ day_basis`` over all its
  pieces (balance part × rate segment), computed exactly and rounded half up to the fen ONCE
  per member: ``interest_fen`` is that step, and the SQL of the settlement job computes the
  same integer (``sql_round_half_up``). A negative sum (back-valued withdrawals) pays 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

from hpf.kernel.errors import InvalidInput

DAY_BASES = frozenset({360, 365})

#: Rates are exact in units of 10⁻⁷ (NUMERIC(8,7) in the data standard, like ``hpf.policy``):
#: the SQL of the settlement computes with the integer ``rate × RATE_SCALE``.
RATE_PLACES = 7
RATE_SCALE: int = 10**RATE_PLACES

#: Largest value a signed 64-bit integer holds: the SQL must stay below it (SQLite turns an
#: overflowing integer into an inexact REAL without a word; PostgreSQL raises).
INT64_MAX: int = 2**63 - 1


class DepositRates(Protocol):
    """The two deposit rates in force in a segment (``hpf.policy.rules.DepositRate`` fits)."""

    @property
    def current_rate(self) -> Decimal: ...  # 当年归集余额

    @property
    def carried_rate(self) -> Decimal: ...  # 上年结转余额


# ------------------------------------------------------------------------------ validation


def check_day_basis(day_basis: int) -> int:
    if isinstance(day_basis, bool) or day_basis not in DAY_BASES:
        raise InvalidInput(
            "interest.day_basis", "计息天数基准须为360或365", f"day basis {day_basis!r} is not 360 or 365"
        )
    return day_basis


def rate_units(rate: Decimal) -> int:
    """``rate`` as an exact integer number of 10⁻⁷: ``Decimal("0.015")`` → ``150000``."""
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0:
        raise InvalidInput("interest.rate", "利率须为非负小数", f"rate {rate!r} is not a Decimal ≥ 0")
    units = rate * RATE_SCALE
    if units != units.to_integral_value():
        raise InvalidInput(
            "interest.rate_precision",
            f"利率最多保留{RATE_PLACES}位小数",
            f"rate {rate} is finer than 1e-{RATE_PLACES}",
        )
    return int(units)


# ------------------------------------------------------------------------------- the rounding


def interest_fen(pieces: Iterable[tuple[int, Decimal]], day_basis: int) -> int:
    """Interest in fen on ``(积数 in fen·days, annual rate)`` pieces: the one rounding step.

    ``round_half_up(Σ 积数 × rate ÷ day_basis)``, exact (no intermediate rounding); a sum ≤ 0
    (possible after back-valued withdrawals) pays nothing.

    >>> interest_fen([(360_200_000, Decimal("0.015"))], 360)  # REFERENCE §2.5
    15008
    >>> interest_fen([(360_200_000, Decimal("0.015"))], 365)
    14803
    """
    check_day_basis(day_basis)
    total = sum((Fraction(accrual) * Fraction(rate) for accrual, rate in pieces), Fraction(0))
    exact = total / day_basis
    if exact <= 0:
        return 0
    return (2 * exact.numerator + exact.denominator) // (2 * exact.denominator)


def sql_round_half_up(units_sum: int, day_basis: int) -> int:
    """What the settlement SQL computes from ``S = Σ 积数 × rate_units``: the same as
    ``interest_fen`` with integer arithmetic only, ``(2S + D) // 2D`` with ``D = RATE_SCALE ×
    day_basis`` (both engines truncate an integer division; ``S > 0`` makes that the floor)."""
    scale = RATE_SCALE * check_day_basis(day_basis)
    return (2 * units_sum + scale) // (2 * scale) if units_sum > 0 else 0


def max_safe_accrual(rate_units_max: int, day_basis: int, terms: int) -> int:
    """The largest |积数| (fen·days) of one piece for which the settlement SQL cannot overflow.

    The SQL sums ``terms`` products ``积数 × rate_units`` into ``S`` and then forms ``2S + D``;
    all of it must stay below 2⁶³. At 1.50% (150,000 units), two balance parts and no rate
    change in the year (``terms`` = 2), the bound is 1.5 × 10¹³ fen·days: a balance of about
    420 million yuan held all year (365 days). Realistic member balances are far below.
    """
    scale = RATE_SCALE * check_day_basis(day_basis)
    return (INT64_MAX - scale) // (2 * max(rate_units_max, 1) * max(terms, 1))


# ---------------------------------------------------------------------------------- 积数


def accrual_after(balance: int, changes: Iterable[tuple[date, int]], year_end: date, after: date) -> int:
    """积数 of one balance over the days ``(after, year_end]``.

    ``balance`` is the balance now, including every change of the interest year, and
    ``changes`` are that year's ``(value_date, signed fen)``: the balance held on day
    ``after + 1`` is ``balance − Σ changes valued after ``after````; it counts for
    ``year_end − after`` days, and each later change for its own ``year_end − v`` days.
    With ``after`` = the previous year end this is the ledger's 预计积数 of the whole year.
    """
    later = [(v, amount) for v, amount in changes if v > after]
    held = balance - sum(amount for _, amount in later)
    return held * (year_end - after).days + sum(amount * (year_end - v).days for v, amount in later)


def accrual_to_date(accrual_projected: int, balance: int, year_end: date, day: date) -> int:
    """积数 from the start of the interest year to ``day`` inclusive, from the ledger's 预计积数.

    ``accrual_projected`` is the 积数 projected to ``year_end`` (``member_balance.accrual_*``);
    the balance now is assumed to be held until then, so subtracting ``balance × (year_end −
    day)`` leaves the days up to ``day``. Valid when no change is valued after ``day``
    (otherwise use :func:`accrual_pieces` with the changes).
    """
    return accrual_projected - balance * (year_end - day).days


def accrual_pieces(
    balance: int,
    changes: Sequence[tuple[date, int]],
    year_end: date,
    periods: Sequence[tuple[date, date]],
) -> list[int]:
    """积数 of one balance over each half-open period ``(after, through]`` of the year.

    Used to split the 积数 at a rate change (periods = the rate segments) and to stop at a
    closing day: a period's 积数 is ``accrual_after(after) − accrual_after(through)``.
    """
    return [
        accrual_after(balance, changes, year_end, after) - accrual_after(balance, changes, year_end, through)
        for after, through in periods
    ]


def member_interest_pieces(
    balances: tuple[int, int],
    changes: tuple[Sequence[tuple[date, int]], Sequence[tuple[date, int]]],
    year_end: date,
    segments: Sequence[tuple[date, date, DepositRates]],
) -> list[tuple[int, Decimal]]:
    """A member's ``(积数, rate)`` pieces: (carried, current) parts × rate segments.

    ``balances`` and ``changes`` are ``(carried, current)``; each segment ``(after, through,
    rates)`` is a half-open period with the rates in force on it (``hpf.policy.rules.
    deposit_rate_segments`` gives them), the carried part earning ``carried_rate`` and the
    current part ``current_rate``.
    """
    periods = [(after, through) for after, through, _ in segments]
    carried = accrual_pieces(balances[0], changes[0], year_end, periods)
    current = accrual_pieces(balances[1], changes[1], year_end, periods)
    pieces: list[tuple[int, Decimal]] = []
    for (_, _, rates), c, u in zip(segments, carried, current, strict=True):
        pieces += [(c, rates.carried_rate), (u, rates.current_rate)]
    return pieces
