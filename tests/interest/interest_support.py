"""Helpers for the interest tests: a small center, and postings that post and read like a business person would.

The worked example of REFERENCE §2.5: 10,000.00 carried over at 2024-06-30, +1,000.00 remitted
2024-09-15, −3,000.00 partial withdrawal 2025-03-10, settled 2025-06-30.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.db.engine import read_transaction, write_transaction
from hpf.interest import service as interest
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.ledger.tables import journal_entry, journal_line, member_balance
from hpf.policy.rules import DepositRate

D, C = Side.DEBIT, Side.CREDIT
RATE_1_5 = (DepositRate(date(2016, 2, 21), Decimal("0.015"), Decimal("0.015")),)
YEAR_2024 = date(2024, 6, 30)
YEAR_2025 = date(2025, 6, 30)


def open_center(engine, ctx, clock, members: int = 3) -> list[int]:
    """Members of one employer, opened 2024-06-30 (business date), balances zero."""
    clock.set(YEAR_2024)
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        return [
            accounts.open_member(conn, ctx, emp.account_no, member_payload(i)).id
            for i in range(1, members + 1)
        ]


def deposit(conn, ctx, member_id: int, fen: int, day: date, part=BalancePart.CURRENT) -> int:
    """汇缴 valued ``day``: Dr 101 bank / Cr 201 member."""
    key = f"dep:{member_id}:{day}:{fen}:{part.value}"
    lines = (Line("101", D, fen), Line("201", C, fen, member_id=member_id, part=part))
    return ledger.post(conn, JournalEntry("01", key, key, day, ctx.clock.today(), lines), ctx.clock)


def withdraw(conn, ctx, member_id: int, fen: int, day: date) -> int:
    """提取 valued ``day``, from the current-year part first, then the carried part."""
    carried, current = ledger.member_balances(conn, [member_id])[member_id]
    from_current = min(current, fen)
    parts = ((BalancePart.CURRENT, from_current), (BalancePart.CARRIED, fen - from_current))
    lines = (
        *tuple(Line("201", D, x, member_id=member_id, part=p) for p, x in parts if x),
        Line("101", C, fen),
    )
    facts = f"{member_id}:{day}:{fen}:{carried}:{current}"
    key = "wd:" + hashlib.sha256(facts.encode()).hexdigest()[:32]  # business_id is VARCHAR(40)
    return ledger.post(conn, JournalEntry("11", key, key, day, ctx.clock.today(), lines), ctx.clock)


def settle(engine, ctx, clock, year_end: date, day_basis: int = 360, rates=RATE_1_5, **kw):
    clock.set(year_end)
    return interest.settle_year(engine, ctx, year_end, day_basis=day_basis, rates=rates, **kw)


def carry_in(engine, ctx, clock, balances: dict[int, int]) -> None:
    """Give members carried-over balances at 2024-06-30: post them valued 2024-06-30 and settle
    that year (no days left in it, so no interest; the settlement carries them over)."""
    clock.set(YEAR_2024)
    with write_transaction(engine) as conn:
        for member_id, fen in balances.items():
            deposit(conn, ctx, member_id, fen, YEAR_2024)
    summary = settle(engine, ctx, clock, YEAR_2024)
    assert summary.interest_fen == 0


def worked_example(engine, ctx, clock, member_id: int, also_carried: dict[int, int] | None = None) -> None:
    """REFERENCE §2.5 up to (not including) the settlement of 2025-06-30 (``also_carried``:
    other members' balances carried over at 2024-06-30)."""
    carry_in(engine, ctx, clock, {member_id: 1_000_000, **(also_carried or {})})
    clock.set(date(2024, 9, 15))
    with write_transaction(engine) as conn:
        deposit(conn, ctx, member_id, 100_000, date(2024, 9, 15))
    clock.set(date(2025, 3, 10))
    with write_transaction(engine) as conn:
        withdraw(conn, ctx, member_id, 300_000, date(2025, 3, 10))


def balances(engine, member_ids) -> dict[int, tuple[int, int]]:
    with read_transaction(engine) as conn:
        return ledger.member_balances(conn, member_ids)


def annual_interest(engine, year_end: date) -> dict[int, int]:
    """Interest credited per member by the annual settlement of ``year_end``."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(journal_line.c.member_id, journal_line.c.amount_fen)
            .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
            .where(
                journal_entry.c.business_id == interest.annual_business_id(year_end),
                journal_entry.c.idempotency_key.like("interest:%"),
                journal_line.c.member_id.is_not(None),
            )
        ).all()
    out: dict[int, int] = {}
    for member_id, fen in rows:
        out[member_id] = out.get(member_id, 0) + fen
    return out


def accruals(engine, member_id: int) -> tuple[int, int]:
    with read_transaction(engine) as conn:
        row = conn.execute(
            select(member_balance.c.accrual_carried, member_balance.c.accrual_current).where(
                member_balance.c.member_id == member_id
            )
        ).one()
    return row[0], row[1]
