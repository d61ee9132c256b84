"""Ledger use cases: post (one or many entries), reverse, close a period, read, check.

Callers own the transaction: every function here takes an open ``Connection`` and never
commits. Posting is idempotent by ``idempotency_key``: the same entry posted twice returns
the first id; a different entry under a used key is refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from hpf.db.bulk import bulk_insert, chunks
from hpf.kernel.clock import Clock
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.ledger.chart import CHART, POSTABLE, Side
from hpf.ledger.rules import (
    BalancePart,
    JournalEntry,
    Line,
    employer_deltas,
    member_deltas,
    period_of,
    reversal,
)
from hpf.ledger.tables import (
    employer_balance,
    journal_entry,
    journal_line,
    ledger_period,
    ledger_subject,
    member_balance,
    subject_balance,
)

# Above this many changed balances, deltas go through a staging table and one UPDATE.
_STAGE_THRESHOLD = 2000


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
            [{"subject_code": s.code, "debit_fen": 0, "credit_fen": 0} for s in new],
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


def post(conn: Connection, entry: JournalEntry, clock: Clock) -> int:
    """Post one entry; returns its id (the existing id when replayed)."""
    return post_many(conn, [entry], clock)[0]


def post_many(conn: Connection, entries: Sequence[JournalEntry], clock: Clock) -> list[int]:
    """Post entries set-wise: one insert of entries, one of lines, one update per balance kind."""
    existing = _existing_by_key(conn, entries)
    ids: list[int | None] = [existing.get(e.idempotency_key) for e in entries]
    fresh = [e for e, known in zip(entries, ids, strict=True) if known is None]
    if len({e.idempotency_key for e in fresh}) != len(fresh):
        raise InvalidInput("ledger.duplicate_key_in_batch", "同一批次中幂等键重复", "idempotency keys repeat")
    if fresh:
        _refuse_closed_periods(conn, {period_of(e.posting_date) for e in fresh})
        new_ids = _insert_entries(conn, fresh, clock)
        _insert_lines(conn, fresh, new_ids)
        _apply_balances(conn, [line for e in fresh for line in e.lines])
        fresh_ids = iter(new_ids)
        ids = [known if known is not None else next(fresh_ids) for known in ids]
    return [i for i in ids if i is not None]


def _existing_by_key(conn: Connection, entries: Sequence[JournalEntry]) -> dict[str, int]:
    wanted = {e.idempotency_key: e for e in entries}
    found: dict[str, int] = {}
    for keys in chunks(list(wanted)):
        rows = conn.execute(
            select(journal_entry.c.idempotency_key, journal_entry.c.id, journal_entry.c.fingerprint).where(
                journal_entry.c.idempotency_key.in_(keys)
            )
        )
        for key, entry_id, fingerprint in rows:
            if fingerprint != wanted[key].fingerprint:
                raise Conflict(
                    "ledger.idempotency_conflict",
                    "幂等键已用于另一笔不同的记账",
                    f"idempotency key {key!r} was already used for a different entry",
                    entry_id=entry_id,
                )
            found[key] = entry_id
    return found


def _refuse_closed_periods(conn: Connection, periods: set[str]) -> None:
    closed = conn.scalars(select(ledger_period.c.period).where(ledger_period.c.period.in_(periods)))
    first = min(closed, default=None)
    if first is not None:
        raise Conflict(
            "ledger.period_closed",
            "会计期间已结账，不能记账",
            f"accounting period {first} is closed; post in an open period or reverse later",
            period=first,
        )


def _insert_entries(conn: Connection, entries: Sequence[JournalEntry], clock: Clock) -> list[int]:
    recorded_at = clock.now()
    rows = [
        {
            "business_type": e.business_type,
            "business_id": e.business_id,
            "idempotency_key": e.idempotency_key,
            "fingerprint": e.fingerprint,
            "value_date": e.value_date,
            "posting_date": e.posting_date,
            "recorded_at": recorded_at,
            "actor": e.actor,
            "memo": e.memo,
            "reverses_entry_id": e.reverses_entry_id,
        }
        for e in entries
    ]
    try:
        result = conn.execute(
            insert(journal_entry).returning(journal_entry.c.id, sort_by_parameter_order=True), rows
        )
    except IntegrityError as exc:
        raise Conflict(
            "ledger.concurrent_duplicate",
            "同一笔记账正在处理中",
            "another request posted the same idempotency key or reversal at the same time; retry",
        ) from exc
    return list(result.scalars())


def _insert_lines(conn: Connection, entries: Sequence[JournalEntry], ids: Sequence[int]) -> None:
    bulk_insert(
        conn,
        journal_line,
        (
            "entry_id",
            "line_no",
            "subject_code",
            "side",
            "amount_fen",
            "member_id",
            "employer_id",
            "balance_part",
            "value_date",
        ),
        [
            (
                entry_id,
                n,
                ln.subject,
                ln.side.value,
                ln.amount_fen,
                ln.member_id,
                ln.employer_id,
                ln.part.value if ln.part else None,
                e.value_date,
            )
            for e, entry_id in zip(entries, ids, strict=True)
            for n, ln in enumerate(e.lines, start=1)
        ],
    )


def _apply_balances(conn: Connection, lines: Sequence[Line]) -> None:
    lines_t = tuple(lines)
    by_subject: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ln in lines_t:
        by_subject[ln.subject][0 if ln.side is Side.DEBIT else 1] += ln.amount_fen
    _apply(
        conn,
        "subject_balance",
        "subject_code",
        ("debit_fen", "credit_fen"),
        [(code, d, c) for code, (d, c) in by_subject.items()],
        key_type="VARCHAR(10)",
    )
    per_member: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for (member_id, part), delta in member_deltas(lines_t).items():
        per_member[member_id][0 if part is BalancePart.CARRIED else 1] += delta
    _apply(
        conn,
        "member_balance",
        "member_id",
        ("carried_fen", "current_fen"),
        [(m, c, d) for m, (c, d) in per_member.items()],
    )
    _apply(
        conn,
        "employer_balance",
        "employer_id",
        ("balance_fen",),
        [(e, d) for e, d in employer_deltas(lines_t).items()],
    )


def _apply(
    conn: Connection,
    table: str,
    key: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    key_type: str = "BIGINT",
) -> None:
    """Add deltas to materialised balances; a CHECK violation means an overdraft."""
    if not rows:
        return
    sets = ", ".join(f"{c} = {table}.{c} + s.d{i}" for i, c in enumerate(columns))
    try:
        if len(rows) <= _STAGE_THRESHOLD:
            assigns = ", ".join(f"{c} = {c} + :d{i}" for i, c in enumerate(columns))
            params = [{"k": r[0], **{f"d{i}": v for i, v in enumerate(r[1:])}} for r in rows]
            conn.execute(text(f"UPDATE {table} SET {assigns} WHERE {key} = :k"), params)
        else:
            stage = f"stage_{table}"
            deltas = ", ".join(f"d{i} BIGINT NOT NULL" for i in range(len(columns)))
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
            conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {stage} (k {key_type} PRIMARY KEY, {deltas})")
            names = ["k", *[f"d{i}" for i in range(len(columns))]]
            bulk_insert(conn, stage, names, rows)
            conn.exec_driver_sql(f"UPDATE {table} SET {sets} FROM {stage} AS s WHERE {table}.{key} = s.k")
            conn.exec_driver_sql(f"DROP TABLE {stage}")
    except IntegrityError as exc:
        raise Conflict(
            "ledger.insufficient_balance",
            "余额不足",
            f"posting would make a {table.replace('_balance', '')} balance negative",
        ) from exc



# ---------------------------------------------------------------------------------- reversal


def load_entry(conn: Connection, entry_id: int) -> tuple[JournalEntry, dict[str, Any]]:
    head = conn.execute(select(journal_entry).where(journal_entry.c.id == entry_id)).mappings().first()
    if head is None:
        raise NotFound("ledger.entry_not_found", "记账凭证不存在", f"no journal entry {entry_id}")
    lines = conn.execute(
        select(journal_line).where(journal_line.c.entry_id == entry_id).order_by(journal_line.c.line_no)
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
    return entry, dict(head)


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
    if head["reverses_entry_id"] is not None:
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
    return post(
        conn,
        reversal(
            original,
            entry_id,
            idempotency_key=key,
            posting_date=clock.today(),
            memo=f"冲销#{entry_id}: {reason}"[:200],
            actor=actor,
        ),
        clock,
    )


def close_period(conn: Connection, period: str, *, actor: str, clock: Clock) -> None:
    """Close an accounting month; later postings dated in it are refused."""
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
    conn.execute(insert(ledger_period).values(period=period, closed_at=clock.now(), closed_by=actor))


# -------------------------------------------------------------------------------------- reads


def member_balances(conn: Connection, member_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(carried, current) in fen per member id."""
    out: dict[int, tuple[int, int]] = {}
    for ids in chunks(list(member_ids)):
        for m, carried, current in conn.execute(
            select(
                member_balance.c.member_id, member_balance.c.carried_fen, member_balance.c.current_fen
            ).where(member_balance.c.member_id.in_(ids))
        ):
            out[m] = (carried, current)
    return out


