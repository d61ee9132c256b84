"""Ledger use cases: post (one or many entries), reverse, close a period, read.

Callers own the transaction: every function here takes an open ``Connection`` and never
commits. Posting is idempotent by ``idempotency_key``: the same entry posted twice returns
the first id; a different entry under a used key is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, case, cast, func, insert, select

from hpf import events
from hpf.db.bulk import bulk_insert, chunks
from hpf.kernel.clock import Clock
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.ledger.chart import CHART, POSTABLE, Side
from hpf.ledger.posting import (
    EntryHeader,
    open_year_end,
    post,
    post_many,
    post_set,
    post_set_and_roll,
    roll_interest_year,
)
from hpf.ledger.queries import subject_totals_subquery
from hpf.ledger.rules import (
    BalancePart,
    JournalEntry,
    Line,
    period_of,
    previous_year_end,
    reversal,
)
from hpf.ledger.tables import (
    SUBJECT_STRIPES,
    employer_balance,
    journal_entry,
    journal_line,
    ledger_period,
    ledger_subject,
    member_balance,
    subject_balance,
)

# The posting engine lives in ``posting.py``; callers use it through this module.
__all__ = [
    "EntryHeader",
    "open_year_end",
    "post",
    "post_many",
    "post_set",
    "post_set_and_roll",
    "roll_interest_year",
]


# ------------------------------------------------------------------------------ typed results


@dataclass(frozen=True, slots=True)
class PostedEntry:
    """A journal entry's header as stored: the columns of ``journal_entry``."""

    id: int
    business_type: str
    business_id: str
    idempotency_key: str
    fingerprint: str
    value_date: date
    posting_date: date
    recorded_at: datetime
    actor: str
    memo: str
    reverses_entry_id: int | None


@dataclass(frozen=True, slots=True)
class SubjectTotals:
    """A subject of the chart with its cumulative debit and credit totals (fen, parents summed)
    and its balance signed by its normal side."""

    code: str
    name_zh: str
    name_en: str
    category: str
    normal_side: str  # D | C
    sub_ledger: str | None
    postable: bool
    local: bool
    debit_fen: int
    credit_fen: int
    balance_fen: int


@dataclass(frozen=True, slots=True)
class MemberPosting:
    """One line of a member's statement, with the running balance after it (fen)."""

    line_id: int
    entry_id: int
    value_date: date
    balance_part: str  # carried | current
    amount_fen: int  # signed: a credit raises the balance
    running_fen: int
    business_type: str
    business_id: str
    posting_date: date
    memo: str
    reverses_entry_id: int | None


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    """A subject's line of the 科目余额表 of a period (fen): opening, the period's debits and
    credits, closing; balances signed by the normal side and split onto the two columns."""

    code: str
    name_zh: str
    category: str
    normal_side: str
    postable: bool
    opening_fen: int
    opening_debit_fen: int
    opening_credit_fen: int
    debit_fen: int
    credit_fen: int
    closing_fen: int
    closing_debit_fen: int
    closing_credit_fen: int


@dataclass(frozen=True, slots=True)
class SubjectLine:
    """A line posted to a subject, as the subject's page lists it."""

    posting_date: date
    value_date: date
    entry_id: int
    subject_code: str
    business_type: str
    memo: str
    side: str  # D | C
    amount_fen: int


def sync_chart(conn: Connection) -> None:
    """Make the stored chart of accounts match ``chart.CHART`` (idempotent; run on upgrade)."""
    known = set(conn.scalars(select(ledger_subject.c.code)))
    new = [s for s in CHART if s.code not in known]
    if new:
        conn.execute(
            insert(ledger_subject),
            [
                {
                    "code": s.code,
                    "name_zh": s.name_zh,
                    "name_en": s.name_en,
                    "category": s.category.value,
                    "normal_side": s.normal_side.value,
                    "sub_ledger": s.sub_ledger.value if s.sub_ledger else None,
                    "postable": s.code in POSTABLE,
                    "local": s.local,
                }
                for s in new
            ],
        )
        conn.execute(
            insert(subject_balance),
            [
                {"subject_code": s.code, "stripe": stripe, "debit_fen": 0, "credit_fen": 0}
                for s in new
                for stripe in range(SUBJECT_STRIPES)
            ],
        )


def open_member_balances(conn: Connection, member_ids: Sequence[int]) -> None:
    """Create the (zero) sub-ledger accounts of newly opened members."""
    bulk_insert(
        conn,
        member_balance,
        ("member_id", "carried_fen", "current_fen"),
        [(m, 0, 0) for m in member_ids],
    )


def open_employer_balances(conn: Connection, employer_ids: Sequence[int]) -> None:
    bulk_insert(conn, employer_balance, ("employer_id", "balance_fen"), [(e, 0) for e in employer_ids])


