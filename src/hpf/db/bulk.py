"""Set-based writing helpers: the fast path for batch jobs on both engines.

PostgreSQL gets ``COPY`` (an order of magnitude faster than ``executemany`` there); SQLite gets
one ``executemany`` inside the caller's transaction. Neither commits: the use case owns the
transaction. ``among`` selects rows by a long list of keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def bulk_insert(
    conn: Connection, table: Table | str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Insert plain tuples (in ``columns`` order) into ``table`` as fast as the engine allows.

    ``table`` may be a name, for temporary staging tables that have no ``Table`` object.
    """
    name = table if isinstance(table, str) else table.name
    cols = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    data = rows if isinstance(rows, list) else list(rows)
    if data:
        conn.exec_driver_sql(f"INSERT INTO {name} ({cols}) VALUES ({marks})", data)


def chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def among(conn: Connection, column: ColumnElement[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` for thousands of values (a batch job's chunk of ids or keys).

    On PostgreSQL it is ``column = ANY(:array)``: one parameter, where ``IN`` binds, sends and
    plans one parameter per value (about 80 ms for 10,000 ids, per statement). SQLite keeps
    ``IN``.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
