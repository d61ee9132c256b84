"""Typed request dependencies: the request's unit of work, and who is acting.

One unit of work per request (``hpf.web.unit_of_work``). Read routes get a read transaction;
write routes a write transaction in which the business change, and the audit row of the change
(``hpf.web.audit_trail.record_change``), commit together when the endpoint answered below 400,
and which rolls back when it raised or answered a refusal. Both end before the response is sent
(function-scoped; a sync endpoint's write ends in its own thread), so nothing answers success
before it has committed.
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
from hpf.web import unit_of_work
from hpf.web.auth import Found


def _read(request: Request) -> Iterator[Connection]:
    with read_transaction(request.app.state.engine) as conn:
        request.state.db = conn  # the page's links are decided in it (hpf.web.links)
        try:
            yield conn
        finally:
            request.state.db = None


def _write(request: Request) -> Iterator[Connection]:
    with writer_connection(request.app.state.engine) as conn:
        unit = unit_of_work.begin(request, conn)
        request.state.db = conn
        try:
            yield conn
        except BaseException:
            unit.end(None, failed=True)
            raise
        finally:
            request.state.db = None
        # Usually ended already, in the endpoint's thread (hpf.web.routing). None: a route of a
        # class that does not report its status (not ours); keep the change.
        unit.end(getattr(request.state, "status", None))


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
