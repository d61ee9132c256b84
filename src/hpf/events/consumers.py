"""Consumers: work that reads the event stream after the fact — the outbox.

A consumer (the hub delivery worker, a report builder, the notice sender) has a name and a
cursor: the id of the last event it processed. :func:`consume` reads the events after the
cursor in id order, calls ``handle`` for each, and advances the cursor **in the same
transaction** as whatever ``handle`` wrote: the effect and the cursor commit together, so each
event has its effect exactly once per consumer, in order, and a consumer killed midway starts
again after the last event it committed. Work that leaves the process (a message sent to the
hub) is at least once by nature; it carries the event id as its message id, and the receiver
de-duplicates on it.

**No event is skipped.** Ids are handed out when a row is inserted, not when its transaction
commits: on PostgreSQL an event with id 11 may commit before one with id 10, and a reader that
moved its cursor to 11 would never see 10. So the consumer first takes the *settled horizon*:
in a short transaction of its own it takes ``LOCK TABLE business_event IN SHARE MODE``, which
waits until every transaction that inserted an event has ended (and keeps new ones out for that
instant), and reads the highest id. Every event up to it has then committed or never will; the
consumer reads only up to it. A writer that holds the table longer than ``lock_wait_seconds``
(a month-end chunk) makes this round return 0: the consumer tries again later. The wait is kept
short (0.1 s) because PostgreSQL queues later writers behind a waiting lock: while the consumer
waits, a request that records an event waits too, at most that long. On SQLite there
is one writer at a time: the consumer's own write transaction sees every committed event and
none in flight, so the horizon is simply the highest id it sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from hpf.db.engine import write_transaction
from hpf.events.listeners import Event
from hpf.events.service import events_since
from hpf.events.tables import business_event, event_cursor
from hpf.kernel.context import Context

Handle = Callable[[Connection, Context, Event], None]


def cursor_of(conn: Connection, consumer: str) -> int:
    """The last event ``consumer`` processed (0: none yet)."""
    found = conn.scalar(select(event_cursor.c.last_event_id).where(event_cursor.c.consumer == consumer))
    return int(found or 0)


def _locked_cursor(conn: Connection, ctx: Context, consumer: str) -> int:
    """The consumer's cursor, its row locked until the transaction ends (created at 0)."""
    query = select(event_cursor.c.last_event_id).where(event_cursor.c.consumer == consumer).with_for_update()
    found = conn.scalar(query)
    if found is not None:
        return int(found)
    try:
        with conn.begin_nested():
            conn.execute(
                insert(event_cursor).values(consumer=consumer, last_event_id=0, updated_at=ctx.clock.now())
            )
    except IntegrityError:  # another process of the same consumer created it at the same time
        pass
    return int(conn.scalar(query) or 0)


def _last_id(conn: Connection) -> int:
    return int(conn.scalar(select(func.coalesce(func.max(business_event.c.id), 0))) or 0)


def settled_horizon(engine: Engine, lock_wait_seconds: float = 0.1) -> int | None:
    """PostgreSQL: the highest event id below which no transaction is still writing; ``None``
    when writers held the table longer than ``lock_wait_seconds``. SQLite needs none (``0``)."""
    if engine.dialect.name == "sqlite":
        return 0
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, int(lock_wait_seconds * 1000))}ms'")
        try:
            conn.exec_driver_sql("LOCK TABLE business_event IN SHARE MODE")
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                return None
            raise
        return _last_id(conn)


def consume(
    engine: Engine,
    ctx: Context,
    consumer: str,
    types: Sequence[str] | None,
    handle: Handle,
    *,
    limit: int = 500,
    lock_wait_seconds: float = 0.1,
) -> int:
    """Process the next events of ``types`` (all types: ``None``) for ``consumer``; how many.

    ``handle(conn, ctx, event)`` runs in the transaction that then advances the cursor. If it
    raises, nothing of the round commits (neither its effects nor the cursor) and the error
    propagates: the next round starts from the same event. Call it again until it returns 0.
    """

    def each(conn: Connection, ctx: Context, batch: list[Event]) -> None:
        for event in batch:
            handle(conn, ctx, event)

    return consume_batch(engine, ctx, consumer, types, each, limit=limit, lock_wait_seconds=lock_wait_seconds)


BatchHandle = Callable[[Connection, Context, list[Event]], None]


def consume_batch(
    engine: Engine,
    ctx: Context,
    consumer: str,
    types: Sequence[str] | None,
    handle: BatchHandle,
    *,
    limit: int = 500,
    lock_wait_seconds: float = 0.1,
) -> int:
    """:func:`consume` with one call of ``handle(conn, ctx, events)`` for the round's events (none:
    not called) — for a consumer whose effect is one thing per round (one message of many)."""
    horizon = settled_horizon(engine, lock_wait_seconds)
    if horizon is None:
        return 0
    with write_transaction(engine) as conn:
        cursor = _locked_cursor(conn, ctx, consumer)
        if engine.dialect.name == "sqlite":
            horizon = _last_id(conn)  # one writer at a time: nothing is in flight
        batch = events_since(conn, cursor, types, up_to=horizon, limit=limit)
        if batch:
            handle(conn, ctx, batch)
        # A short batch read everything up to the horizon (events of other types included).
        last = batch[-1].id if len(batch) == limit else horizon
        if last > cursor:
            conn.execute(
                update(event_cursor)
                .where(event_cursor.c.consumer == consumer)
                .values(last_event_id=last, updated_at=ctx.clock.now())
            )
    return len(batch)
