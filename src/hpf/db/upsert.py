"""Inserts that meet a row already there without an error, on SQLite and PostgreSQL alike.

- :func:`insert_new`: ``INSERT … ON CONFLICT DO NOTHING``; ``False`` when the row (its primary
  key or a unique key) was there already. On PostgreSQL a concurrent transaction inserting the
  same key makes this one wait for it and then insert nothing — no ``IntegrityError``, no
  aborted transaction: the caller reads what the other one wrote (an inbox's duplicate);
- :func:`insert_new_many`: the same for many rows in one multi-row statement; the keys inserted;
- :func:`upsert`: ``INSERT … ON CONFLICT (key) DO UPDATE``: one statement, no update-then-insert
  race.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(conn: Connection, table: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no ON CONFLICT insert for {dialect}")


def insert_new(conn: Connection, table: Table, values: Mapping[str, Any]) -> bool:
    """Insert one row unless its key is taken; whether it was inserted."""
    statement = _insert(conn, table).values(**values).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT here.
    return conn.execute(statement.returning(*table.primary_key.columns)).first() is not None


def insert_new_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> set[Any]:
    """Insert the rows whose key is not taken, in one multi-row ``INSERT … ON CONFLICT DO
    NOTHING``; the primary keys (one column) of those inserted."""
    if not rows:
        return set()
    [key] = table.primary_key.columns
    statement = _insert(conn, table).on_conflict_do_nothing().returning(key)
    # executemany: SQLAlchemy's "insertmanyvalues" sends batches of rows as one statement, compiled once
    return set(conn.execute(statement, list(rows)).scalars())


def upsert(conn: Connection, table: Table, key: Sequence[str], values: Mapping[str, Any]) -> None:
    """Insert one row, or update the row with the same ``key`` columns to ``values``."""
    statement = _insert(conn, table).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changes))
