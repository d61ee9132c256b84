"""Typed request dependencies: a connection in a transaction, and who is acting.

Read routes get a read transaction, write routes a write transaction that commits when the
handler returns and rolls back if it raises: the use case's transaction is the request's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Connection

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.context import Context


def _read(request: Request) -> Iterator[Connection]:
    with read_transaction(request.app.state.engine) as conn:
        yield conn


def _write(request: Request) -> Iterator[Connection]:
    with write_transaction(request.app.state.engine) as conn:
        yield conn


def _context(
    request: Request,
    x_hpf_actor: Annotated[str | None, Header(max_length=64)] = None,
) -> Context:
    # Until sign-in exists (security issue), the acting user is named by a header and recorded.
    return Context(
        actor=x_hpf_actor or "anonymous",
        clock=request.app.state.clock,
        center_code=request.app.state.settings.center_code,
        source="api",
    )


ReadDb = Annotated[Connection, Depends(_read)]
WriteDb = Annotated[Connection, Depends(_write)]
Ctx = Annotated[Context, Depends(_context)]
