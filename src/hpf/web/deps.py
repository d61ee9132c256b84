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
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection

from hpf.db.engine import read_transaction, writer_connection
from hpf.kernel.context import Context
from hpf.web import unit_of_work
from hpf.web.auth import Found


@contextmanager
def open_read(request: Request) -> Iterator[Connection]:
    """The request's read transaction (``ReadDb``), ended when the block ends."""
    with read_transaction(request.app.state.engine) as conn:
        request.state.db = conn  # the page's links are decided in it (hpf.web.links)
        try:
            yield conn
        finally:
            request.state.db = None


@contextmanager
def open_write(request: Request) -> Iterator[Connection]:
    """The request's write connection and its unit of work (``WriteDb``): rolled back if the block
    raises, else committed or rolled back by the status the route reported."""
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


# As dependencies, for async endpoints (FastAPI opens and ends them on worker threads). A sync
# endpoint of an ``HpfRoute`` does not use them: it opens the same context managers itself, in
# its own worker thread (``hpf_open``), so a request makes one thread hand-off, not three.
def _read(request: Request) -> Iterator[Connection]:
    with open_read(request) as conn:
        yield conn


def _write(request: Request) -> Iterator[Connection]:
    with open_write(request) as conn:
        yield conn


_read.hpf_open = open_read  # type: ignore[attr-defined]
_write.hpf_open = open_write  # type: ignore[attr-defined]


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
