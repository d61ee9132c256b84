"""Writing and reading the business event stream.

``record`` writes one event in the caller's transaction and calls its listeners there;
``record_set`` writes the events of many objects in one ``INSERT … SELECT`` (set-based writers);
``events_since`` reads the stream in order from a cursor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Date,
    Select,
    String,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from hpf.db.bulk import insert_with_ids
from hpf.db.metadata import UtcDateTime
from hpf.events.listeners import Event, dispatch, dispatch_many, installed
from hpf.events.tables import business_event
from hpf.kernel.context import Context

_COLUMNS = ("type", "object_kind", "object_id", "payload", "business_date", "recorded_at", "actor", "source")


def jsonable(value: Any) -> Any:
    """``value`` with dates, timestamps, decimals and enums as JSON strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


# Built once: every change records events, and building the statement with its values (and
# their cache key) each time cost more than SQLite's insert.
_INSERT_ONE = insert(business_event).returning(business_event.c.id)


def record(
    conn: Connection,
    ctx: Context,
    event_type: str,
    object_kind: str,
    object_id: object,
    payload: Mapping[str, Any] | None = None,
) -> Event:
    """Write one event in the caller's transaction, then call its listeners there.

    ``payload`` carries what a reader needs to know about the change without reading the object:
    ids, codes, states, amounts and dates — never a name, an identity number, a phone or a card.
    """
    installed()  # a process not started through bootstrap writes nothing it cannot tell
    values: dict[str, Any] = {
        "type": event_type,
        "object_kind": object_kind,
        "object_id": str(object_id),
        "payload": jsonable(dict(payload or {})),
        "business_date": ctx.clock.today(),
        "recorded_at": ctx.clock.now(),
        "actor": ctx.actor[:64],
        "source": ctx.source[:10],
    }
    event_id = conn.execute(_INSERT_ONE, values).scalar_one()
    event = Event(id=int(event_id), **values)
    dispatch(conn, ctx, event)
    return event


def record_many(
    conn: Connection, ctx: Context, rows: Sequence[tuple[str, str, object, Mapping[str, Any] | None]]
) -> list[Event]:
    """:func:`record` of many events — ``(type, object kind, object id, payload)`` each — in one
    multi-row INSERT; then the listeners of each, in order (a listener's set form once, with all it hears)."""
    if not rows:
        return []
    installed()
    common = {
        "business_date": ctx.clock.today(),
        "recorded_at": ctx.clock.now(),
        "actor": ctx.actor[:64],
        "source": ctx.source[:10],
    }
    values = [
        {
            "type": t,
            "object_kind": kind,
            "object_id": str(oid),
            "payload": jsonable(dict(payload or {})),
            **common,
        }
        for t, kind, oid, payload in rows
    ]
    ids = insert_with_ids(conn, business_event, values)  # one executemany on SQLite too (0044)
    out = [Event(id=int(i), **v) for i, v in zip(ids, values, strict=True)]
    dispatch_many(conn, ctx, out)
    return out


def json_of(conn: Connection, **fields: ColumnElement[Any]) -> ColumnElement[Any]:
    """A JSON object built in SQL from ``fields`` (for :func:`record_set` payloads)."""
    build = func.json_object if conn.dialect.name == "sqlite" else func.json_build_object
    args: list[Any] = []
    for name, value in fields.items():
        assert name.isidentifier()  # our own field names, inlined as SQL string literals
        args += [literal_column(f"'{name}'"), value]
    return build(*args, type_=JSON)


def record_set(conn: Connection, ctx: Context, event_type: str, object_kind: str, rows: Select[Any]) -> int:
    """One event per row of ``rows`` (``SELECT object_id, payload``) in one ``INSERT … SELECT``.

    For set-based writers: the events of a chunk of objects cost one statement, not one per
    object. Listeners of ``event_type``, if any, are then called once per event, in id order. Returns
    the number of events written.
    """
    hearing = any(event_type in listener.types for listener in installed())
    source = rows.subquery()
    object_id, payload = source.c[0], source.c[1]
    stmt = insert(business_event).from_select(
        list(_COLUMNS),
        select(
            literal(event_type, String),
            literal(object_kind, String),
            cast(object_id, String),
            payload,
            literal(ctx.clock.today(), Date),
            literal(ctx.clock.now(), UtcDateTime()),
            literal(ctx.actor[:64], String),
            literal(ctx.source[:10], String),
        ),
    )
    if not hearing:
        return int(conn.execute(stmt).rowcount or 0)
    ids = sorted(int(i) for i in conn.execute(stmt.returning(business_event.c.id)).scalars())
    dispatch_many(conn, ctx, _load(conn, ids))
    return len(ids)


def _event(row: Mapping[Any, Any]) -> Event:
    return Event(**{name: row[name] for name in ("id", *_COLUMNS)})


def _load(conn: Connection, ids: Sequence[int]) -> list[Event]:
    out: list[Event] = []
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        rows = conn.execute(
            select(business_event).where(business_event.c.id.in_(chunk)).order_by(business_event.c.id)
        ).mappings()
        out += [_event(r) for r in rows]
    return out


def events_since(
    conn: Connection,
    cursor: int,
    types: Sequence[str] | None = None,
    *,
    up_to: int | None = None,
    limit: int = 1000,
) -> list[Event]:
    """Events after ``cursor`` (and at most ``up_to``), of ``types`` if given, oldest first."""
    e = business_event.c
    query = select(business_event).where(e.id > cursor)
    if up_to is not None:
        query = query.where(e.id <= up_to)
    if types is not None:
        query = query.where(e.type.in_(list(types)))
    return [_event(r) for r in conn.execute(query.order_by(e.id).limit(limit)).mappings()]


def events_of(conn: Connection, object_kind: str, object_id: object) -> list[Event]:
    """Every event of one object, oldest first."""
    e = business_event.c
    query = select(business_event).where(e.object_kind == object_kind, e.object_id == str(object_id))
    return [_event(r) for r in conn.execute(query.order_by(e.id)).mappings()]
