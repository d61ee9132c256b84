"""What other packages may read of the ledger: typed reads and SQL building blocks.

The ledger's tables are private to it (``tests/test_architecture.py``); other packages read
through this module, or through ``service`` (``member_balances``, ``employer_balance_of``,
``member_statement`` …) where a use case already answers.

Typed reads return plain values or named tuples. The SQL building blocks are for set-based
jobs (interest settlement, month-end, the loan jobs, reconciliation) that join the ledger to
their own tables in one statement: each returns a subquery (or a column expression) whose
columns are listed in its docstring. They read only; writes go through ``service`` and the
posting engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Connection, Subquery, case, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from hpf.ledger.chart import Side
from hpf.ledger.tables import (
    accrual_year,
    employer_balance,
    journal_entry,
    journal_line,
    member_balance,
    subject_balance,
)

# ------------------------------------------------------------------------------- typed reads


class MemberChange(NamedTuple):
    """One member line: its value date, balance part (``carried``/``current``) and signed
    amount in fen (a credit raises the balance, so it is positive)."""

    value_date: date
    balance_part: str
    signed_fen: int


def open_interest_year(conn: Connection) -> date | None:
    """The end of the open interest year, or None while no member posting ever opened one."""
    found: date | None = conn.scalar(select(accrual_year.c.year_end).where(accrual_year.c.state == "open"))
    return found


def entry_id_by_key(conn: Connection, idempotency_key: str) -> int | None:
    """The id of the entry posted under ``idempotency_key``, if any."""
    found = conn.scalar(select(journal_entry.c.id).where(journal_entry.c.idempotency_key == idempotency_key))
    return None if found is None else int(found)


def has_entries(conn: Connection, business_id: str) -> bool:
    """Whether any entry was posted under ``business_id``."""
    found = conn.scalar(select(journal_entry.c.id).where(journal_entry.c.business_id == business_id).limit(1))
    return found is not None


def entry_keys(conn: Connection, business_id: str) -> list[tuple[int, str]]:
    """(entry id, idempotency key) of every entry posted under ``business_id``."""
    rows = conn.execute(
        select(journal_entry.c.id, journal_entry.c.idempotency_key).where(
            journal_entry.c.business_id == business_id
        )
    )
    return [(int(i), str(key)) for i, key in rows]


def entry_amount(conn: Connection, entry_id: int, subject: str, side: Side | None = None) -> int:
    """Σ fen of an entry's lines on ``subject`` (on ``side`` only, when given); 0 if none."""
    query = select(func.coalesce(func.sum(journal_line.c.amount_fen), 0)).where(
        journal_line.c.entry_id == entry_id, journal_line.c.subject_code == subject
    )
    if side is not None:
        query = query.where(journal_line.c.side == side.value)
    return int(conn.scalar(query) or 0)


def entry_amounts(
    conn: Connection, entry_ids: Sequence[int], subject: str, side: Side | None = None
) -> dict[int, int]:
    """:func:`entry_amount` of many entries in one read: ``{entry id: Σ fen}`` (absent: none)."""
    found: dict[int, int] = {}
    ids = list(entry_ids)
    for start in range(0, len(ids), 900):
        query = (
            select(journal_line.c.entry_id, func.sum(journal_line.c.amount_fen))
            .where(
                journal_line.c.entry_id.in_(ids[start : start + 900]), journal_line.c.subject_code == subject
            )
            .group_by(journal_line.c.entry_id)
        )
        if side is not None:
            query = query.where(journal_line.c.side == side.value)
        found.update({int(e): int(a or 0) for e, a in conn.execute(query)})
    return found


def member_credit_totals(conn: Connection, entry_ids: Sequence[int]) -> tuple[int, int]:
    """(how many, Σ fen) of the member credit lines of the given entries."""
    count, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(journal_line.c.amount_fen), 0)).where(
            journal_line.c.entry_id.in_(list(entry_ids)),
            journal_line.c.side == Side.CREDIT.value,
            journal_line.c.member_id.is_not(None),
        )
    ).one()
    return int(count), int(total)


