"""A lock on a name for the rest of the transaction, for two writers that must not both miss
each other: each takes the lock on the name they share before it reads what the other writes.

On PostgreSQL a transaction-scoped advisory lock (``pg_advisory_xact_lock`` on the name's hash):
under READ COMMITTED the second to take it waits for the first's commit and then, statement by
statement, sees what the first wrote. On SQLite the write transaction already holds the one
database write lock from its first statement (``BEGIN IMMEDIATE``), so there is nothing to add.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text


def lock_name(conn: Connection, namespace: str, name: str) -> None:
    """Hold the lock on ``namespace:name`` until the transaction ends (PostgreSQL; no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"{namespace}:{name}"})


def lock_names(conn: Connection, namespace: str, names: Iterable[str]) -> None:
    """:func:`lock_name` of many names in one statement, taken in the names' order (sorted: two
    transactions locking overlapping sets never wait for each other in a circle)."""
    keys = sorted({f"{namespace}:{name}" for name in names})
    if conn.dialect.name == "postgresql" and keys:
        conn.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(hashtext(k))) FROM "
                "(SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS ordered"
            ),
            {"keys": keys},
        )
