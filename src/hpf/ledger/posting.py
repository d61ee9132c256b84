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
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
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
    case,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ColumnClause

from hpf.db.bulk import among, bulk_insert, chunks
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
from hpf.ledger.tables import SUBJECT_STRIPES, accrual_year, journal_entry, journal_line, ledger_period

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
    is_open = select(accrual_year.c.year_end).where(accrual_year.c.state == "open")
    year_end = conn.scalar(is_open)
    if year_end is None:
        year_end = interest_year_end(hint)
        try:
            with conn.begin_nested():
                conn.execute(insert(accrual_year).values(year_end=year_end, state="open"))
        except IntegrityError:  # a concurrent transaction (month-end's other chunk) opened it first
            year_end = conn.scalar(is_open) or year_end
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

    ``lines`` must select, in this order, ``entry_key`` (an idempotency key of ``headers``),
    ``subject_code``, ``side``, ``amount_fen``, ``member_id``, ``employer_id``, ``balance_part``;
    they are read by position from a subquery, so SQL snippets need a label (``literal(…)`` and
    table columns are named already).
    Lines take their entry's value date. Returns ``{idempotency_key: entry_id}``; replayed keys
    keep their first ids and their lines are not inserted again.
    """
    staged = _stage_set(conn, headers, lines, clock)
    if staged.fresh:
        _insert_staged_lines(conn)
        _apply_staged_balances(conn, staged.subjects, members=True)
    _drop_stage(conn)
    return staged.ids


def post_set_and_roll(
    conn: Connection,
    headers: Sequence[EntryHeader],
    lines: Select[Any] | CompoundSelect[Any],
    year_end: date,
    clock: Clock,
) -> tuple[dict[str, int], date, int, int]:
    """``post_set`` the closing entries of the open interest year, then roll the year.

    For the annual interest settlement: the member deltas of the new lines are folded into the
    roll's UPDATE, so every member balance row is written once (one pass over the biggest
    balance table instead of two; the lines' 积数 belongs to the year being closed, which the
    roll resets anyway). Returns ``({key: entry_id}, next year end, members moved, fen moved)``
    like ``roll_interest_year``.
    """
    next_end = _require_open_year(conn, year_end)
    staged = _stage_set(conn, headers, lines, clock)
    deltas = None
    if staged.fresh:
        _insert_staged_lines(conn)
        deltas = _apply_staged_balances(conn, staged.subjects, members=False)
    moved, moved_fen = _roll_member_balances(conn, next_end, deltas)
    _drop_stage(conn)
    _settle_year_row(conn, year_end, next_end, clock)
    return staged.ids, next_end, moved, moved_fen


def roll_interest_year(conn: Connection, year_end: date, clock: Clock) -> tuple[date, int, int]:
    """Mark the open interest year ``year_end`` settled and open the next one.

    In one set-based UPDATE every member's current-year balance (当年归集) becomes carried-over
    (上年结转) and the 积数 is reset to the new opening balance × days of the new year: the
    invariants ``check`` verifies (a member's parts follow from value dates, decision 0005).
    Callers post the interest valued ``year_end`` first (or together, ``post_set_and_roll``);
    member postings valued on or before ``year_end`` are refused afterwards. Returns (next year
    end, members moved, fen moved).
    """
    next_end = _require_open_year(conn, year_end)
    moved, moved_fen = _roll_member_balances(conn, next_end, None)
    _settle_year_row(conn, year_end, next_end, clock)
    return next_end, moved, moved_fen


# ------------------------------------------------------------------------- set-based staging

_staging = MetaData()
_stage_entry = Table(
    "stage_entry",
    _staging,
    Column("entry_key", String(80), primary_key=True),
    Column("entry_id", BigInteger, nullable=False),
    Column("value_date", Date, nullable=False),
    Column("accrual_days", SmallInteger, nullable=False),
    Column("fresh", SmallInteger, nullable=False),  # 0: replayed, its lines are dropped
    prefixes=["TEMPORARY"],
)
# A journal line ready to insert: the entry key is resolved once, here, to the entry's id,
# value date and 积数 days. ``stray_key`` keeps the key of a line naming no header (for the error).
_stage_line = Table(
    "stage_line",
    _staging,
    Column("entry_id", BigInteger),
    Column("subject_code", String(10), nullable=False),
    Column("side", String(1), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("member_id", BigInteger),
    Column("employer_id", BigInteger),
    Column("balance_part", String(8)),
    Column("value_date", Date),
    Column("accrual_days", SmallInteger),
    Column("stray_key", String(80)),
    prefixes=["TEMPORARY"],
)
# Each member's change in the staged lines, summed, when some member has several lines
# (``_member_deltas``): the UPDATE of member_balance must join one row per member.
_stage_member = Table(
    "stage_member",
    _staging,
    Column("member_id", BigInteger, nullable=False),
    Column("dc", BigInteger, nullable=False),  # carried part: Σ signed amount
    Column("du", BigInteger, nullable=False),  # current part
    Column("ac", BigInteger, nullable=False),  # carried part: Σ signed amount × 积数 days
    Column("au", BigInteger, nullable=False),  # current part
    prefixes=["TEMPORARY"],
)
_STAGES = (_stage_entry, _stage_line, _stage_member)


@dataclass
class _Staged:
    ids: dict[str, int]  # entry id by idempotency key, fresh and replayed
    fresh: int  # entries inserted
    subjects: dict[str, tuple[int, int]]  # (debit, credit) fen of the staged lines per subject


def _stage_set(
    conn: Connection, headers: Sequence[EntryHeader], lines: Select[Any] | CompoundSelect[Any], clock: Clock
) -> _Staged:
    """Insert the fresh entries and stage their lines, validated.

    Leaves the staging tables for the caller (``_drop_stage``), also when nothing is fresh.
    """
    # The lines are read by position from a subquery: each column needs a name there (a text()
    # column is not a column at all; an unlabelled SQL snippet is named by its text).
    selected = list(lines.selected_columns)
    if len(selected) != 7 or any(isinstance(c, ColumnClause) and c.is_literal for c in selected):
        raise TypeError(
            "post_set lines must select 7 columns, SQL snippets labelled (literal_column(…).label)"
        )
    for table in _STAGES:
        table.drop(conn, checkfirst=True)
        table.create(conn)
    existing = _existing_by_key(conn, {h.idempotency_key: h.fingerprint for h in headers})
    fresh = [h for h in headers if h.idempotency_key not in existing]
    if not fresh:
        return _Staged(existing, 0, {})
    _refuse_closed_periods(conn, {period_of(h.posting_date) for h in fresh})
    year_end = open_year_end(conn, min(h.value_date for h in fresh))
    _refuse_value_dates({h.value_date for h in fresh}, year_end)
    new_ids = _insert_entries(conn, fresh, clock)
    existing.update({h.idempotency_key: i for h, i in zip(fresh, new_ids, strict=True)})
    fresh_keys = {h.idempotency_key for h in fresh}
    bulk_insert(
        conn, _stage_entry.name, ("entry_key", "entry_id", "value_date", "accrual_days", "fresh"),
        [
            (h.idempotency_key, existing[h.idempotency_key], h.value_date, accrual_days(year_end, h.value_date),
             int(h.idempotency_key in fresh_keys))
            for h in headers
        ],
    )  # fmt: skip
    if conn.dialect.name == "postgresql":  # temporary tables get no statistics unless asked
        conn.exec_driver_sql("ANALYZE stage_entry")
    given = lines.subquery("given")
    key, subject, side, amount, member_id, employer_id, part = list(given.c)
    k = _stage_entry.c
    conn.execute(
        insert(_stage_line).from_select(
            [c.name for c in _stage_line.c],
            select(
                k.entry_id, subject, side, amount, member_id, employer_id, part, k.value_date,
                case((member_id.is_not(None), k.accrual_days)),
                case((k.entry_key.is_(None), key)),
            )
            .select_from(given.outerjoin(_stage_entry, k.entry_key == key))
            .where(or_(k.entry_key.is_(None), k.fresh == 1)),
        )
    )  # fmt: skip
    return _Staged(existing, len(fresh), _validate_staged_lines(conn, new_ids))


def _insert_staged_lines(conn: Connection) -> None:
    cols = ", ".join(_LINE_COLUMNS)
    conn.exec_driver_sql(f"INSERT INTO journal_line ({cols}) SELECT {cols} FROM stage_line")


def _drop_stage(conn: Connection) -> None:
    for table in reversed(_STAGES):
        table.drop(conn)


def _validate_staged_lines(conn: Connection, entry_ids: Sequence[int]) -> dict[str, tuple[int, int]]:
    """What ``Line`` and ``JournalEntry`` check at construction, checked in SQL for set lines.

    One grouped pass over the stage finds malformed lines, unbalanced or one-line entries and
    lines naming no entry; the same groups give each subject's debit and credit totals, which
    are returned (for ``subject_balance``, without another pass over the stage).
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
    # One scan: group the stage by entry, subject and side (few groups), then add up in Python.
    grouped = conn.execute(
        text(
            "SELECT s.entry_id, s.subject_code, s.side, COUNT(*), SUM(s.amount_fen), "
            f"SUM(CASE WHEN {malformed} THEN 1 ELSE 0 END), MIN(s.stray_key) FROM stage_line s "
            "GROUP BY s.entry_id, s.subject_code, s.side"
        ).bindparams(
            bindparam("postable", sorted(POSTABLE), expanding=True),
            bindparam("member_subjects", member_subjects, expanding=True),
            bindparam("employer_subjects", employer_subjects, expanding=True),
        )
    ).all()
    stats: dict[int, list[int]] = {}  # entry id: [lines, debits − credits, malformed lines]
    subjects: dict[str, tuple[int, int]] = {}
    stray = []
    for entry_id, subject, side, count, amount, bad, stray_key in grouped:
        if entry_id is None:
            stray.append(stray_key)
            continue
        entry = stats.setdefault(entry_id, [0, 0, 0])
        entry[0] += count
        entry[1] += int(amount) if side == "D" else -int(amount)
        entry[2] += bad
        debit, credit = subjects.get(subject, (0, 0))
        subjects[subject] = (debit + int(amount), credit) if side == "D" else (debit, credit + int(amount))
    if stray:
        raise InvalidInput(
            "ledger.invalid_entry", "记账凭证不合法", f"lines name an unknown entry key {stray[0]!r}"
        )
    for entry_id in entry_ids:
        count, difference, malformed_lines = stats.get(entry_id, [0, 0, 0])
        if count < 2 or difference != 0 or malformed_lines:
            key = conn.scalar(select(_stage_entry.c.entry_key).where(_stage_entry.c.entry_id == entry_id))
            raise InvalidInput(
                "ledger.invalid_entry", "记账凭证不合法",
                f"entry {key}: {count} lines, debits − credits = {difference} fen, "
                f"{malformed_lines} malformed line(s) (amount, side, subject or sub-ledger detail)",
            )  # fmt: skip
    return subjects


# ------------------------------------------------------------------------------------ helpers


def _existing_by_key(conn: Connection, fingerprints: dict[str, str]) -> dict[str, int]:
    found: dict[str, int] = {}
    keys = list(fingerprints)
    for batch in [keys] if conn.dialect.name == "postgresql" else chunks(keys):  # see ``among``
        rows = conn.execute(
            select(journal_entry.c.idempotency_key, journal_entry.c.id, journal_entry.c.fingerprint).where(
                among(conn, journal_entry.c.idempotency_key, batch)
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


_stripes = itertools.count()


def _stripe(conn: Connection) -> int:
    """The subject-balance stripe this database connection adds to (decision 0034).

    Given once per pooled connection, in turn (on PostgreSQL by its server process id, which the
    server gives in turn across all clients): connections in use at the same time mostly have
    different stripes, so their postings to one subject lock different rows and seldom wait for
    another's commit. A total a posting failed to add would show in ``hpf check`` (subject totals
    against the journal)."""
    stripe = conn.info.get("hpf.subject_stripe")
    if stripe is None:
        # PostgreSQL: by the server process, so that connections of different processes (server
        # workers, jobs, the delivery worker) differ too; backend pids are given in turn
        number = conn.scalar(text("SELECT pg_backend_pid()")) if conn.dialect.name == "postgresql" else None
        stripe = conn.info["hpf.subject_stripe"] = (
            int(number if number is not None else next(_stripes)) % SUBJECT_STRIPES
        )
    return int(stripe)


def _subject_update(lines: str, stripe: int) -> str:
    return (
        "UPDATE subject_balance SET debit_fen = subject_balance.debit_fen + s.d, "
        "credit_fen = subject_balance.credit_fen + s.c FROM (SELECT subject_code AS k, "
        "SUM(CASE WHEN side = 'D' THEN amount_fen ELSE 0 END) AS d, "
        "SUM(CASE WHEN side = 'C' THEN amount_fen ELSE 0 END) AS c "
        f"FROM {lines} AS l GROUP BY subject_code) AS s "
        f"WHERE subject_balance.subject_code = s.k AND subject_balance.stripe = {int(stripe)}"
    )


def _employer_update(lines: str) -> str:
    return (
        "UPDATE employer_balance SET balance_fen = employer_balance.balance_fen + s.d "
        f"FROM (SELECT employer_id AS k, SUM({_SIGNED}) AS d FROM {lines} AS l "
        "WHERE employer_id IS NOT NULL GROUP BY employer_id) AS s "
        "WHERE employer_balance.employer_id = s.k"
    )


def _member_sums(lines: str) -> str:
    """Per member: Σ signed change and Σ change × 积数 days, per balance part (``_stage_member``)."""
    return (
        f"SELECT member_id, SUM(dc) AS dc, SUM(du) AS du, SUM(ac) AS ac, SUM(au) AS au "
        f"FROM {_member_changes(lines)} AS l GROUP BY member_id"
    )


def _member_changes(lines: str) -> str:
    """Each member line as its change of the four member balance columns."""
    part = "balance_part"
    return (
        "(SELECT member_id, "
        f"CASE WHEN {part} = 'carried' THEN {_SIGNED} ELSE 0 END AS dc, "
        f"CASE WHEN {part} = 'current' THEN {_SIGNED} ELSE 0 END AS du, "
        f"CASE WHEN {part} = 'carried' THEN ({_SIGNED}) * accrual_days ELSE 0 END AS ac, "
        f"CASE WHEN {part} = 'current' THEN ({_SIGNED}) * accrual_days ELSE 0 END AS au "
        f"FROM {lines} AS l WHERE member_id IS NOT NULL)"
    )


def _member_update(sums: str) -> str:
    return (
        "UPDATE member_balance SET carried_fen = member_balance.carried_fen + s.dc, "
        "current_fen = member_balance.current_fen + s.du, "
        "accrual_carried = member_balance.accrual_carried + s.ac, "
        f"accrual_current = member_balance.accrual_current + s.au FROM {sums} AS s "
        "WHERE member_balance.member_id = s.member_id"
    )


def _run_balance_updates(
    conn: Connection, statements: Sequence[str], params: dict[str, Any] | None = None
) -> None:
    """Run balance UPDATEs; a ``CHECK`` refusing a negative balance becomes a Conflict."""
    try:
        for sql in statements:
            conn.execute(text(sql), params or {})
    except IntegrityError as exc:
        raise Conflict(
            "ledger.insufficient_balance", "余额不足", "the posting would make a balance negative"
        ) from exc


def _apply_balances(conn: Connection, entry_ids: Sequence[int]) -> None:
    """Add the new entries' lines to every materialised balance: one UPDATE … FROM per kind.

    The lines are read back from ``journal_line`` by entry id (an IN list, or a staged id list
    when there are many).
    """
    cols = "subject_code, side, amount_fen, member_id, employer_id, balance_part, accrual_days"
    ids_staged = len(entry_ids) > _IN_LIST_LIMIT
    params: dict[str, Any] = {}
    if len(entry_ids) == 1:  # most postings: one text, compiled and prepared once
        lines = f"(SELECT {cols} FROM journal_line WHERE entry_id = :entry_id)"
        params["entry_id"] = int(entry_ids[0])
    elif not ids_staged:
        in_list = ", ".join(str(int(i)) for i in entry_ids)
        lines = f"(SELECT {cols} FROM journal_line WHERE entry_id IN ({in_list}))"
    else:
        _stage_ids.drop(conn, checkfirst=True)
        _stage_ids.create(conn)
        bulk_insert(conn, _stage_ids.name, ("entry_id",), [(i,) for i in entry_ids])
        lines = f"(SELECT {cols} FROM journal_line WHERE entry_id IN (SELECT entry_id FROM stage_entry_id))"
    _run_balance_updates(  # subject rows last, as in ``_apply_staged_balances``
        conn,
        (
            _member_update(f"({_member_sums(lines)})"),
            _employer_update(lines),
            _subject_update(lines, _stripe(conn)),
        ),
        params,
    )
    if ids_staged:
        _stage_ids.drop(conn)


def _apply_staged_balances(conn: Connection, subjects: dict[str, tuple[int, int]], *, members: bool) -> str:
    """``_apply_balances`` for ``post_set``: the lines are read from the stage, not the journal.

    ``subjects`` are the subject totals the validation summed. Returns the SQL source of the
    member deltas (one row per member: ``member_id, dc, du, ac, au``); with ``members`` false
    they are not added here (the year roll folds them in).
    """
    deltas = _member_deltas(conn)
    _run_balance_updates(conn, [_member_update(deltas)] if members else [])
    _run_balance_updates(conn, [_employer_update("stage_line")])
    # The subject rows last: every posting updates them, and a row lock is held until commit.
    if subjects:
        conn.execute(
            text(
                "UPDATE subject_balance SET debit_fen = debit_fen + :d, credit_fen = credit_fen + :c "
                "WHERE subject_code = :k AND stripe = :stripe"
            ),
            [{"k": k, "d": d, "c": c, "stripe": _stripe(conn)} for k, (d, c) in sorted(subjects.items())],
        )
    return deltas


def _member_deltas(conn: Connection) -> str:
    """The staged member lines as one row of deltas per member (a table name or a subquery).

    Batches usually carry one line per member (a month's contribution, the year's interest).
    A unique index proves it, and then the lines are used as they are; summing them in a GROUP
    BY instead costs more than the balance UPDATE itself on PostgreSQL (its SUM of BIGINT is a
    NUMERIC). When a member has several lines the index is refused and the sums are staged.
    """
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE UNIQUE INDEX stage_line_member ON stage_line (member_id)")
        single = True
    except IntegrityError:
        single = False
    if single:  # (building the index gave PostgreSQL the row count its plans need)
        return _member_changes("stage_line")
    conn.exec_driver_sql(f"INSERT INTO stage_member (member_id, dc, du, ac, au) {_member_sums('stage_line')}")
    if conn.dialect.name == "postgresql":  # temporary tables get no statistics unless asked
        conn.exec_driver_sql("ANALYZE stage_member")
    return "stage_member"


# ----------------------------------------------------------------------- the interest year roll


def _require_open_year(conn: Connection, year_end: date) -> date:
    """Refuse to roll any year but the open one; returns the end of the next year."""
    open_end = conn.scalar(select(accrual_year.c.year_end).where(accrual_year.c.state == "open"))
    if open_end != year_end:
        raise Conflict(
            "ledger.interest_year_not_open",
            "该计息年度不是当前计息年度",
            f"interest year ending {year_end} is not the open one (open: {open_end})",
            open_year_end=str(open_end) if open_end else None,
        )
    return interest_year_end(year_end + timedelta(days=1))


def _roll_member_balances(conn: Connection, next_end: date, deltas: str | None) -> tuple[int, int]:
    """Carry every current part over and reset the 积数 for the year ending ``next_end``.

    With ``deltas`` (``_member_deltas``: lines just posted, valued in the closing year), they
    are added in the same write. Every row is written at most once: members with deltas
    by one UPDATE, the others by a second, which also skips rows the roll leaves unchanged
    (no balance to move, 积数 already right — dormant accounts). Returns (members whose current
    part was carried over, fen carried over).
    """
    days = (next_end - previous_year_end(next_end)).days
    current = "member_balance.current_fen"
    if deltas and conn.exec_driver_sql(f"SELECT 1 FROM {deltas} AS d WHERE du <> 0 LIMIT 1").first():
        current = "(member_balance.current_fen + COALESCE(d.du, 0))"
        source = f"member_balance LEFT JOIN {deltas} AS d ON d.member_id = member_balance.member_id"
    else:
        source = "member_balance"
    moved, moved_fen = conn.execute(
        text(f"SELECT COUNT(CASE WHEN {current} <> 0 THEN 1 END), COALESCE(SUM({current}), 0) FROM {source}")
    ).one()
    total = "member_balance.carried_fen + member_balance.current_fen"
    roll = "current_fen = 0, accrual_current = 0"
    statements = []
    if deltas:
        with_deltas = f"{total} + d.dc + d.du"
        statements.append(
            f"UPDATE member_balance SET carried_fen = {with_deltas}, accrual_carried = ({with_deltas}) * :days, "
            f"{roll} FROM {deltas} AS d WHERE member_balance.member_id = d.member_id"
        )
    unchanged = (
        "member_balance.current_fen = 0 AND member_balance.accrual_current = 0 "
        "AND member_balance.accrual_carried = member_balance.carried_fen * :days"
    )
    others = f"NOT EXISTS (SELECT 1 FROM {deltas} AS d WHERE d.member_id = member_balance.member_id) AND "
    others = others if deltas else ""
    statements.append(
        f"UPDATE member_balance SET carried_fen = {total}, accrual_carried = ({total}) * :days, {roll} "
        f"WHERE {others}NOT ({unchanged})"
    )
    _run_balance_updates(conn, statements, {"days": days})
    return int(moved), int(moved_fen)


def _settle_year_row(conn: Connection, year_end: date, next_end: date, clock: Clock) -> None:
    conn.execute(
        accrual_year.update()
        .where(accrual_year.c.year_end == year_end, accrual_year.c.state == "open")
        .values(state="settled", settled_at=clock.now())
    )
    conn.execute(insert(accrual_year).values(year_end=next_end, state="open"))


_stage_ids = Table(
    "stage_entry_id", _staging, Column("entry_id", BigInteger, primary_key=True), prefixes=["TEMPORARY"]
)