# ---------------------------------------------------------------------------------- reversal


def load_entry(conn: Connection, entry_id: int) -> tuple[JournalEntry, PostedEntry]:
    head = conn.execute(select(journal_entry).where(journal_entry.c.id == entry_id)).mappings().first()
    if head is None:
        raise NotFound("ledger.entry_not_found", "记账凭证不存在", f"no journal entry {entry_id}")
    lines = conn.execute(
        select(journal_line).where(journal_line.c.entry_id == entry_id).order_by(journal_line.c.id)
    ).mappings()
    entry = JournalEntry(
        business_type=head["business_type"],
        business_id=head["business_id"],
        idempotency_key=head["idempotency_key"],
        value_date=head["value_date"],
        posting_date=head["posting_date"],
        memo=head["memo"],
        actor=head["actor"],
        reverses_entry_id=head["reverses_entry_id"],
        lines=tuple(
            Line(
                ln["subject_code"],
                Side(ln["side"]),
                ln["amount_fen"],
                ln["member_id"],
                ln["employer_id"],
                BalancePart(ln["balance_part"]) if ln["balance_part"] else None,
            )
            for ln in lines
        ),
    )
    return entry, PostedEntry(**head)  # the columns are the fields


def reverse(
    conn: Connection,
    entry_id: int,
    *,
    reason: str,
    actor: str,
    clock: Clock,
    idempotency_key: str | None = None,
) -> int:
    """Post the linked reversal of an entry (once; a reversal itself cannot be reversed)."""
    original, head = load_entry(conn, entry_id)
    if head.reverses_entry_id is not None:
        raise Conflict(
            "ledger.reverse_reversal", "冲账凭证不能再冲销", "a reversal cannot itself be reversed"
        )
    key = idempotency_key or f"reversal:{entry_id}"
    already = conn.scalar(select(journal_entry.c.id).where(journal_entry.c.reverses_entry_id == entry_id))
    if already is not None:
        replay = conn.scalar(select(journal_entry.c.idempotency_key).where(journal_entry.c.id == already))
        if replay == key:
            return int(already)
        raise Conflict(
            "ledger.already_reversed",
            "该凭证已冲销",
            f"entry {entry_id} was reversed by {already}",
            reversal_entry_id=already,
        )
    if not reason.strip():
        raise InvalidInput("ledger.reason_required", "冲账必须说明原因", "a reversal needs a reason")
    undo = reversal(
        original,
        entry_id,
        idempotency_key=key,
        posting_date=clock.today(),
        memo=f"冲销#{entry_id}: {reason}"[:200],
        actor=actor,
    )
    if any(line.member_id is not None for line in original.lines):
        # An entry valued in an interest year settled since (a payout reserved in June that the
        # bank refuses after the 30 June settlement) is undone on the first day of the open
        # year: a settled year's 积数 is closed, and what was that year's current part has been
        # carried over, so the lines move to the carried part. The member loses the interest of
        # those days on that amount, as with any money valued after a settlement.
        opened = previous_year_end(open_year_end(conn, clock.today())) + timedelta(days=1)
        if undo.value_date < opened:
            carried = tuple(
                dataclasses.replace(line, part=BalancePart.CARRIED)
                if line.part is BalancePart.CURRENT
                else line
                for line in undo.lines
            )
            undo = dataclasses.replace(undo, value_date=opened, lines=carried)
    return post(conn, undo, clock)


def close_period(conn: Connection, ctx: Context, period: str) -> None:
    """Close an accounting month; later postings dated in it are refused."""
    clock = ctx.clock
    try:
        year, month = (int(p) for p in period.split("-"))
        first_day = date(year, month, 1)
    except ValueError:
        raise InvalidInput(
            "ledger.period_format", "会计期间格式应为YYYY-MM", f"bad period {period!r}"
        ) from None
    if period_of(first_day) >= period_of(clock.today()):
        raise Conflict(
            "ledger.period_not_ended",
            "当前或未来会计期间不能结账",
            f"period {period} has not ended on business date {clock.today()}",
        )
    if conn.scalar(select(ledger_period.c.period).where(ledger_period.c.period == period)):
        return
    conn.execute(insert(ledger_period).values(period=period, closed_at=clock.now(), closed_by=ctx.actor))
    events.record(conn, ctx, "ledger_period.closed", "ledger_period", period, {"period": period})


def reverse_as_approved(
    conn: Connection, ctx: Context, payload: Mapping[str, Any], key: str
) -> dict[str, int]:
    """Carry out an approved ``ledger.reversal`` (maker-checker, ``hpf.approvals.service``)."""
    original = int(payload["entry_id"])
    entry_id = reverse(conn, original, reason=str(payload["reason"]), actor=ctx.actor, clock=ctx.clock,
                       idempotency_key=key)  # fmt: skip
    events.record(
        conn, ctx, "journal_entry.reversed", "journal_entry", original, {"reversal_entry_id": entry_id}
    )
    return {"entry_id": entry_id}


