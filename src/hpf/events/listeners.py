"""Listeners: what runs, in the writer's transaction, when an event of a type is recorded.

A lower package that changes state records an event (``hpf.events.record``); a higher package
that must react in the same transaction — an application marked paid when its payout is, a loan
application executed when its loan is activated, an approved change carried out — is a
:class:`Listener` of that event type. The set of listeners is declared once, in
``hpf.bootstrap.listeners``, and installed when the process starts; a lower package never
imports the packages that listen to it.

A listener is called synchronously, right after the event's row is written, with the writer's
connection and context: its work commits or rolls back with the change that caused it. It must
be quick and idempotent, and touch only its own package's state (through its own services).
Listeners of one type run in the order they are declared. Work that must leave the process
(hub messages, notices) is not a listener but a consumer (``hpf.events.consumers``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection

from hpf.kernel.context import Context
from hpf.kernel.wiring import not_wired


@dataclass(frozen=True)
class Event:
    """One recorded business event."""

    id: int
    type: str
    object_kind: str
    object_id: str
    payload: Mapping[str, Any]
    business_date: date
    recorded_at: datetime
    actor: str
    source: str


Call = Callable[[Connection, Context, Event], None]
CallMany = Callable[[Connection, Context, Sequence[Event]], None]


@dataclass(frozen=True)
class Listener:
    """``call`` for every event of one of ``types`` whose payload has the fields of ``where``."""

    name: str  # what it does, for the startup checks and errors
    types: tuple[str, ...]
    call: Call
    where: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The same reaction to many events recorded together (``record_many``, ``record_set``), in a
    # few statements whatever their number (decision 0045); ``call`` stays the one-event form.
    call_many: CallMany | None = None

    def hears(self, event_type: str, payload: Mapping[str, Any]) -> bool:
        return event_type in self.types and all(payload.get(k) == v for k, v in self.where.items())


_installed: tuple[Listener, ...] | None = None
_extra: tuple[Listener, ...] = ()  # tests' listeners beside the declared ones
# The listeners of each event type, in order; rebuilt whenever the two above change. An event is
# recorded several times a request: asking every listener of the process whether it hears it
# cost more than the listeners that do.
_of_type: dict[str, tuple[Listener, ...]] = {}


def _index() -> None:
    global _of_type
    index: dict[str, list[Listener]] = {}
    for listener in (*(_installed or ()), *_extra):
        for event_type in dict.fromkeys(listener.types):
            index.setdefault(event_type, []).append(listener)
    _of_type = {event_type: tuple(listeners) for event_type, listeners in index.items()}


def install(listeners: tuple[Listener, ...]) -> None:
    """The process's listeners from now on (``hpf.bootstrap`` calls this once at start)."""
    global _installed
    _installed = tuple(listeners)
    _index()


def installed() -> tuple[Listener, ...]:
    """The installed listeners; a process that was not started through bootstrap is refused."""
    if _installed is None:
        raise not_wired("event listeners")
    return (*_installed, *_extra)


def hears(event_type: str, **payload: Any) -> tuple[Listener, ...]:
    """The listeners an event of ``event_type`` with ``payload`` would call."""
    return tuple(listener for listener in installed() if listener.hears(event_type, payload))


def dispatch(conn: Connection, ctx: Context, event: Event) -> None:
    installed()  # refused when not wired
    for listener in _of_type.get(event.type, ()):
        if listener.hears(event.type, event.payload):
            listener.call(conn, ctx, event)


def dispatch_many(conn: Connection, ctx: Context, events: Sequence[Event]) -> None:
    """The listeners of events recorded together: each event's one-event listeners in order, as
    :func:`dispatch`; then each listener with a set form once, with all the events it hears."""
    listeners = installed()
    for event in events:
        for listener in listeners:
            if listener.call_many is None and listener.hears(event.type, event.payload):
                listener.call(conn, ctx, event)
    for listener in listeners:
        if listener.call_many is not None:
            heard = [e for e in events if listener.hears(e.type, e.payload)]
            if heard:
                listener.call_many(conn, ctx, heard)


@contextmanager
def listening(*extra: Listener) -> Iterator[None]:
    """``extra`` listeners beside the installed ones, for a ``with`` block (tests)."""
    global _extra
    saved = _extra
    _extra = (*saved, *extra)
    _index()
    try:
        yield
    finally:
        _extra = saved
        _index()
