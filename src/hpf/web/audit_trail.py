"""Every change made over HTTP leaves an audit row (G3): who, role, center, when, from where, what,
why, outcome — whatever the route, including the routes later issues add.

The row of a change made in the request's unit of work (``WriteDb``, ``hpf.web.deps``) is
written in that same transaction, just before it commits: the change and its row are committed
together, before the answer leaves, or neither is. Any other unsafe request (POST, PUT, PATCH,
DELETE) of a signed-in principal — refused, failed, or a route that manages its own
transactions — gets its row through the audit sink (``hpf.web.audit_sink``) once its status is
known, and the answer waits until that row is committed.

The route's name is the action, its first path parameter the object, the ``X-HPF-Purpose``
header (percent-encoded UTF-8; or the default) the purpose, and the status the outcome (``ok``
below 400; ``denied`` for 401/403/404/409/422/423/429 — the request was refused and changed
nothing; ``error`` otherwise). Reads of personal data are audited where they happen
(``hpf.disclosure.http``); sign-ins by ``hpf.console.api.record_sign_in``.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from urllib.parse import unquote

from fastapi import FastAPI, Request
from sqlalchemy import Connection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hpf.audit import trail as audit
from hpf.web.audit_sink import WAIT_SECONDS, AuditSink, Work, queue
from hpf.web.auth import Resolution
from hpf.web.callers import request_context, role_of, source_ip

log = logging.getLogger(__name__)

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = frozenset({401, 403, 404, 409, 422, 423, 429})
PURPOSE_HEADER = "X-HPF-Purpose"
DEFAULT_PURPOSE = "业务办理"


def _change(request: Request, status: int) -> Work | None:
    """The audit row of this unsafe request answered ``status``, as work for a connection."""
    if request.method not in UNSAFE:
        return None
    found = getattr(request.state, "auth", None)
    if not isinstance(found, Resolution) or found.principal is None:
        return None  # nobody signed in: the sign-in routes audit themselves, others were refused
    principal = found.principal
    route = request.scope.get("route")
    params = request.scope.get("path_params") or {}
    name = getattr(route, "name", None) or request.url.path
    first = next(iter(params.items()), None)
    # HTTP headers are Latin-1: the purpose travels percent-encoded UTF-8.
    purpose = " ".join(unquote(request.headers.get(PURPOSE_HEADER) or "").split())[:200] or DEFAULT_PURPOSE
    outcome = "ok" if status < 400 else "denied" if status in REFUSED else "error"
    ctx = request_context(request, principal)
    role = role_of(principal)
    ip = source_ip(request)
    detail = {"method": request.method, "path": request.url.path[:200], "status": status}

    def work(conn: Connection) -> None:
        audit.append(
            conn,
            ctx,
            role=role,
            source_ip=ip,
            action=str(name)[:40],
            object_type=(first[0] if first else "request")[:40],
            object_id=str(first[1])[:64] if first else None,
            purpose=purpose,
            outcome=outcome,
            detail=detail,
        )

    return work


def record_change(conn: Connection, request: Request, status: int) -> None:
    """The change's row in the request's own transaction (called by the unit of work)."""
    work = _change(request, status)
    if work is not None:
        work(conn)
        request.state.audited = True


class AuditTrail:
    """Pure ASGI middleware: holds the answer's first message until this request's audit rows
    are committed, writing the change's row first when the unit of work did not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                await _settle(Request(scope), int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Exception:
            request = Request(scope)
            work = _change(request, 500)
            if work is not None and not getattr(request.state, "audited", False):
                queue(request, work)
            raise


async def _settle(request: Request, status: int) -> None:
    if not getattr(request.state, "audited", False):
        work = _change(request, status)
        if work is not None:
            queue(request, work)
    last: Future[None] | None = getattr(request.state, "audit_last", None)
    if last is None:
        return
    try:
        await asyncio.wait_for(asyncio.wrap_future(last), WAIT_SECONDS)
    except Exception:
        # The answer is decided (a change made outside the unit of work is committed already):
        # saying otherwise would invite a retry of a done change. The sink logged the failure.
        log.error("audit row of %s %s not committed before the answer", request.method, request.url.path)


def install(app: FastAPI, sink: AuditSink) -> None:
    app.state.audit_sink = sink
    app.add_middleware(AuditTrail)