# -------------------------------------------------------------------------------------- reads


def member_balances(conn: Connection, member_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(carried, current) in fen per member id."""
    out: dict[int, tuple[int, int]] = {}
    for ids in chunks(list(member_ids)):
        for m, carried, current in conn.execute(_BALANCES_OF, {"ids": ids}):
            out[m] = (carried, current)
    return out


# Built once: a withdrawal reads its member's balance several times per request.
_BALANCES_OF = select(
    member_balance.c.member_id, member_balance.c.carried_fen, member_balance.c.current_fen
).where(member_balance.c.member_id.in_(bindparam("ids", expanding=True)))


def employer_balance_of(conn: Connection, employer_id: int) -> int:
    return int(
        conn.scalar(
            select(employer_balance.c.balance_fen).where(employer_balance.c.employer_id == employer_id)
        )
        or 0
    )


def _subjects_with_totals(conn: Connection) -> Sequence[Any]:
    """Every subject of the chart with its stored debit and credit totals, by code."""
    totals = subject_totals_subquery("totals")
    return (
        conn.execute(
            select(ledger_subject, totals.c.debit_fen, totals.c.credit_fen)
            .join(totals, totals.c.subject_code == ledger_subject.c.code)
            .order_by(ledger_subject.c.code)
        )
        .mappings()
        .all()
    )


def subject_balances(conn: Connection) -> list[SubjectTotals]:
    """Every subject with its debit and credit totals and signed balance (parents summed)."""
    rows = _subjects_with_totals(conn)
    totals = {r["code"]: [r["debit_fen"], r["credit_fen"]] for r in rows}
    for r in rows:  # roll leaves up into their parents
        if r["postable"]:
            code = r["code"]
            for parent in (c for c in totals if c != code and code.startswith(c)):
                totals[parent][0] += r["debit_fen"]
                totals[parent][1] += r["credit_fen"]
    out = []
    for r in rows:
        debit, credit = totals[r["code"]]
        sign = 1 if r["normal_side"] == Side.DEBIT.value else -1
        out.append(
            SubjectTotals(
                code=r["code"],
                name_zh=r["name_zh"],
                name_en=r["name_en"],
                category=r["category"],
                normal_side=r["normal_side"],
                sub_ledger=r["sub_ledger"],
                postable=r["postable"],
                local=r["local"],
                debit_fen=debit,
                credit_fen=credit,
                balance_fen=sign * (debit - credit),
            )
        )
    return out


def find_entries(
    conn: Connection,
    *,
    business_id: str | None = None,
    posted_from: date | None = None,
    posted_to: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[PostedEntry]:
    """Journal entries (headers), newest first, of one business id and posting dates if given."""
    stmt = select(journal_entry)
    if business_id:
        stmt = stmt.where(journal_entry.c.business_id == business_id)
    if posted_from:
        stmt = stmt.where(journal_entry.c.posting_date >= posted_from)
    if posted_to:
        stmt = stmt.where(journal_entry.c.posting_date <= posted_to)
    rows = conn.execute(stmt.order_by(journal_entry.c.id.desc()).limit(limit).offset(offset)).mappings()
    return [PostedEntry(**r) for r in rows]


def member_statement(
    conn: Connection, member_id: int, *, limit: int = 100, offset: int = 0
) -> list[MemberPosting]:
    """A member's postings, newest first, with the running balance after each.

    The running balance is summed in value-date order (value date, entry, line) and the page is
    read in exactly the reverse of that order, so two lines of one entry read consistently: the
    line posted last, with the newest balance, on top.
    """
    # credit raises a member balance
    delta = case((journal_line.c.side == "C", journal_line.c.amount_fen), else_=-journal_line.c.amount_fen)
    order = (journal_line.c.value_date, journal_line.c.entry_id, journal_line.c.id)
    inner = (
        select(
            journal_line.c.id.label("line_id"),
            journal_line.c.entry_id,
            journal_line.c.value_date,
            journal_line.c.balance_part,
            delta.label("amount_fen"),
            # SUM() is NUMERIC on PostgreSQL: the running balance is read back as integer fen
            cast(func.sum(delta).over(order_by=order), BigInteger).label("running_fen"),
            journal_entry.c.business_type,
            journal_entry.c.business_id,
            journal_entry.c.posting_date,
            journal_entry.c.memo,
            journal_entry.c.reverses_entry_id,
        )
        .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
        .where(journal_line.c.member_id == member_id)
        .order_by(*order)
        .subquery()
    )
    rows = conn.execute(
        select(inner)
        .order_by(inner.c.value_date.desc(), inner.c.entry_id.desc(), inner.c.line_id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    return [MemberPosting(**r) for r in rows]  # the inner query's columns are the fields


# ------------------------------------------------------------------------ period trial balance


def _rolled_up(rows: Sequence[Any], values: dict[str, list[int]]) -> dict[str, list[int]]:
    """Leaf figures summed into every listed ancestor (a code is its parents' prefix)."""
    out = {r["code"]: [0, 0, 0, 0] for r in rows}
    for code, figures in values.items():
        for target in (c for c in out if code.startswith(c)):
            out[target] = [a + b for a, b in zip(out[target], figures, strict=True)]
    return out


def period_trial_balance(conn: Connection, start: date, end: date) -> list[TrialBalanceRow]:
    """科目余额表 of a period (posting dates ``start``…``end``): per subject the opening balance,
    the period's debits and credits and the closing balance, parents summed from their leaves.

    Set-based: one grouped query over the lines posted on or after ``start`` (joined to their
    entries' posting dates) and the materialised cumulative balances; the opening is the
    cumulative balance less everything posted since ``start``, the closing the opening plus the
    period. Balances are signed by the subject's normal side and also split onto the debit or
    credit column (``*_debit_fen``/``*_credit_fen``), so that the columns of the leaves balance.
    """
    if end < start:
        raise InvalidInput("ledger.period_order", "起始日期不能晚于终止日期", f"{start} is after {end}")
    posted = journal_entry.c.posting_date
    amount = journal_line.c.amount_fen
    is_debit = journal_line.c.side == Side.DEBIT.value
    in_period = posted <= end

    def total(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)

    since = {
        code: [int(d_all), int(c_all), int(d_period), int(c_period)]
        for code, d_all, c_all, d_period, c_period in conn.execute(
            select(
                journal_line.c.subject_code,
                total(is_debit),
                total(~is_debit),
                total(is_debit & in_period),
                total(~is_debit & in_period),
            )
            .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
            .where(posted >= start)
            .group_by(journal_line.c.subject_code)
        )
    }
    rows = _subjects_with_totals(conn)
    leaves: dict[str, list[int]] = {}
    for r in rows:
        if not r["postable"]:
            continue
        d_all, c_all, d_period, c_period = since.get(r["code"], [0, 0, 0, 0])
        opening = (int(r["debit_fen"]) - d_all) - (int(r["credit_fen"]) - c_all)  # debit minus credit
        leaves[r["code"]] = [opening, d_period, c_period, opening + d_period - c_period]
    rolled = _rolled_up(rows, leaves)
    out = []
    for r in rows:
        opening, debit, credit, closing = rolled[r["code"]]
        sign = 1 if r["normal_side"] == Side.DEBIT.value else -1
        out.append(
            TrialBalanceRow(
                code=r["code"],
                name_zh=r["name_zh"],
                category=r["category"],
                normal_side=r["normal_side"],
                postable=r["postable"],
                opening_fen=sign * opening,
                opening_debit_fen=max(opening, 0),
                opening_credit_fen=max(-opening, 0),
                debit_fen=debit,
                credit_fen=credit,
                closing_fen=sign * closing,
                closing_debit_fen=max(closing, 0),
                closing_credit_fen=max(-closing, 0),
            )
        )
    return out


def subject_lines(
    conn: Connection, code: str, start: date, end: date, *, limit: int = 50, offset: int = 0
) -> tuple[list[SubjectLine], int]:
    """The lines posted to ``code`` (and its sub-subjects) in the period, oldest first, one page;
    and how many there are in all. Each line: posting and value dates, entry id, memo, business
    type, side, amount."""
    if conn.scalar(select(ledger_subject.c.code).where(ledger_subject.c.code == code)) is None:
        raise NotFound("ledger.unknown_subject", "科目不存在", f"no subject {code}")
    where = (
        journal_line.c.subject_code.startswith(code, autoescape=True),
        journal_entry.c.posting_date >= start,
        journal_entry.c.posting_date <= end,
    )
    joined = journal_line.join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
    count = int(conn.scalar(select(func.count()).select_from(joined).where(*where)) or 0)
    lines = conn.execute(
        select(
            journal_entry.c.posting_date,
            journal_line.c.value_date,
            journal_line.c.entry_id,
            journal_line.c.subject_code,
            journal_entry.c.business_type,
            journal_entry.c.memo,
            journal_line.c.side,
            journal_line.c.amount_fen,
        )
        .select_from(joined)
        .where(*where)
        .order_by(journal_entry.c.posting_date, journal_line.c.entry_id, journal_line.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [SubjectLine(*r) for r in lines], count
