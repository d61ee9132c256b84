"""The posting engine: entries in, journal rows and materialised balances out, set-wise.

Two ways in, one way through:

- ``post_many`` takes ``JournalEntry`` values (validated at construction) for interactive calls
  and moderate batches;
- ``post_set`` takes entry headers plus a SQL ``SELECT`` that yields the lines, for batch jobs
  (month-end, interest settlement) where a Python loop over a million rows is not acceptable;
  the lines are then validated in SQL before the transaction may commit.

Both insert the entries (idempotent by key), insert the lines, and add the deltas to the
subject, member and employer balances through one ``UPDATE … FROM`` per kind. Member deltas
carry their 积数 (accrual) change for the open interest year. A ``CHECK`` on the balance rows
turns any overdraft into ``ledger.insufficient_balance`` and the caller's rollback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    CompoundSelect,
    Connection,
    Date,
    MetaData,
    Select,
    SmallInteger,
    String,
    Table,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from hpf.db.bulk import bulk_insert, chunks
from hpf.kernel.clock import Clock
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.ledger.chart import POSTABLE, SUBJECTS, SubLedger
from hpf.ledger.rules import (
    JournalEntry,
    accrual_days,
    interest_year_end,
    period_of,
    previous_year_end,
)
from hpf.ledger.tables import accrual_year, journal_entry, journal_line, ledger_period

_LINE_COLUMNS = (
    "entry_id",
    "subject_code",
    "side",
    "amount_fen",
    "member_id",
    "employer_id",
    "balance_part",
    "value_date",
    "accrual_days",
)
# Up to this many new entries, balance deltas select them with an IN list; above, a temp table.
_IN_LIST_LIMIT = 500


@dataclass(frozen=True)
class EntryHeader:
    """An entry whose lines come from SQL (``post_set``)."""

    business_type: str
    business_id: str
    idempotency_key: str
    value_date: date
    posting_date: date
    memo: str = ""
    actor: str = "system"

    @property
    def fingerprint(self) -> str:
        raw = f"set|{self.business_type}|{self.business_id}|{self.value_date}"
        return hashlib.sha256(raw.encode()).hexdigest()


# -------------------------------------------------------------------------- the interest year


def open_year_end(conn: Connection, hint: date) -> date:
    """The end of the open interest year, opening the one containing ``hint`` if none is."""
    year_end = conn.scalar(select(accrual_year.c.year_end).where(accrual_year.c.state == "open"))
    if year_end is None:
        year_end = interest_year_end(hint)
        conn.execute(insert(accrual_year).values(year_end=year_end, state="open"))
    return year_end


def _refuse_value_dates(value_dates: set[date], year_end: date) -> None:
    start = previous_year_end(year_end)
    bad = sorted(d for d in value_dates if not start < d <= year_end)
    if bad:
        raise Conflict(
            "ledger.value_date_outside_interest_year",
            "起息日期不在当前计息年度内",
            f"member postings must be valued in the open interest year ({start}, {year_end}]; "
            f"got {bad[0]} (settle the year first, or correct the value date)",
            value_date=str(bad[0]),
        )


# ------------------------------------------------------------------------------------ entries


def post(conn: Connection, entry: JournalEntry, clock: Clock) -> int:
    """Post one entry; returns its id (the existing id when replayed)."""
    return post_many(conn, [entry], clock)[0]


def post_many(conn: Connection, entries: Sequence[JournalEntry], clock: Clock) -> list[int]:
    """Post validated entries; replayed keys return their first ids and post nothing."""
    existing = _existing_by_key(conn, {e.idempotency_key: e.fingerprint for e in entries})
    fresh = [e for e in entries if e.idempotency_key not in existing]
    if len({e.idempotency_key for e in fresh}) != len(fresh):
        raise InvalidInput("ledger.duplicate_key_in_batch", "同一批次中幂等键重复", "idempotency keys repeat")
    if fresh:
        _refuse_closed_periods(conn, {period_of(e.posting_date) for e in fresh})
        member_dates = {e.value_date for e in fresh if any(ln.member_id is not None for ln in e.lines)}
        year_end = open_year_end(conn, min(member_dates)) if member_dates else None
        if year_end is not None:
            _refuse_value_dates(member_dates, year_end)
        new_ids = _insert_entries(conn, fresh, clock)
        rows = []
        for e, entry_id in zip(fresh, new_ids, strict=True):
            days = accrual_days(year_end, e.value_date) if year_end is not None else None
            for ln in e.lines:
                member_days = days if ln.member_id is not None else None
                part = ln.part.value if ln.part else None
                rows.append(
                    (entry_id, ln.subject, ln.side.value, ln.amount_fen, ln.member_id,
                     ln.employer_id, part, e.value_date, member_days)
                )  # fmt: skip
        bulk_insert(conn, journal_line, _LINE_COLUMNS, rows)
        existing.update({e.idempotency_key: i for e, i in zip(fresh, new_ids, strict=True)})
        _apply_balances(conn, new_ids)
    return [existing[e.idempotency_key] for e in entries]


def post_set(
    conn: Connection, headers: Sequence[EntryHeader], lines: Select[Any] | CompoundSelect[Any], clock: Clock
) -> dict[str, int]:
    """Post entries whose lines are produced by ``lines``, entirely in SQL.

    ``lines`` must yield, in this order, ``entry_key`` (an idempotency key of ``headers``),
    ``subject_code``, ``side``, ``amount_fen``, ``member_id``, ``employer_id``, ``balance_part``.
    Lines take their entry's value date. Returns ``{idempotency_key: entry_id}``; replayed keys
    keep their first ids and their lines are not inserted again.
    """
    existing = _existing_by_key(conn, {h.idempotency_key: h.fingerprint for h in headers})
    fresh = [h for h in headers if h.idempotency_key not in existing]
    if not fresh:
        return existing
    _refuse_closed_periods(conn, {period_of(h.posting_date) for h in fresh})
    year_end = open_year_end(conn, min(h.value_date for h in fresh))
    _refuse_value_dates({h.value_date for h in fresh}, year_end)
    new_ids = _insert_entries(conn, fresh, clock)
    for table in (_stage_entry, _stage_line):
        table.drop(conn, checkfirst=True)
        table.create(conn)
    bulk_insert(
        conn, _stage_entry.name, ("entry_key", "entry_id", "value_date", "accrual_days"),
        [
            (h.idempotency_key, i, h.value_date, accrual_days(year_end, h.value_date))
            for h, i in zip(fresh, new_ids, strict=True)
        ],
    )  # fmt: skip
    conn.execute(insert(_stage_line).from_select([c.name for c in _stage_line.c], lines))
    if conn.dialect.name == "postgresql":  # temporary tables get no statistics unless asked
        conn.exec_driver_sql("ANALYZE stage_entry")
        conn.exec_driver_sql("ANALYZE stage_line")
    conn.exec_driver_sql(
        "INSERT INTO journal_line (" + ", ".join(_LINE_COLUMNS) + ") "
        "SELECT k.entry_id, s.subject_code, s.side, s.amount_fen, s.member_id, s.employer_id, s.balance_part, "
        "k.value_date, CASE WHEN s.member_id IS NOT NULL THEN k.accrual_days END "
        "FROM stage_line s JOIN stage_entry k ON k.entry_key = s.entry_key"
    )
    _validate_staged_lines(conn)
    _apply_balances(conn, new_ids, staged=True)
    for table in (_stage_line, _stage_entry):
        table.drop(conn)
    existing.update({h.idempotency_key: i for h, i in zip(fresh, new_ids, strict=True)})
    return existing


_staging = MetaData()
_stage_entry = Table(
    "stage_entry",
    _staging,
    Column("entry_key", String(80), primary_key=True),
    Column("entry_id", BigInteger, nullable=False),
    Column("value_date", Date, nullable=False),
    Column("accrual_days", SmallInteger, nullable=False),
    prefixes=["TEMPORARY"],
)
_stage_line = Table(
    "stage_line",
    _staging,
    Column("entry_key", String(80), nullable=False),
    Column("subject_code", String(10), nullable=False),
    Column("side", String(1), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("member_id", BigInteger),
    Column("employer_id", BigInteger),
    Column("balance_part", String(8)),
    prefixes=["TEMPORARY"],
)


def _validate_staged_lines(conn: Connection) -> None:
    """What ``Line`` and ``JournalEntry`` check at construction, checked in SQL for set lines.

    One grouped pass over the stage finds malformed lines, unbalanced or one-line entries and
    lines naming no entry.
    """
    member_subjects = [c for c, s in SUBJECTS.items() if s.sub_ledger is SubLedger.MEMBER]
    employer_subjects = [c for c, s in SUBJECTS.items() if s.sub_ledger is SubLedger.EMPLOYER]
    malformed = (
        "s.amount_fen <= 0 OR s.side NOT IN ('D', 'C') OR s.subject_code NOT IN :postable "
        "OR (s.subject_code IN :member_subjects AND (s.member_id IS NULL OR s.employer_id IS NOT NULL "
        "    OR s.balance_part IS NULL OR s.balance_part NOT IN ('carried', 'current'))) "
        "OR (s.subject_code IN :employer_subjects AND (s.employer_id IS NULL OR s.member_id IS NOT NULL "
        "    OR s.balance_part IS NOT NULL)) "
        "OR (s.subject_code NOT IN :member_subjects AND s.subject_code NOT IN :employer_subjects "
        "    AND (s.member_id IS NOT NULL OR s.employer_id IS NOT NULL OR s.balance_part IS NOT NULL))"
    )
    # One scan: group the stage by entry (few groups), then compare with the headers in Python.
    grouped = conn.execute(
        text(
            "SELECT s.entry_key, COUNT(*), SUM(CASE WHEN s.side = 'D' THEN s.amount_fen ELSE -s.amount_fen END), "
            f"SUM(CASE WHEN {malformed} THEN 1 ELSE 0 END) FROM stage_line s GROUP BY s.entry_key"
        ).bindparams(
            bindparam("postable", sorted(POSTABLE), expanding=True),
            bindparam("member_subjects", member_subjects, expanding=True),
            bindparam("employer_subjects", employer_subjects, expanding=True),
        )
    ).all()
    stats = {key: (count, difference, malformed_lines) for key, count, difference, malformed_lines in grouped}
    headers = conn.scalars(text("SELECT entry_key FROM stage_entry")).all()
    stray = sorted(set(stats) - set(headers))
    if stray:
        raise InvalidInput(
            "ledger.invalid_entry", "记账凭证不合法", f"lines name an unknown entry key {stray[0]!r}"
        )
    for key in headers:
        count, difference, malformed_lines = stats.get(key, (0, 0, 0))
        if count < 2 or difference != 0 or malformed_lines:
            raise InvalidInput(
                "ledger.invalid_entry", "记账凭证不合法",
                f"entry {key}: {count} lines, debits − credits = {difference} fen, "
                f"{malformed_lines} malformed line(s) (amount, side, subject or sub-ledger detail)",
            )  # fmt: skip


# ------------------------------------------------------------------------------------ helpers


def _existing_by_key(conn: Connection, fingerprints: dict[str, str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for keys in chunks(list(fingerprints)):
        rows = conn.execute(
            select(journal_entry.c.idempotency_key, journal_entry.c.id, journal_entry.c.fingerprint).where(
                journal_entry.c.idempotency_key.in_(keys)
            )
        )
        for key, entry_id, fingerprint in rows:
            if fingerprint != fingerprints[key]:
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


def _insert_entries(
    conn: Connection, entries: Sequence[JournalEntry | EntryHeader], clock: Clock
) -> list[int]:
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
            "reverses_entry_id": getattr(e, "reverses_entry_id", None),
        }
        for e in entries
    ]
    try:
        if conn.dialect.name == "postgresql" and len(rows) > _IN_LIST_LIMIT:
            # Many entries: take their ids from the sequence in one query, then COPY them in
            # (an INSERT … RETURNING of thousands of rows is ten times slower there).
            ids = list(
                conn.scalars(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('journal_entry', 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": len(rows)},
                )
            )
            columns = ["id", *rows[0]]
            bulk_insert(
                conn, journal_entry, columns, [(i, *r.values()) for i, r in zip(ids, rows, strict=True)]
            )
            return ids
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


# Signed change of a member balance: a credit raises it.
_SIGNED = "CASE WHEN side = 'C' THEN amount_fen ELSE -amount_fen END"


def _apply_balances(conn: Connection, entry_ids: Sequence[int], *, staged: bool = False) -> None:
    """Add the new entries' lines to every materialised balance: one UPDATE … FROM per kind.

    The lines are read back from ``journal_line`` by entry id, or — for ``post_set``, whose lines
    are still in the staging tables — from the stage, which spares an index lookup per line.
    """
    cols = "subject_code, side, amount_fen, member_id, employer_id, balance_part"
    ids_staged = not staged and len(entry_ids) > _IN_LIST_LIMIT
    if staged:
        lines = f"(SELECT s.{cols.replace(', ', ', s.')}, k.accrual_days FROM stage_line s " \
                "JOIN stage_entry k ON k.entry_key = s.entry_key)"  # fmt: skip
    elif not ids_staged:
        in_list = ", ".join(str(int(i)) for i in entry_ids)
        lines = f"(SELECT {cols}, accrual_days FROM journal_line WHERE entry_id IN ({in_list}))"
    else:
        _stage_ids.drop(conn, checkfirst=True)
        _stage_ids.create(conn)
        bulk_insert(conn, _stage_ids.name, ("entry_id",), [(i,) for i in entry_ids])
        lines = (
            f"(SELECT {cols}, accrual_days FROM journal_line "
            "WHERE entry_id IN (SELECT entry_id FROM stage_entry_id))"
        )
    part = "balance_part"
    statements = (
        "UPDATE subject_balance SET debit_fen = subject_balance.debit_fen + s.d, "
        "credit_fen = subject_balance.credit_fen + s.c FROM (SELECT subject_code AS k, "
        "SUM(CASE WHEN side = 'D' THEN amount_fen ELSE 0 END) AS d, "
        "SUM(CASE WHEN side = 'C' THEN amount_fen ELSE 0 END) AS c "
        f"FROM {lines} AS l GROUP BY subject_code) AS s "
        "WHERE subject_balance.subject_code = s.k",
        "UPDATE member_balance SET carried_fen = member_balance.carried_fen + s.dc, "
        "current_fen = member_balance.current_fen + s.du, "
        "accrual_carried = member_balance.accrual_carried + s.ac, "
        "accrual_current = member_balance.accrual_current + s.au FROM (SELECT member_id AS k, "
        f"SUM(CASE WHEN {part} = 'carried' THEN {_SIGNED} ELSE 0 END) AS dc, "
        f"SUM(CASE WHEN {part} = 'current' THEN {_SIGNED} ELSE 0 END) AS du, "
        f"SUM(CASE WHEN {part} = 'carried' THEN ({_SIGNED}) * accrual_days ELSE 0 END) AS ac, "
        f"SUM(CASE WHEN {part} = 'current' THEN ({_SIGNED}) * accrual_days ELSE 0 END) AS au "
        f"FROM {lines} AS l WHERE member_id IS NOT NULL GROUP BY member_id) AS s "
        "WHERE member_balance.member_id = s.k",
        "UPDATE employer_balance SET balance_fen = employer_balance.balance_fen + s.d "
        f"FROM (SELECT employer_id AS k, SUM({_SIGNED}) AS d FROM {lines} AS l "
        "WHERE employer_id IS NOT NULL GROUP BY employer_id) AS s "
        "WHERE employer_balance.employer_id = s.k",
    )
    try:
        for sql in statements:
            conn.exec_driver_sql(sql)
    except IntegrityError as exc:
        raise Conflict(
            "ledger.insufficient_balance", "余额不足", "the posting would make a balance negative"
        ) from exc
    if ids_staged:
        _stage_ids.drop(conn)


_stage_ids = Table(
    "stage_entry_id", _staging, Column("entry_id", BigInteger, primary_key=True), prefixes=["TEMPORARY"]
)
