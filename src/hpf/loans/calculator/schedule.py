"""Repayment schedules (还款计划) of a housing loan, exactly, in integer fen.

Pure: no database, no clock; standard library and ``hpf.kernel`` only.

Conventions (REFERENCE §4.5-4.6):

- Monthly rate ``i = annual ÷ 12`` (Bijie: ``DKLL/1200`` with DKLL in %). The interest of a
  period is ``outstanding × i`` rounded half up to the fen, on the principal outstanding before
  that period's installment. Rates are ``Decimal`` annual fractions; all arithmetic is on
  integers and exact rationals, rounded half up (四舍五入) once per amount.
- **Equal installment** (等额本息, DKHKFS 01): the installment is
  ``M = P·i·(1+i)^n / ((1+i)^n − 1)`` rounded half up to the fen; each period's principal is
  ``M − interest``; the **last installment absorbs the rounding residue**: it repays exactly the
  principal still outstanding, plus its interest. 500,000 yuan, 30 years, 2.60%: 2,001.70 a
  month, the 360th installment 2,000.84, interest 220,611.14 in all. (Calculators that multiply
  the unrounded installment 2,001.6986 by 360 show 220,611.48; the fen schedule differs by the
  residue of rounding every installment.)
- **Equal principal** (等额本金, DKHKFS 02): the principal of period ``k`` of ``n`` is
  ``round(P·k/n) − round(P·(k−1)/n)`` (cumulative rounding: the parts differ by at most a fen and
  sum exactly to ``P`` with nothing left over), plus the interest on the outstanding principal.
  500,000 yuan, 30 years, 2.60%: first 2,472.22, last 1,391.90, interest 195,541.67.
- Due dates are monthly from the first due date, on its day of the month, clamped to the end of
  shorter months (first due 01-31: 02-28, 03-31, ...).
- A change of rate (:func:`reprice`) or a partial prepayment (:func:`prepay`) recomputes the rest
  of the schedule on the principal still outstanding and the months still to run, by the same
  method; a prepayment either shortens the term keeping the installment or keeps the term
  lowering it (the borrower's choice).
- Full prepayment (:func:`payoff_quote`) and the split of a mid-period prepayment
  (:func:`split_prepayment`) follow the Bijie implementation (REFERENCE §4.6, C-BJ
  ``CommLoanAlgorithm.beforeInterestDays``/``prepaymentBAmount``): interest accrues at
  ``annual ÷ 360`` a day on the outstanding principal, days counted on 30-day months.

A tiny loan whose rounded installment runs ahead of the exact one (a few hundred yuan over 30
years) can be repaid before its last period; the periods after that owe nothing (zero rows).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from hpf.kernel.errors import InvalidInput
from hpf.kernel.money import require_fen

#: Longest schedule the rules compute (50 years); policy limits terms far below this.
MAX_MONTHS = 600


class Method(StrEnum):
    """Repayment method (还款方式); ``code`` is DKHKFS of the data standard."""

    EQUAL_INSTALLMENT = "equal-installment"
    EQUAL_PRINCIPAL = "equal-principal"

    @property
    def code(self) -> str:
        return "01" if self is Method.EQUAL_INSTALLMENT else "02"

    @property
    def name_zh(self) -> str:
        return "等额本息" if self is Method.EQUAL_INSTALLMENT else "等额本金"


class PrepaymentChoice(StrEnum):
    """What a partial prepayment changes (the borrower chooses)."""

    SHORTEN_TERM = "shorten-term"  # 月供不变，缩短期限
    REDUCE_INSTALLMENT = "reduce-installment"  # 期限不变，减少月供

    @property
    def name_zh(self) -> str:
        return "月供不变，缩短期限" if self is PrepaymentChoice.SHORTEN_TERM else "期限不变，减少月供"


@dataclass(frozen=True)
class Installment:
    """One period of a schedule; ``remaining_fen`` is the principal outstanding after it.

    ``prepaid_fen``: principal repaid early on this due date, after the installment (see
    :func:`prepay`); ``remaining_fen`` is net of it.
    """

    period: int
    due_date: date
    annual_rate: Decimal
    principal_fen: int
    interest_fen: int
    remaining_fen: int
    prepaid_fen: int = 0

    @property
    def installment_fen(self) -> int:
        return self.principal_fen + self.interest_fen


@dataclass(frozen=True)
class Schedule:
    """A loan's repayment schedule: every period from 1, in order."""

    principal_fen: int
    method: Method
    first_due_date: date
    installments: tuple[Installment, ...]

    @property
    def months(self) -> int:
        return len(self.installments)

    @property
    def total_interest_fen(self) -> int:
        return sum(row.interest_fen for row in self.installments)

    @property
    def total_paid_fen(self) -> int:
        """Principal (installments and prepayments) plus interest."""
        return self.principal_fen + self.total_interest_fen

    @property
    def total_prepaid_fen(self) -> int:
        return sum(row.prepaid_fen for row in self.installments)

    def outstanding_after(self, period: int) -> int:
        """The principal outstanding after ``period`` (0: the whole loan)."""
        self._require_period(period, allow_zero=True)
        return self.principal_fen if period == 0 else self.installments[period - 1].remaining_fen

    def period_due_on_or_after(self, day: date) -> int:
        """The first period due on or after ``day`` (``months + 1`` when none is)."""
        for row in self.installments:
            if row.due_date >= day:
                return row.period
        return self.months + 1

    def _require_period(self, period: int, *, allow_zero: bool = False) -> None:
        if not (0 if allow_zero else 1) <= period <= self.months:
            raise InvalidInput(
                "loan.invalid_period",
                "期次超出还款计划范围",
                f"period {period} is outside 1..{self.months}",
                field="period",
            )