def member_line_total(
    conn: Connection, member_id: int, *, business_type: str, business_id: str, side: Side
) -> int:
    """Σ fen of a member's lines on ``side`` in the entries of one business (type and id)."""
    total = conn.scalar(
        select(func.coalesce(func.sum(journal_line.c.amount_fen), 0))
        .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
        .where(
            journal_entry.c.business_type == business_type,
            journal_entry.c.business_id == business_id,
            journal_line.c.member_id == member_id,
            journal_line.c.side == side.value,
        )
    )
    return int(total or 0)


def member_changes(conn: Connection, member_id: int, *, valued_after: date) -> list[MemberChange]:
    """A member's lines valued after ``valued_after`` (in no particular order)."""
    lines = member_lines_subquery()
    rows = conn.execute(
        select(lines.c.value_date, lines.c.balance_part, lines.c.signed_fen).where(
            lines.c.member_id == member_id, lines.c.value_date > valued_after
        )
    )
    return [MemberChange(v, part, int(fen)) for v, part, fen in rows]


def member_balance_of(conn: Connection, member_id: int, *, lock: bool = False) -> tuple[int, int] | None:
    """(carried, current) in fen of a member's account, None if it has none; ``lock``: the
    balance row is held (``FOR UPDATE``) until the transaction ends."""
    query = select(member_balance.c.carried_fen, member_balance.c.current_fen).where(
        member_balance.c.member_id == member_id
    )
    row = conn.execute(query.with_for_update() if lock else query).first()
    return None if row is None else (int(row[0]), int(row[1]))


def subject_debit_balance(conn: Connection, codes: Sequence[str]) -> int:
    """Σ (debits − credits) in fen of the given leaf subjects, from the materialised balances."""
    total = conn.scalar(
        select(func.coalesce(func.sum(subject_balance.c.debit_fen - subject_balance.c.credit_fen), 0)).where(
            subject_balance.c.subject_code.in_(list(codes))
        )
    )
    return int(total or 0)


# ---------------------------------------------------------------------- SQL building blocks


def subject_totals_subquery(name: str | None = None) -> Subquery:
    """Each subject's stored debit and credit totals, its stripes summed (decision 0034).

    Columns: ``subject_code``, ``debit_fen``, ``credit_fen``."""
    return (
        select(
            subject_balance.c.subject_code,
            func.sum(subject_balance.c.debit_fen).label("debit_fen"),
            func.sum(subject_balance.c.credit_fen).label("credit_fen"),
        )
        .group_by(subject_balance.c.subject_code)
        .subquery(name)
    )


def member_balances_subquery(name: str | None = None) -> Subquery:
    """Every member's sub-ledger account (one row per member account opened).

    Columns: ``member_id``; ``carried_fen`` (上年结转) and ``current_fen`` (当年归集), never
    negative; ``accrual_carried`` and ``accrual_current``, the 积数 of the open interest year
    projected to its end, in fen·days per part.
    """
    mb = member_balance.c
    return select(
        mb.member_id, mb.carried_fen, mb.current_fen, mb.accrual_carried, mb.accrual_current
    ).subquery(name)


def employer_balances_subquery(name: str | None = None) -> Subquery:
    """Every employer's unallocated receipts (21901 sub-ledger).

    Columns: ``employer_id``, ``balance_fen`` (never negative).
    """
    return select(employer_balance.c.employer_id, employer_balance.c.balance_fen).subquery(name)


def _signed() -> ColumnElement[Any]:
    """A line's amount signed for a member balance: a credit raises it."""
    return case(
        (journal_line.c.side == Side.CREDIT.value, journal_line.c.amount_fen),
        else_=-journal_line.c.amount_fen,
    )


