"""Journal entries as frozen values that refuse to exist unbalanced.

Pure: no database, no clock. A ``JournalEntry`` checks on construction that it has lines, that
every amount is a positive integer of fen, that debits equal credits, that each line names a
postable subject, and that member and employer sub-ledger lines carry the right detail.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from hpf.kernel.errors import InvalidInput
from hpf.ledger.chart import POSTABLE, SUBJECTS, Side, SubLedger


class BalancePart(StrEnum):
    """The two parts of a member balance in the data standard (GRZHSNJZYE / GRZHDNGJYE)."""

    CARRIED = "carried"  # 上年结转余额
    CURRENT = "current"  # 当年归集余额


def _unbalanced(detail: str, **extra: Any) -> InvalidInput:
    return InvalidInput("ledger.invalid_entry", "记账凭证不合法", detail, **extra)


@dataclass(frozen=True)
class Line:
    subject: str
    side: Side
    amount_fen: int
    member_id: int | None = None
    employer_id: int | None = None
    part: BalancePart | None = None

    def __post_init__(self) -> None:
        if isinstance(self.amount_fen, bool) or not isinstance(self.amount_fen, int):
            raise _unbalanced("line amount must be an integer number of fen")
        if self.amount_fen <= 0:
            raise _unbalanced("line amount must be positive; use the other side instead")
        if self.subject not in POSTABLE:
            raise _unbalanced(f"subject {self.subject} does not exist or is not a leaf")
        kind = SUBJECTS[self.subject].sub_ledger
        if kind is SubLedger.MEMBER:
            if self.member_id is None or self.part is None:
                raise _unbalanced(f"a {self.subject} line needs a member and a balance part")
            if self.employer_id is not None:
                raise _unbalanced(f"a {self.subject} line names a member, not an employer")
        elif kind is SubLedger.EMPLOYER:
            if self.employer_id is None or self.member_id is not None or self.part is not None:
                raise _unbalanced(f"a {self.subject} line needs an employer and nothing else")
        elif self.member_id is not None or self.employer_id is not None or self.part is not None:
            raise _unbalanced(f"subject {self.subject} keeps no sub-ledger")

    @property
    def signed_fen(self) -> int:
        """Debit positive, credit negative."""
        return self.amount_fen if self.side is Side.DEBIT else -self.amount_fen

    def mirrored(self) -> Line:
        other = Side.CREDIT if self.side is Side.DEBIT else Side.DEBIT
        return Line(self.subject, other, self.amount_fen, self.member_id, self.employer_id, self.part)


@dataclass(frozen=True)
class JournalEntry:
    """A balanced set of lines with the four facts that identify and date it."""

    business_type: str  # 归集和提取业务类型 / 贷款业务明细类型 code
    business_id: str  # the business object this entry belongs to (业务流水号)
    idempotency_key: str
    value_date: date
    posting_date: date
    lines: tuple[Line, ...]
    memo: str = ""
    actor: str = "system"
    reverses_entry_id: int | None = None
    fingerprint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.lines) < 2:
            raise _unbalanced("an entry needs at least two lines")
        if not self.idempotency_key or len(self.idempotency_key) > 80:
            raise _unbalanced("an entry needs an idempotency key of 1..80 characters")
        debit = sum(line.amount_fen for line in self.lines if line.side is Side.DEBIT)
        credit = sum(line.amount_fen for line in self.lines if line.side is Side.CREDIT)
        if debit != credit:
            raise _unbalanced(
                f"debits {debit} fen ≠ credits {credit} fen", debit_fen=debit, credit_fen=credit
            )
        object.__setattr__(self, "fingerprint", _fingerprint(self))

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines if line.side is Side.DEBIT)


def _fingerprint(entry: JournalEntry) -> str:
    """What makes two requests "the same entry" for idempotent replay."""
    payload = [
        entry.business_type,
        entry.business_id,
        entry.value_date.isoformat(),
        entry.reverses_entry_id,
        [
            [ln.subject, ln.side.value, ln.amount_fen, ln.member_id, ln.employer_id, ln.part]
            for ln in entry.lines
        ],
    ]
    return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


def reversal(
    original: JournalEntry,
    original_id: int,
    *,
    idempotency_key: str,
    posting_date: date,
    memo: str,
    actor: str,
) -> JournalEntry:
    """The entry that undoes ``original``: same lines, sides swapped, same value date."""
    return JournalEntry(
        business_type=original.business_type,
        business_id=original.business_id,
        idempotency_key=idempotency_key,
        value_date=original.value_date,
        posting_date=posting_date,
        lines=tuple(line.mirrored() for line in original.lines),
        memo=memo,
        actor=actor,
        reverses_entry_id=original_id,
    )


def member_deltas(lines: tuple[Line, ...]) -> dict[tuple[int, BalancePart], int]:
    """Change of each member balance part (credit raises a member's balance)."""
    deltas: dict[tuple[int, BalancePart], int] = defaultdict(int)
    for line in lines:
        if line.member_id is not None and line.part is not None:
            deltas[(line.member_id, line.part)] -= line.signed_fen
    return dict(deltas)


def employer_deltas(lines: tuple[Line, ...]) -> dict[int, int]:
    deltas: dict[int, int] = defaultdict(int)
    for line in lines:
        if line.employer_id is not None:
            deltas[line.employer_id] -= line.signed_fen
    return dict(deltas)


def period_of(day: date) -> str:
    """The accounting period (month) a posting date falls in: ``2025-03``."""
    return f"{day.year:04d}-{day.month:02d}"


# The interest year (计息年度) runs 1 July – 30 June (REFERENCE §2.2); settlement is on 30 June.
INTEREST_YEAR_END = (6, 30)


def interest_year_end(day: date) -> date:
    """The settlement date closing the interest year that ``day`` falls in."""
    month, dom = INTEREST_YEAR_END
    end = date(day.year, month, dom)
    return end if day <= end else date(day.year + 1, month, dom)


def previous_year_end(year_end: date) -> date:
    return date(year_end.year - 1, year_end.month, year_end.day)


def accrual_days(year_end: date, value_date: date) -> int:
    """Days a change on ``value_date`` counts in the year's 积数 (预计积数 method, REFERENCE §2.5).

    A change on 09-15 counts from 09-16 to 06-30 inclusive: ``year_end - value_date`` days.
    """
    return (year_end - value_date).days
