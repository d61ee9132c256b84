"""Typed request dependencies: the request's unit of work, and who is acting.

One unit of work per request. Read routes get a read transaction; write routes a write
transaction in which the business change, and the audit row of the change
(``hpf.web.audit_trail.record_change``), commit together when the endpoint answered below 400,
and which rolls back when it raised or answered a refusal. Both are function-scoped: FastAPI ends
them after the endpoint returns and before the response is sent, so nothing answers success
before it has committed (``hpf.web.routing.HpfRoute`` tells the unit of work the status).
The acting user is the signed-in principal's login (``hpf.web.auth``); ``anonymous`` on the
public routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection

from hpf.db.engine import read_transaction, writer_connection
from hpf.kernel.context import Context
from hpf.web import audit_sink
from hpf.web.audit_trail import record_change
from hpf.web.auth import Found


def _read(request: Request) -> Iterator[Connection]:
    with read_transaction(request.app.state.engine) as conn:
        request.state.unit_of_work = conn  # the page's links are decided in it (hpf.web.links)
        try:
            yield conn
        finally:
            request.state.unit_of_work = None


def _write(request: Request) -> Iterator[Connection]:
    with writer_connection(request.app.state.engine) as conn:
        transaction = conn.begin()
        request.state.unit_of_work = conn
        try:
            yield conn
        except BaseException:
            transaction.rollback()
            _requeue_reads(request)
            raise
        finally:
            request.state.unit_of_work = None
        # None: a route of a class that does not report its status (not ours); keep the change.
        status: int | None = getattr(request.state, "status", None)
        if status is not None and status >= 400:
            transaction.rollback()
            _requeue_reads(request)
            return
        record_change(conn, request, status or 200)
        transaction.commit()


def _requeue_reads(request: Request) -> None:
    """Personal data shown in a request whose change rolled back was shown all the same: its
    read rows go to the audit sink (queued: this request still holds the write lock)."""
    for work in getattr(request.state, "reads_in_unit_of_work", ()):
        audit_sink.queue(request, work)


async def _context(request: Request, found: Found) -> Context:  # no I/O: no thread hop
    return Context(
        actor=found.principal.login if found.principal is not None else "anonymous",
        clock=request.app.state.clock,
        center_code=request.app.state.settings.center_code,
        source="api",
    )


ReadDb = Annotated[Connection, Depends(_read, scope="function")]
WriteDb = Annotated[Connection, Depends(_write, scope="function")]
Ctx = Annotated[Context, Depends(_context)]