def member_lines_subquery(name: str | None = None) -> Subquery:
    """Every line of a member sub-ledger account (201 with a member).

    Columns: ``line_id``, ``entry_id``, ``member_id``, ``value_date``, ``balance_part``
    (``carried``/``current``), ``signed_fen`` (the amount, positive for a credit: what the line
    adds to the balance), ``accrual_days`` (the days the change counts in its interest year's
    积数: year end − value date).
    """
    ln = journal_line.c
    return (
        select(
            ln.id.label("line_id"),
            ln.entry_id,
            ln.member_id,
            ln.value_date,
            ln.balance_part,
            _signed().label("signed_fen"),
            ln.accrual_days,
        )
        .where(ln.member_id.is_not(None))
        .subquery(name)
    )


def member_postings_subquery(name: str | None = None) -> Subquery:
    """Member lines with their entry's business type and day: the columns of
    :func:`member_lines_subquery` (but ``accrual_days``), ``business_type`` (归集和提取业务类型)
    and ``posting_date`` (the business date the entry was posted on)."""
    ln = journal_line.c
    return (
        select(
            ln.id.label("line_id"),
            ln.entry_id,
            ln.member_id,
            ln.value_date,
            ln.balance_part,
            _signed().label("signed_fen"),
            journal_entry.c.business_type,
            journal_entry.c.posting_date,
        )
        .join(journal_entry, journal_entry.c.id == ln.entry_id)
        .where(ln.member_id.is_not(None))
        .subquery(name)
    )


def standing_member_lines_subquery(business_id: Any, name: str | None = None) -> Subquery:
    """The member lines of the entries posted under ``business_id`` (a value or a bound
    parameter) that still stand: neither a reversal nor reversed.

    Columns: ``member_id``, ``value_date``, ``accrual_days`` (as in :func:`member_lines_subquery`).
    """
    reversal = journal_entry.alias("reversal")
    return (
        select(journal_line.c.member_id, journal_line.c.value_date, journal_line.c.accrual_days)
        .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
        .where(
            journal_entry.c.business_id == business_id,
            journal_entry.c.reverses_entry_id.is_(None),
            ~select(reversal.c.id).where(reversal.c.reverses_entry_id == journal_entry.c.id).exists(),
            journal_line.c.member_id.is_not(None),
        )
        .subquery(name)
    )


def subject_movements_subquery(subject: str, posting_date: Any, name: str | None = None) -> Subquery:
    """What the entries posted on ``posting_date`` moved on the leaf ``subject``, per business id
    (the entries of one business, a reversal with its original, net out).

    Columns: ``business_id``, ``net_debit_fen`` (Σ debits − Σ credits on the subject).
    """
    ln = journal_line.c
    net = func.sum(case((ln.side == Side.DEBIT.value, ln.amount_fen), else_=-ln.amount_fen))
    return (
        select(journal_entry.c.business_id, net.label("net_debit_fen"))
        .select_from(journal_line.join(journal_entry, journal_entry.c.id == ln.entry_id))
        .where(ln.subject_code == subject, journal_entry.c.posting_date == posting_date)
        .group_by(journal_entry.c.business_id)
        .subquery(name)
    )


def entry_id_for_key(idempotency_key: ColumnElement[str]) -> ScalarSelect[Any]:
    """A column expression: the id of the entry posted under ``idempotency_key`` (an SQL
    expression, typically built from the caller's own columns), NULL if none."""
    return (
        select(journal_entry.c.id).where(journal_entry.c.idempotency_key == idempotency_key).scalar_subquery()
    )


def reversals_subquery(name: str | None = None) -> Subquery:
    """Every reversing entry (冲账凭证): a person's correction, or settlement's automatic undo
    of a failed payout (its idempotency key starts with ``settlement:``).

    Columns: ``id``, ``reverses_entry_id``, ``idempotency_key``, ``actor``, ``posting_date``,
    ``memo``.
    """
    e = journal_entry.c
    return (
        select(e.id, e.reverses_entry_id, e.idempotency_key, e.actor, e.posting_date, e.memo)
        .where(e.reverses_entry_id.is_not(None))
        .subquery(name)
    )


