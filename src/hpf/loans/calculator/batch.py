"""Schedules of many loans at once, exactly equal to :func:`hpf.loans.calculator.schedule.build_schedule`.

Pure: standard library and ``hpf.loans.calculator.schedule`` only; integers, no floats. For jobs that
compute the schedules of a whole portfolio (the demo center, a rate change on 1 January) and for
``bench/bench_loan_schedules.py``.

How it is fast in pure Python: loans with the same rate, term and method form a group; the group's
balances are packed side by side into one big integer, a *lane* of ``W`` bits per loan, so one
big-integer operation advances every loan of the group by a period. The only step that is not
lane-wise by itself is the rounded division (``interest = ⌊(2·B·num + 12·den) ÷ 24·den⌋``,
``⌊(2·P·k + n) ÷ 2n⌋``): it is done as a multiplication by a "magic" reciprocal ``m = ⌈2^s ÷ c⌉``
and a shift (Granlund & Montgomery: exact for every numerator below ``2^(s − bits(c))``), then a
mask keeps each lane's quotient. Lanes are wide enough that nothing carries between them.

Equal-installment loans so small that the rounded installment could run ahead of the balance
(the zero rows of ``schedule``'s docstring: installment ≤ 2·Σ(1+i)^j + 2 fen) take the ordinary
path; so does nothing else.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hpf.loans.calculator.schedule import Method, build_schedule, level_installment

_WORD = 64


@dataclass(frozen=True)
class LoanTerms:
    principal_fen: int
    annual_rate: Decimal
    months: int
    method: Method


@dataclass(frozen=True)
class _Group:
    """Columns of a group: ``interest[j][x]``, ``remaining[j][x]`` for period ``j + 1`` of member ``x``."""

    members: tuple[int, ...]
    interest: tuple[array[int], ...]
    remaining: tuple[array[int], ...]


class Schedules:
    """The schedules of a batch: ``row(loan, period)`` → ``(principal, interest, remaining)``."""

    def __init__(
        self, loans: Sequence[LoanTerms], groups: list[_Group], single: dict[int, list[tuple[int, int, int]]]
    ):
        self._loans = loans
        self._single = single
        self._where: dict[int, tuple[_Group, int]] = {}
        for group in groups:
            for slot, loan in enumerate(group.members):
                self._where[loan] = (group, slot)

    def __len__(self) -> int:
        return len(self._loans)

    def row(self, loan: int, period: int) -> tuple[int, int, int]:
        if loan in self._single:
            return self._single[loan][period - 1]
        group, slot = self._where[loan]
        before = self._loans[loan].principal_fen if period == 1 else group.remaining[period - 2][slot]
        remaining = group.remaining[period - 1][slot]
        return before - remaining, group.interest[period - 1][slot], remaining

    def rows(self, loan: int) -> list[tuple[int, int, int]]:
        return [self.row(loan, p) for p in range(1, self._loans[loan].months + 1)]


def _replicate(value: int, lanes: int, width: int) -> int:
    return value * int.from_bytes((b"\x01" + b"\x00" * (width // 8 - 1)) * lanes, "little")


def _pack(values: Sequence[int], width: int) -> int:
    size = width // 8
    return int.from_bytes(b"".join(v.to_bytes(size, "little") for v in values), "little")


def _unpack(packed: int, lanes: int, width: int) -> array[int]:
    words = array("Q", packed.to_bytes(lanes * width // 8, "little"))
    return words[:: width // _WORD] if width > _WORD else words


@dataclass(frozen=True)
class _Divider:
    """``⌊x ÷ divisor⌋`` for ``0 ≤ x < 2^bits`` as ``(x·magic) >> shift``."""

    divisor: int
    bits: int

    @property
    def shift(self) -> int:
        return self.bits + self.divisor.bit_length()

    @property
    def magic(self) -> int:
        return -(-(1 << self.shift) // self.divisor)

    @property
    def lane_bits(self) -> int:  # x·magic fits, with a spare bit
        return self.bits + self.magic.bit_length() + 1

    def packed(self, x: int, mask: int) -> int:
        return ((x * self.magic) >> self.shift) & mask


def _mask(divider: _Divider, lanes: int, width: int) -> int:
    return _replicate((1 << (width - divider.shift)) - 1, lanes, width)


def _group_columns(
    principals: Sequence[int], rate: Decimal, months: int, method: Method
) -> tuple[list[array[int]], list[array[int]]]:
    num, den = rate.as_integer_ratio()
    lanes, largest = len(principals), max(principals)
    interest_div = _Divider(24 * den, (2 * largest * num + 12 * den).bit_length())
    principal_div = _Divider(2 * months, (2 * largest * months + months).bit_length())
    need = max(interest_div.lane_bits, principal_div.lane_bits, 64)
    width = -(-need // _WORD) * _WORD
    interest_mask = _mask(interest_div, lanes, width)
    half, double_num = _replicate(12 * den, lanes, width), 2 * num
    balance = _pack(principals, width)
    interest_cols: list[array[int]] = []
    remaining_cols: list[array[int]] = []
    if method is Method.EQUAL_INSTALLMENT:
        installments = _pack([level_installment(p, rate, months) for p in principals], width)
        for period in range(1, months + 1):
            interest = interest_div.packed(balance * double_num + half, interest_mask)
            balance = balance - installments + interest if period < months else 0
            interest_cols.append(_unpack(interest, lanes, width))
            remaining_cols.append(_unpack(balance, lanes, width))
        return interest_cols, remaining_cols
    principal = balance
    principal_mask, odd = _mask(principal_div, lanes, width), _replicate(months, lanes, width)
    for period in range(1, months + 1):
        interest = interest_div.packed(balance * double_num + half, interest_mask)
        balance = principal - principal_div.packed(principal * (2 * period) + odd, principal_mask)
        interest_cols.append(_unpack(interest, lanes, width))
        remaining_cols.append(_unpack(balance, lanes, width))
    return interest_cols, remaining_cols


def _drift_limit(num: int, den: int, months: int) -> int:
    """``2·Σ(1+i)^j + 2`` fen over ``months``, rounded up: a level installment above it never
    lets the balance run below zero before the last period."""
    if num == 0:
        return 2 * months + 2
    base, growth = 12 * den, 12 * den + num
    grown: int = growth**months
    based: int = base**months
    total = -(-(grown - based) * base // (based * num))  # Σ (1+i)^j = ((1+i)^n − 1) ÷ i
    return 2 * total + 2


def many_schedules(loans: Sequence[LoanTerms]) -> Schedules:
    """The schedules of ``loans`` (first due dates do not change amounts and are not needed)."""
    by_terms: dict[tuple[Decimal, int, Method], list[int]] = {}
    single: dict[int, list[tuple[int, int, int]]] = {}
    limits: dict[tuple[Decimal, int], int] = {}
    for index, loan in enumerate(loans):
        num, den = loan.annual_rate.as_integer_ratio()
        if loan.method is Method.EQUAL_INSTALLMENT:
            key = (loan.annual_rate, loan.months)
            if key not in limits:
                limits[key] = _drift_limit(num, den, loan.months)
            if level_installment(loan.principal_fen, loan.annual_rate, loan.months) <= limits[key]:
                single[index] = _exact_rows(loan)
                continue
        by_terms.setdefault((loan.annual_rate, loan.months, loan.method), []).append(index)
    groups = []
    for (rate, months, method), members in by_terms.items():
        interest, remaining = _group_columns([loans[i].principal_fen for i in members], rate, months, method)
        groups.append(_Group(tuple(members), tuple(interest), tuple(remaining)))
    return Schedules(loans, groups, single)


def _exact_rows(loan: LoanTerms) -> list[tuple[int, int, int]]:
    schedule = build_schedule(
        loan.principal_fen, loan.annual_rate, loan.months, loan.method, date(2000, 1, 1)
    )
    return [(r.principal_fen, r.interest_fen, r.remaining_fen) for r in schedule.installments]