# ------------------------------------------------------------------------------ arithmetic


def _rate_ratio(annual_rate: Decimal) -> tuple[int, int]:
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite() or not 0 <= annual_rate < 1:
        raise InvalidInput(
            "loan.invalid_rate",
            "贷款年利率须为0至100%之间的小数",
            f"the annual rate must be a Decimal fraction in [0, 1), got {annual_rate!r}",
            field="annual_rate",
        )
    return annual_rate.as_integer_ratio()


def monthly_interest(balance_fen: int, annual_rate: Decimal) -> int:
    """``balance × annual ÷ 12`` rounded half up to the fen (the interest of one period)."""
    num, den = _rate_ratio(annual_rate)
    return (2 * require_fen(balance_fen) * num + 12 * den) // (24 * den)


@lru_cache(maxsize=1024)
def _annuity(num: int, den: int, months: int) -> tuple[int, int]:
    """``(a, b)`` with the exact installment of a loan of ``P`` equal to ``P·a/b``."""
    if num == 0:
        return 1, months
    base, growth = 12 * den, 12 * den + num  # 1 + i = growth / base
    grown, based = growth**months, base**months
    return num * grown, base * (grown - based)


def level_installment(principal_fen: int, annual_rate: Decimal, months: int) -> int:
    """The equal installment (等额本息 月供) ``P·i·(1+i)^n / ((1+i)^n − 1)``, rounded half up."""
    require_fen(principal_fen)
    a, b = _annuity(*_rate_ratio(annual_rate), _require_months(months))
    return (2 * principal_fen * a + b) // (2 * b)


def _require_months(months: int) -> int:
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(
            "loan.invalid_term",
            f"贷款期限须为1至{MAX_MONTHS}个月",
            f"the term must be 1..{MAX_MONTHS} months, got {months!r}",
            field="term_months",
        )
    return months


def _require_principal(principal_fen: int) -> int:
    if require_fen(principal_fen, "principal_fen") <= 0:
        raise InvalidInput(
            "loan.invalid_principal",
            "贷款金额须大于零",
            f"the principal must be positive, got {principal_fen} fen",
            field="principal_fen",
        )
    return principal_fen


def due_date(first_due_date: date, period: int) -> date:
    """The due date of ``period`` (1 = ``first_due_date``), on the same day of the month, clamped."""
    months = first_due_date.month - 1 + period - 1
    year, month = first_due_date.year + months // 12, months % 12 + 1
    return date(year, month, min(first_due_date.day, calendar.monthrange(year, month)[1]))


def days_30_360(start: date, end: date) -> int:
    """Days from ``start`` to ``end`` on 30-day months (a 31st counts as the 30th)."""
    return (
        360 * (end.year - start.year) + 30 * (end.month - start.month) + min(end.day, 30) - min(start.day, 30)
    )


# ------------------------------------------------------------------------------ schedules


