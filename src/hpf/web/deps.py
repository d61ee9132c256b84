"""Typed request dependencies: a connection in a transaction, and who is acting.

Read routes get a read transaction, write routes a write transaction that commits when the
handler returns and rolls back if it raises: the use case's transaction is the request's.
The acting user is the signed-in principal's login (``hpf.web.auth``); ``anonymous`` on the
public routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.context import Context
from hpf.web.auth import Found


def _read(request: Request) -> Iterator[Connection]:
    with read_transaction(request.app.state.engine) as conn:
        yield conn


def _write(request: Request) -> Iterator[Connection]:
    with write_transaction(request.app.state.engine) as conn:
        yield conn


async def _context(request: Request, found: Found) -> Context:  # no I/O: no thread hop
    return Context(
        actor=found.principal.login if found.principal is not None else "anonymous",
        clock=request.app.state.clock,
        center_code=request.app.state.settings.center_code,
        source="api",
    )


ReadDb = Annotated[Connection, Depends(_read)]
WriteDb = Annotated[Connection, Depends(_write)]
Ctx = Annotated[Context, Depends(_context)]
