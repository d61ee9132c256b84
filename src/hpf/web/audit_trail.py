"""Every change made over HTTP leaves an audit row (G3): who, role, center, when, from where, what,
why, outcome — whatever the route, including the routes later issues add.

A middleware looks at each unsafe request (POST, PUT, PATCH, DELETE) of a signed-in principal
once it has been answered: the route's name is the action, its first path parameter the object,
the ``X-HPF-Purpose`` header (percent-encoded UTF-8; or the default) the purpose, and the status the outcome (``ok``
below 400; ``denied`` for 401/403/404/409/422 — the request was refused and changed nothing;
``error`` otherwise). Reads of personal data are audited where they happen
(``hpf.web.disclosure``); sign-ins by ``hpf.security.api.record_sign_in``.

The row is written in its own transaction after the business transaction committed: a crash in
between loses the row, not the change; money-moving changes also leave the ledger's own trail.
"""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hpf.db.engine import write_transaction
from hpf.security import audit
from hpf.web.auth import Resolution
from hpf.web.disclosure import request_context, role_of, source_ip

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = frozenset({401, 403, 404, 409, 422, 423, 429})
PURPOSE_HEADER = "X-HPF-Purpose"
DEFAULT_PURPOSE = "业务办理"


def _record(request: Request, status: int) -> None:
    found = getattr(request.state, "auth", None)
    if not isinstance(found, Resolution) or found.principal is None:
        return  # nobody signed in: the sign-in routes audit themselves, others were refused
    route = request.scope.get("route")
    params = request.scope.get("path_params") or {}
    name = getattr(route, "name", None) or request.url.path
    first = next(iter(params.items()), None)
    # HTTP headers are Latin-1: the purpose travels percent-encoded UTF-8.
    purpose = " ".join(unquote(request.headers.get(PURPOSE_HEADER) or "").split())[:200] or DEFAULT_PURPOSE
    outcome = "ok" if status < 400 else "denied" if status in REFUSED else "error"
    with write_transaction(request.app.state.engine) as conn:
        audit.append(
            conn,
            request_context(request, found.principal),
            role=role_of(found.principal),
            source_ip=source_ip(request),
            action=str(name)[:40],
            object_type=(first[0] if first else "request")[:40],
            object_id=str(first[1])[:64] if first else None,
            purpose=purpose,
            outcome=outcome,
            detail={"method": request.method, "path": request.url.path[:200], "status": status},
        )


class AuditTrail:
    """Pure ASGI middleware: records the row once the route, its dependencies (and so the
    request's transaction) and the response are all done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        status = 500

        async def remember(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, remember)
        await run_in_threadpool(_record, Request(scope), status)


def install(app: FastAPI) -> None:
    app.add_middleware(AuditTrail)