def employer_balance_of(conn: Connection, employer_id: int) -> int:
    return int(
        conn.scalar(
            select(employer_balance.c.balance_fen).where(employer_balance.c.employer_id == employer_id)
        )
        or 0
    )


def subject_balances(conn: Connection) -> list[dict[str, Any]]:
    """Every subject with its debit and credit totals and signed balance (parents summed)."""
    rows = (
        conn.execute(
            select(ledger_subject, subject_balance.c.debit_fen, subject_balance.c.credit_fen)
            .join(subject_balance, subject_balance.c.subject_code == ledger_subject.c.code)
            .order_by(ledger_subject.c.code)
        )
        .mappings()
        .all()
    )
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
            {**dict(r), "debit_fen": debit, "credit_fen": credit, "balance_fen": sign * (debit - credit)}
        )
    return out


def member_statement(
    conn: Connection, member_id: int, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """A member's postings in value-date order with the running balance after each."""
    # credit raises a member balance
    delta = case((journal_line.c.side == "C", journal_line.c.amount_fen), else_=-journal_line.c.amount_fen)
    order = (journal_line.c.value_date, journal_line.c.entry_id, journal_line.c.id)
    inner = (
        select(
            journal_line.c.entry_id,
            journal_line.c.value_date,
            journal_line.c.balance_part,
            delta.label("amount_fen"),
            func.sum(delta).over(order_by=order).label("running_fen"),
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
        select(inner).order_by(inner.c.value_date.desc(), inner.c.entry_id.desc()).limit(limit).offset(offset)
    ).mappings()
    return [dict(r) for r in rows]