def _equal_installment_parts(
    balance: int, num: int, den: int, months: int, installment: int | None, stop_when_paid: bool
) -> list[tuple[int, int]]:
    """``(principal, interest)`` of each period; the last repays what is left."""
    a, b = _annuity(num, den, months)
    pay = (2 * balance * a + b) // (2 * b) if installment is None else installment
    double_num, half, scale = 2 * num, 12 * den, 24 * den
    parts = []
    for j in range(1, months + 1):
        interest = (balance * double_num + half) // scale
        principal = balance if j == months else min(pay - interest, balance)
        if principal < 0:  # cannot happen for a level installment; guards a caller's choice
            raise InvalidInput(
                "loan.installment_too_small",
                "月供不足以支付当期利息",
                f"an installment of {pay} fen does not cover the interest of {interest} fen",
            )
        parts.append((principal, interest))
        balance -= principal
        if stop_when_paid and balance == 0:
            break
    return parts


def _equal_principal_parts(balance: int, num: int, den: int, months: int) -> list[tuple[int, int]]:
    double_num, half, scale = 2 * num, 12 * den, 24 * den
    parts = []
    repaid = 0
    for j in range(1, months + 1):
        cumulative = (2 * balance * j + months) // (2 * months)  # round(balance·j/months) half up
        outstanding = balance - repaid
        parts.append((cumulative - repaid, (outstanding * double_num + half) // scale))
        repaid = cumulative
    return parts


def _segment(
    balance: int,
    annual_rate: Decimal,
    months: int,
    method: Method,
    first_period: int,
    first_due_date: date,
    *,
    installment: int | None = None,
) -> list[Installment]:
    """Periods ``first_period ..`` repaying ``balance`` over ``months`` at one rate.

    ``installment`` (equal installment only) keeps a given installment and stops once the
    balance is repaid, at the latest after ``months`` periods (a shortened term).
    """
    num, den = _rate_ratio(annual_rate)
    if method is Method.EQUAL_INSTALLMENT:
        parts = _equal_installment_parts(balance, num, den, months, installment, installment is not None)
    else:
        parts = _equal_principal_parts(balance, num, den, months)
    rows = []
    for offset, (principal, interest) in enumerate(parts):
        balance -= principal
        period = first_period + offset
        rows.append(
            Installment(period, due_date(first_due_date, period), annual_rate, principal, interest, balance)
        )
    return rows


def build_schedule(
    principal_fen: int, annual_rate: Decimal, months: int, method: Method, first_due_date: date
) -> Schedule:
    """The schedule of a new loan: ``months`` periods at one rate."""
    _require_principal(principal_fen)
    _require_months(months)
    rows = _segment(principal_fen, annual_rate, months, Method(method), 1, first_due_date)
    return Schedule(principal_fen, Method(method), first_due_date, tuple(rows))


def reprice(schedule: Schedule, from_period: int, annual_rate: Decimal) -> Schedule:
    """The schedule with ``annual_rate`` from ``from_period`` on (periods before it unchanged).

    The rest is recomputed on the principal outstanding after ``from_period − 1`` over the
    months still to run. For a change on 1 January: ``from_period`` is the first period due on
    or after that day (:meth:`Schedule.period_due_on_or_after`).
    """
    schedule._require_period(from_period)
    kept = schedule.installments[: from_period - 1]
    balance = schedule.outstanding_after(from_period - 1)
    months = schedule.months - from_period + 1
    rows = _segment(balance, annual_rate, months, schedule.method, from_period, schedule.first_due_date)
    return replace(schedule, installments=(*kept, *rows))


def prepay(schedule: Schedule, after_period: int, principal_fen: int, choice: PrepaymentChoice) -> Schedule:
    """The schedule after repaying ``principal_fen`` early, on the due date of ``after_period``
    once its installment is paid; that period records it as ``prepaid_fen``.

    ``SHORTEN_TERM`` keeps the installment (equal installment) or the monthly principal (equal
    principal) and ends the loan sooner; ``REDUCE_INSTALLMENT`` keeps the end date and
    recomputes a lower installment. The rate is that of the next period. Repaying everything
    is not a partial prepayment: see :func:`payoff_quote`.

    Total interest never rises when the term is shortened, nor for equal principal. Keeping
    the term of an equal-installment loan re-rounds the installment on the smaller balance and
    lets the last installment absorb a new residue: after a prepayment of a few fen that
    rounding can outweigh the interest saved (by at most Σ(1+i)^j fen over the months left; a
    few yuan over decades).
    """
    schedule._require_period(after_period)
    if after_period == schedule.months:
        raise InvalidInput("loan.already_repaid", "贷款已还清", "the schedule has no period left")
    require_fen(principal_fen, "principal_fen")
    outstanding = schedule.outstanding_after(after_period)
    if not 0 < principal_fen < outstanding:
        raise InvalidInput(
            "loan.invalid_prepayment",
            "提前还款金额须大于零且小于剩余本金（全部还清请办理结清）",
            f"a partial prepayment must be in 1..{outstanding - 1} fen, got {principal_fen}",
            field="principal_fen",
        )
    following = schedule.installments[after_period]
    balance, months = outstanding - principal_fen, schedule.months - after_period
    keep: int | None = None
    if choice is PrepaymentChoice.SHORTEN_TERM:
        if schedule.method is Method.EQUAL_INSTALLMENT:
            keep = following.installment_fen
        else:  # the same principal a month: ceil(balance ÷ (outstanding ÷ months)) months
            months = -(-balance * months // outstanding)
    rows = _segment(
        balance,
        following.annual_rate,
        months,
        schedule.method,
        after_period + 1,
        schedule.first_due_date,
        installment=keep,
    )
    paid = schedule.installments[after_period - 1]
    paid = replace(paid, prepaid_fen=paid.prepaid_fen + principal_fen, remaining_fen=balance)
    return replace(schedule, installments=(*schedule.installments[: after_period - 1], paid, *rows))


# -------------------------------------------------------------------------- prepayment money


@dataclass(frozen=True)
class PayoffQuote:
    """What repays a loan in full on ``on`` (提前结清): principal + interest accrued to that day."""

    on: date
    principal_fen: int
    interest_fen: int
    days: int  # interest days, 30-day months, since the last installment paid

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.interest_fen


def accrued_interest(balance_fen: int, annual_rate: Decimal, days: int) -> int:
    """``balance × annual ÷ 360 × days``, rounded half up (Bijie: ``DKLL/1200/30 × days``)."""
    num, den = _rate_ratio(annual_rate)
    if days < 0:
        raise InvalidInput("loan.invalid_days", "计息天数不能为负数", f"days must be ≥ 0, got {days}")
    return (2 * require_fen(balance_fen) * num * days + 360 * den) // (720 * den)


def payoff_quote(
    schedule: Schedule, paid_through: int, on: date, disbursed_on: date | None = None
) -> PayoffQuote:
    """Repaying everything on ``on`` when periods ``1..paid_through`` are paid.

    Interest runs on the principal outstanding from the due date of ``paid_through`` (for
    ``0``: from ``disbursed_on``, by default a month before the first due date) to ``on``, at
    the next period's rate, on 30-day months (REFERENCE §4.6, Bijie). ``on`` must not be after
    the next due date: an installment past due is overdue, and that is settled first.
    """
    schedule._require_period(paid_through, allow_zero=True)
    if paid_through == schedule.months:
        raise InvalidInput("loan.already_repaid", "贷款已还清", "every period is paid")
    following = schedule.installments[paid_through]
    if paid_through == 0:
        start = disbursed_on or due_date(schedule.first_due_date, 0)
    else:
        start = schedule.installments[paid_through - 1].due_date
    if not start <= on <= following.due_date:
        raise InvalidInput(
            "loan.payoff_date",
            "结清日期须在上期还款日与下期还款日之间（逾期须先归还逾期本息）",
            f"{on.isoformat()} is outside {start.isoformat()}..{following.due_date.isoformat()}",
            field="on",
        )
    days = days_30_360(start, on)
    balance = schedule.outstanding_after(paid_through)
    return PayoffQuote(on, balance, accrued_interest(balance, following.annual_rate, days), days)


def split_prepayment(amount_fen: int, annual_rate: Decimal, days: int) -> tuple[int, int]:
    """``(principal, interest)`` of a prepayment paid ``days`` after the last due date.

    Bijie (REFERENCE §4.6): 提前还本金额 = 提前还款金额 ÷ (1 + 月利率 × 计息天数 ÷ 30); the
    principal is rounded half up and the interest is the rest, so the parts add up exactly.
    """
    num, den = _rate_ratio(annual_rate)
    require_fen(amount_fen)
    if amount_fen < 0 or days < 0:
        raise InvalidInput(
            "loan.invalid_prepayment", "提前还款金额和天数不能为负数", "amount and days must be ≥ 0"
        )
    scaled = 360 * den  # principal = amount × 360·den ÷ (360·den + num·days)
    divisor = scaled + num * days
    principal = (2 * amount_fen * scaled + divisor) // (2 * divisor)
    return principal, amount_fen - principal
