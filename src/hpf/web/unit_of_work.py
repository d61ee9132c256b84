"""The request's unit of work: its write transaction, ended exactly once, as early as possible.

A write route's connection (``WriteDb``) comes with a ``UnitOfWork``. It ends in one of two
places, whichever comes first:

- in the endpoint's own worker thread, right after a sync endpoint returns or raises
  (``HpfRoute`` wraps the endpoint): the change, its audit row and the commit happen in the
  thread that made the change, and on SQLite the process's writer turn is given back at once,
  instead of after two more thread hand-offs (the answer's serialisation and the dependency's
  exit), during which every other writer waited;
- else when the dependency ends (async endpoints, and a connection a route only passed to a
  sub-dependency), still before the answer leaves.

Below 400 the change's audit row (``hpf.web.audit_trail.record_change``) is written and the
transaction commits; at 400 or more — raised, or answered as a page with the errors — it rolls
back, and the rows of personal data shown meanwhile go to the audit sink (the data was shown).
"""

from __future__ import annotations

import weakref
from typing import Any

from fastapi import Request
from sqlalchemy import Connection

from hpf.db.engine import release_turn
from hpf.web import audit_sink
from hpf.web.audit_trail import record_change


class UnitOfWork:
    def __init__(self, request: Request, conn: Connection) -> None:
        self.request = request
        self.conn = conn
        self.ended = False

    def end(self, status: int | None, *, failed: bool = False) -> None:
        """Commit (status below 400, or None for a route that reports none) or roll back."""
        if self.ended:
            return
        self.ended = True
        # The registry's key is weak, but this unit (its value) holds the connection: left in,
        # the entry would keep the connection, the request and its upload alive for ever (a
        # leak of every write request, which made the collector's full passes ever longer).
        _open.pop(self.conn, None)
        try:
            if failed or (status is not None and status >= 400):
                self.conn.rollback()
                self._requeue_reads()
            else:
                record_change(self.conn, self.request, status or 200)
                self.conn.commit()
        finally:
            if not self.conn.in_transaction():
                release_turn(self.conn)
            # Reads after the end (an error page's links) take a read transaction of their own
            # rather than begin a new write on this connection.
            if getattr(self.request.state, "db", None) is self.conn:
                self.request.state.db = None

    def _requeue_reads(self) -> None:
        """Personal data shown in a request whose change rolled back was shown all the same: its
        read rows go to the audit sink (queued: this request may still hold the write lock)."""
        for work in getattr(self.request.state, "reads_in_unit_of_work", ()):
            audit_sink.queue(self.request, work)


_open: weakref.WeakKeyDictionary[Connection, UnitOfWork] = weakref.WeakKeyDictionary()


def begin(request: Request, conn: Connection) -> UnitOfWork:
    unit = UnitOfWork(request, conn)
    _open[conn] = unit
    return unit


def units_in(values: dict[str, Any]) -> list[UnitOfWork]:
    """The open units of work whose connections an endpoint was given."""
    return [
        unit
        for value in values.values()
        if isinstance(value, Connection) and (unit := _open.get(value)) is not None and not unit.ended
    ]
