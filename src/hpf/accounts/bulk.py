"""Bulk loads of whole cities of accounts into an empty center (the demo generator).

Rows are plain tuples in the layouts below, written with ``hpf.db.bulk.bulk_insert`` (COPY on
PostgreSQL, ``executemany`` on SQLite). Raw inserts bypass SQLAlchemy's types, so values of
dates, timestamps and rates are first passed through :func:`binders` (what SQLAlchemy would
send on this engine). Personal data arrives sealed (``hpf.protection.protect.seal``): ``*_enc``
is the token, ``*_bidx`` the blind index. The caller owns the transaction; nothing here checks
the rows (the generator builds valid ones): this is a loader, not a use case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Column, Connection, select, text, update

from hpf.accounts.tables import account_history, employer, member
from hpf.db.bulk import bulk_insert
from hpf.protection.protect import to_stored

EMPLOYER_COLUMNS = (
    "id",
    "account_no",
    "uscc",
    "name",
    "address",
    "legal_rep_name",
    "contact_name",
    "contact_phone_enc",
    "bank_name",
    "bank_account_no_enc",
    "payday",
    "employer_rate",
    "member_rate",
    "economic_type",
    "state",
    "opened_on",
    "closed_on",
    "deferral_from",
    "deferral_to",
    "paid_through",
    "version",
)
MEMBER_COLUMNS = (
    "id",
    "account_no",
    "certificate_type",
    "resident_id_enc",
    "resident_id_bidx",
    "name",
    "name_pinyin",
    "gender",
    "birth_date",
    "phone_enc",
    "phone_bidx",
    "employer_id",
    "base_fen",
    "state",
    "state_before_freeze",
    "opened_on",
    "closed_on",
    "version",
)
HISTORY_COLUMNS = (
    "subject_kind",
    "subject_id",
    "action",
    "business_type",
    "business_date",
    "recorded_at",
    "actor",
    "reason",
    "before",
    "after",
)


class Binders(NamedTuple):
    """Value → what the driver is sent, for raw inserts: a date, a timestamp, a rate."""

    day: Callable[[Any], Any]
    timestamp: Callable[[Any], Any]
    rate: Callable[[Any], Any]


def _binder(conn: Connection, column: Column[Any]) -> Callable[[Any], Any]:
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process if process is not None else (lambda value: value)


def binders(conn: Connection) -> Binders:
    """What SQLAlchemy would send for a date, a timestamp and a rate on this engine."""
    return Binders(
        _binder(conn, member.c.opened_on),
        _binder(conn, account_history.c.recorded_at),
        _binder(conn, employer.c.employer_rate),
    )


def has_employers(conn: Connection) -> bool:
    return conn.scalar(select(employer.c.id).limit(1)) is not None


def insert_employers(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Employer rows in ``EMPLOYER_COLUMNS`` layout, ids given."""
    bulk_insert(conn, employer, EMPLOYER_COLUMNS, rows)


def insert_members(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Member rows in ``MEMBER_COLUMNS`` layout, ids given (their ledger balances are opened
    apart: ``hpf.ledger.service.open_member_balances``)."""
    bulk_insert(conn, member, MEMBER_COLUMNS, rows)


def insert_history(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Account history rows in ``HISTORY_COLUMNS`` layout."""
    bulk_insert(conn, account_history, HISTORY_COLUMNS, rows)


def resync_id_sequences(conn: Connection) -> None:
    """After rows were loaded with their ids: PostgreSQL's id sequences continue past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in ("employer", "member"):
        conn.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        )


# Stock data: the fields an older system may have held wrong, which a use case would refuse.
LEGACY_MEMBER_FIELDS = frozenset(
    {"birth_date", "gender", "resident_id", "certificate_type", "name", "name_pinyin", "phone", "opened_on"}
    | {"base_fen"}
)
LEGACY_EMPLOYER_FIELDS = frozenset(
    {"uscc", "economic_type", "state", "employer_rate", "member_rate", "address", "contact_name"}
)


def load_legacy_member(conn: Connection, account_no: str, values: dict[str, Any]) -> None:
    """Write a member's fields as a legacy system held them, unchecked (stock data taken over as
    it was; the simulator plants quality defects with it). Personal fields are sealed as usual
    (``resident_id``, ``phone``: token and blind index); no history row — stock is not a change."""
    _load_legacy(conn, member, LEGACY_MEMBER_FIELDS, account_no, values)


def load_legacy_employer(conn: Connection, account_no: str, values: dict[str, Any]) -> None:
    """Write an employer's fields as a legacy system held them, unchecked (see
    :func:`load_legacy_member`)."""
    _load_legacy(conn, employer, LEGACY_EMPLOYER_FIELDS, account_no, values)


def _load_legacy(
    conn: Connection, table: Any, allowed: frozenset[str], account_no: str, values: dict[str, Any]
) -> None:
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"{table.name}: {sorted(unknown)} are not stock fields")
    done = conn.execute(
        update(table)
        .where(table.c.account_no == account_no)
        .values(**to_stored(table.name, values), version=table.c.version + 1)  # a form open on it is stale
    )
    if done.rowcount != 1:
        raise ValueError(f"no {table.name} with account {account_no}")
