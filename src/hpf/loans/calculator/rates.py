"""HPF loan interest rates: the national rate table with its history, and re-pricing.

Pure: no database, no clock; standard library and ``hpf.kernel`` only. The table ships as
package data (``loan_rates.json``, REFERENCE §4.4, every entry with its source tag); a caller may
pass its own table (a center that charges more on second homes, a test).

- The rate of a loan is chosen by its *contract term*: ≤ 5 years (60 months) or more, and by
  first or second home. Rates are ``Decimal`` annual fractions (``Decimal("0.026")`` = 2.60%).
- A new loan takes the rate in force on its contract day (:func:`rate_on`).
- An existing loan takes a new rate on the next 1 January after the change
  (:func:`repricing_date`; W-R2015, W-R2015b, W-R2025: the 2025-05-08 cut reaches existing loans
  on 2026-01-01). :func:`rate_for_existing_loan` and :func:`rate_changes` apply that rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from hpf.kernel.errors import InvalidInput
from hpf.kernel.money import parse_rate

#: Contract terms up to this many months take the "≤ 5 years" rate.
SHORT_TERM_MONTHS = 60


@dataclass(frozen=True)
class RatePair:
    """The two annual rates of one kind of home: term ≤ 5 years, term > 5 years."""

    up_to_5y: Decimal
    over_5y: Decimal

    def for_term(self, term_months: int) -> Decimal:
        return self.up_to_5y if term_months <= SHORT_TERM_MONTHS else self.over_5y


@dataclass(frozen=True)
class RateEntry:
    """The rates for loans contracted from ``effective_from`` on (``second_home``: None = unknown)."""

    effective_from: date
    first_home: RatePair
    second_home: RatePair | None
    source: str

    def rate(self, term_months: int, second_home: bool) -> Decimal:
        """The annual rate of a loan with this contract term; refused where none is recorded."""
        require_term(term_months)
        if not second_home:
            return self.first_home.for_term(term_months)
        if self.second_home is None:
            raise InvalidInput(
                "loan.rate_unknown",
                f"{self.effective_from.isoformat()}起的第二套住房公积金贷款利率未登记",
                f"no second-home rate is recorded for the entry of {self.effective_from.isoformat()}",
            )
        return self.second_home.for_term(term_months)


def require_term(term_months: int) -> int:
    if isinstance(term_months, bool) or not isinstance(term_months, int) or term_months < 1:
        raise InvalidInput(
            "loan.invalid_term",
            "贷款期限须为正整数（月）",
            f"the term must be a positive number of months, got {term_months!r}",
            field="term_months",
        )
    return term_months


# ------------------------------------------------------------------------------------ the table


def _pair(raw: object, where: str) -> RatePair:
    if not isinstance(raw, Mapping) or set(raw) != {"up_to_5y", "over_5y"}:
        raise InvalidInput(
            "loan.invalid_rate_table", "贷款利率表格式错误", f"{where}: give {{up_to_5y, over_5y}}"
        )
    up, over = raw["up_to_5y"], raw["over_5y"]
    if not isinstance(up, str) or not isinstance(over, str):
        raise InvalidInput(
            "loan.invalid_rate_table", "贷款利率须为字符串形式的小数", f"{where}: rates are decimal strings"
        )
    return RatePair(parse_rate(up, where), parse_rate(over, where))


def parse_rate_table(entries: Sequence[Mapping[str, Any]]) -> tuple[RateEntry, ...]:
    """Raw entries (the JSON form of ``loan_rates.json``) as a table sorted by date."""
    table = []
    for raw in entries:
        day = date.fromisoformat(str(raw["effective_from"]))
        second = raw.get("second_home")
        table.append(
            RateEntry(
                effective_from=day,
                first_home=_pair(raw["first_home"], f"{day} first_home"),
                second_home=None if second is None else _pair(second, f"{day} second_home"),
                source=str(raw.get("source", "")),
            )
        )
    table.sort(key=lambda e: e.effective_from)
    if len({e.effective_from for e in table}) != len(table):
        raise InvalidInput("loan.invalid_rate_table", "贷款利率表中生效日期重复", "two entries share a date")
    return tuple(table)


@cache
def national_rates() -> tuple[RateEntry, ...]:
    """The national table shipped with OpenHPF (``loan_rates.json``)."""
    text = resources.files("hpf.loans.calculator").joinpath("loan_rates.json").read_text("utf-8")
    return parse_rate_table(json.loads(text)["entries"])


# A what-if's supposed table (``supposing``): set for one thread of work, never process-wide, so a
# what-if run beside the server's requests does not change their rates.
_SUPPOSED: ContextVar[tuple[RateEntry, ...] | None] = ContextVar("hpf_supposed_loan_rates", default=None)


def rate_table() -> tuple[RateEntry, ...]:
    """The table in force: the national one, or the supposed one inside :func:`supposing`."""
    return _SUPPOSED.get() or national_rates()


@contextmanager
def supposing(change_bp: int, effective_from: date) -> Iterator[tuple[RateEntry, ...]]:
    """Within the block, in this context only: the national rates move by ``change_bp`` basis
    points from ``effective_from`` on, every term and kind of home alike (a policy what-if, decision
    0038). New loans take the moved rate from that day; existing ones on the next 1 January, as
    with a real change. Entries after that day are left out: the supposed change is the last."""
    if (
        isinstance(change_bp, bool)
        or not isinstance(change_bp, int)
        or not -300 <= change_bp <= 300
        or not change_bp
    ):
        raise InvalidInput(
            "loan.invalid_rate_change", "利率调整须为-300至300之间的非零整数基点",
            f"a rate change is a non-zero whole number of basis points in [-300, 300], got {change_bp!r}",
        )  # fmt: skip
    base = national_rates()
    current = entry_on(effective_from, base)
    shift = Decimal(change_bp) / Decimal(10_000)

    def moved(pair: RatePair) -> RatePair:
        up, over = pair.up_to_5y + shift, pair.over_5y + shift
        if up <= 0 or over <= 0:
            raise InvalidInput(
                "loan.invalid_rate_change", "调整后的利率须大于零", f"{up}, {over} after the change"
            )
        return RatePair(up, over)

    supposed = RateEntry(
        effective_from=effective_from,
        first_home=moved(current.first_home),
        second_home=None if current.second_home is None else moved(current.second_home),
        source=f"what-if {change_bp:+d} bp",
    )
    table = (*(e for e in base if e.effective_from < effective_from), supposed)
    token = _SUPPOSED.set(table)
    try:
        yield table
    finally:
        _SUPPOSED.reset(token)


def entry_on(day: date, table: Sequence[RateEntry] | None = None) -> RateEntry:
    """The entry in force for loans contracted on ``day`` (latest ``effective_from ≤ day``)."""
    found = None
    for entry in table if table is not None else rate_table():
        if entry.effective_from <= day:
            found = entry
    if found is None:
        raise InvalidInput(
            "loan.rate_unknown",
            f"{day.isoformat()}尚无住房公积金贷款利率记录",
            f"no loan rate entry is effective on or before {day.isoformat()}",
        )
    return found


def rate_on(
    day: date, term_months: int, second_home: bool, table: Sequence[RateEntry] | None = None
) -> Decimal:
    """The annual rate of a loan contracted on ``day`` with this contract term."""
    return entry_on(day, table).rate(term_months, second_home)


# ------------------------------------------------------------------------------- re-pricing


def repricing_date(effective_from: date) -> date:
    """The day existing loans take a rate change: the next 1 January after it.

    ``2015-08-26`` → ``2016-01-01``; ``2025-05-08`` → ``2026-01-01``. A change effective on a
    1 January itself reaches existing loans a year later (no source covers that case).
    """
    return date(effective_from.year + 1, 1, 1)


def rate_for_existing_loan(
    contract_date: date,
    on: date,
    term_months: int,
    second_home: bool,
    table: Sequence[RateEntry] | None = None,
) -> Decimal:
    """The rate a loan contracted on ``contract_date`` pays on ``on``.

    The latest entry that either was in force on the contract day, or was a later change whose
    :func:`repricing_date` has come by ``on``.
    """
    rates = table if table is not None else rate_table()
    applicable = entry_on(contract_date, rates)
    for entry in rates:
        if entry.effective_from > contract_date and repricing_date(entry.effective_from) <= on:
            applicable = entry
    return applicable.rate(term_months, second_home)


def rate_changes(
    contract_date: date,
    through: date,
    term_months: int,
    second_home: bool,
    table: Sequence[RateEntry] | None = None,
) -> list[tuple[date, Decimal]]:
    """The days an existing loan is re-priced up to ``through``, with the new rate of each.

    Only real changes are listed (a change that leaves this loan's rate as it was is skipped);
    two changes in one year meet on the same 1 January, and the later one wins.
    """
    rates = table if table is not None else rate_table()
    current = rate_on(contract_date, term_months, second_home, rates)
    days = sorted(
        {
            repricing_date(e.effective_from)
            for e in rates
            if e.effective_from > contract_date and repricing_date(e.effective_from) <= through
        }
    )
    out = []
    for day in days:
        rate = rate_for_existing_loan(contract_date, day, term_months, second_home, rates)
        if rate != current:
            out.append((day, rate))
            current = rate
    return out