def subject_entries_subquery(subjects: Sequence[str], name: str | None = None) -> Subquery:
    """What each entry moved on the given leaf subjects taken together (one row per entry that
    touches any of them): the monthly series of the center's fund operation (``hpf.planning``,
    decision 0038) group these by month and business type.

    Columns: ``entry_id``, ``business_type``, ``business_id``, ``posting_date``,
    ``net_debit_fen`` (Σ debits − Σ credits of the entry's lines on the subjects; a reversal
    carries the opposite sign, so an entry and its reversal net out in any sum).
    """
    ln = journal_line.c
    e = journal_entry.c
    net = func.sum(case((ln.side == Side.DEBIT.value, ln.amount_fen), else_=-ln.amount_fen))
    return (
        select(ln.entry_id, e.business_type, e.business_id, e.posting_date, net.label("net_debit_fen"))
        .select_from(journal_line.join(journal_entry, e.id == ln.entry_id))
        .where(ln.subject_code.in_(list(subjects)))
        .group_by(ln.entry_id, e.business_type, e.business_id, e.posting_date)
        .subquery(name)
    )


# -- many members at once (set-based callers: the bulk transfer approval) ---------------------

_MANY = 900  # ids per IN list


def entry_ids_by_keys(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
    """:func:`entry_id_by_key` of many keys in one read per chunk: ``{key: entry id}`` of those posted."""
    found: dict[str, int] = {}
    wanted = list(keys)
    for start in range(0, len(wanted), _MANY):
        rows = conn.execute(
            select(journal_entry.c.idempotency_key, journal_entry.c.id).where(
                journal_entry.c.idempotency_key.in_(wanted[start : start + _MANY])
            )
        )
        found.update({str(k): int(i) for k, i in rows})
    return found


def member_balances_of(
    conn: Connection, member_ids: Sequence[int], *, lock: bool = False
) -> dict[int, tuple[int, int]]:
    """:func:`member_balance_of` of many members: ``{member id: (carried, current)}`` of those
    with a balance row; ``lock``: the rows held until the transaction ends (PostgreSQL)."""
    found: dict[int, tuple[int, int]] = {}
    ids = list(member_ids)
    mb = member_balance.c
    for start in range(0, len(ids), _MANY):
        query = select(mb.member_id, mb.carried_fen, mb.current_fen).where(
            mb.member_id.in_(ids[start : start + _MANY])
        )
        rows = conn.execute(query.with_for_update() if lock else query)
        found.update({int(m): (int(c), int(u)) for m, c, u in rows})
    return found


def members_changes(
    conn: Connection, member_ids: Sequence[int], *, valued_after: date
) -> dict[int, list[MemberChange]]:
    """:func:`member_changes` of many members in one read per chunk; every id is a key."""
    lines = member_lines_subquery()
    ids = list(member_ids)
    found: dict[int, list[MemberChange]] = {i: [] for i in ids}
    for start in range(0, len(ids), _MANY):
        rows = conn.execute(
            select(lines.c.member_id, lines.c.value_date, lines.c.balance_part, lines.c.signed_fen).where(
                lines.c.member_id.in_(ids[start : start + _MANY]), lines.c.value_date > valued_after
            )
        )
        for m, v, part, fen in rows:
            found[int(m)].append(MemberChange(v, part, int(fen)))
    return found


def last_standing_value_dates(
    conn: Connection, business_id: str, member_ids: Sequence[int]
) -> dict[int, date]:
    """The latest value date of each member's standing lines under ``business_id`` (see
    :func:`standing_member_lines_subquery`): ``{member id: date}`` of those that have one."""
    standing = standing_member_lines_subquery(business_id)
    ids = list(member_ids)
    found: dict[int, date] = {}
    for start in range(0, len(ids), _MANY):
        rows = conn.execute(
            select(standing.c.member_id, func.max(standing.c.value_date))
            .where(standing.c.member_id.in_(ids[start : start + _MANY]))
            .group_by(standing.c.member_id)
        )
        found.update({int(m): d for m, d in rows if d is not None})
    return found
