"""Limits at the door: how big a request body may be, and who may send one at all.

A pure ASGI middleware, outside authentication and before FastAPI reads anything:

- a body longer than the route's limit is refused 413 ``request.too_large`` (problem+json):
  up front when ``Content-Length`` says so, otherwise as soon as the bytes received pass the
  limit (chunked bodies are counted while they stream; nothing more is read);
- the limit is ``Settings.max_body_bytes`` (``HPF_MAX_BODY_BYTES``, 1 MiB) for every route but
  the known upload and bulk-list routes (:data:`UPLOAD_ROUTES`: materials, remittance lists,
  withdrawal forms with materials), which get ``Settings.max_upload_bytes``
  (``HPF_MAX_UPLOAD_BYTES``, 20 MiB). The materials' own limits of the catalog are checked
  later, per file;
- a request with a body to a route that needs sign-in, with no credentials at all (no
  ``Authorization`` header, no session cookie) or with a bearer token that is refused (bad
  signature, expired: a check without I/O), is answered 401 ``auth.required`` /
  ``auth.invalid_token`` (the pages: the redirect to the sign-in page) before a byte of its body
  is read: an anonymous upload is never spooled to disk nor parsed. A session cookie is looked up
  in the database by ``hpf.web.auth`` as before, after FastAPI has read the (limited) body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hpf.access.permissions import Perm
from hpf.identity import sessions, tokens
from hpf.kernel.errors import HpfError
from hpf.web.route_index import full_match

MIB = 1024 * 1024
DEFAULT_MAX_BODY = 1 * MIB
DEFAULT_MAX_UPLOAD = 20 * MIB
PROBLEM = "application/problem+json"

# Routes that take files or whole lists: (method, path pattern).
UPLOAD_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile(pattern))
    for method, pattern in (
        ("POST", r"/applications/[^/]+/materials"),  # page: a material of an application
        ("POST", r"/api/v1/applications/[^/]+/materials"),
        ("POST", r"/employers/[^/]+/remittances"),  # page: the remittance list (清册) upload
        ("POST", r"/api/v1/employers/[^/]+/remittances/upload"),
        ("POST", r"/api/v1/employers/[^/]+/remittances"),  # the list as JSON
        ("POST", r"/api/v1/employers/[^/]+/adjustment"),  # every member's base and rate
        ("POST", r"/members/[^/]+/withdrawals/[^/]+/apply"),  # page: the form with its materials
    )
)


def too_large(limit: int) -> HpfError:
    return HpfError(
        "request.too_large",
        f"请求内容过大，不能超过{_size(limit)}",
        f"the request body is larger than the limit of {limit} bytes",
        status=413,
        limit=limit,
    )


def _size(limit: int) -> str:
    return f"{limit // MIB}MB" if limit % MIB == 0 else f"{limit // 1024}KB"


class _TooLarge(Exception):
    """Raised from ``receive`` once the body passes the limit."""


class BodyLimit:
    """The body limits and the early 401 for anonymous bodies (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        max_upload: int = DEFAULT_MAX_UPLOAD,
        uploads: Iterable[tuple[str, re.Pattern[str]]] = UPLOAD_ROUTES,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.uploads = tuple(uploads)

    def limit_for(self, method: str, path: str) -> int:
        if any(m == method and p.fullmatch(path) for m, p in self.uploads):
            return self.max_upload
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(scope["method"], scope["path"])
        declared = headers.get("content-length")
        length: int | None = None
        if declared is not None:
            if not (declared.isascii() and declared.isdigit() and len(declared) <= 18):
                await _problem(scope, send, HpfError(
                    "request.bad_length", "请求长度无效", "the Content-Length header is not a number"
                ))  # fmt: skip
                return
            length = int(declared)
            if length > limit:
                await _problem(scope, send, too_large(limit))
                return
        has_body = (length or 0) > 0 or "transfer-encoding" in headers
        if has_body and (refusal := _unauthenticated(scope, headers)) is not None:
            route = _protected_route(scope)
            if route is not None:
                await _refuse_anonymous(scope, send, route, refusal)
                return
        await self._counted(scope, receive, send, limit)  # whatever was declared (HTTP/2 may not)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app made of the failed read: the answer is 413
                if not started and message["type"] == "http.response.start":
                    started = True
                    await _problem(scope, send, too_large(limit))
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            if not started:
                started = True
                await _problem(scope, send, too_large(limit))
        except Exception:
            if not exceeded:
                raise
            if not started:
                await _problem(scope, send, too_large(limit))


def _unauthenticated(scope: Scope, headers: Headers) -> HpfError | None:
    """Why the request certainly has no principal: no credentials at all, or a bearer token that
    fails its signature or has expired (checked as ``hpf.web.auth`` does: no I/O); None when it
    may have one (a valid token, or a session cookie, which the database decides)."""
    header = headers.get("authorization")
    if header is None:
        cookie = headers.get("cookie")
        if cookie is not None and cookie_parser(cookie).get(sessions.COOKIE_NAME):
            return None
        return _sign_in_first()
    scheme, _, token = header.partition(" ")
    state = getattr(scope.get("app"), "state", None)
    config = getattr(state, "token_config", None)
    clock = getattr(state, "clock", None)
    if config is None or clock is None:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        return tokens.invalid_token("the Authorization header is not 'Bearer <token>'")
    try:
        tokens.verify_access(token.strip(), clock.now(), config)
    except HpfError as refused:
        return refused
    return None


_OPEN = frozenset({Perm.PUBLIC, Perm.BANK_NOTIFY})


def _protected_route(scope: Scope) -> Any:
    """The route the request goes to (the first full match, as routing does) if it requires a
    principal; None for open routes and for paths no route takes (404/405 as usual)."""
    from hpf.web.auth import declarations

    found = full_match(getattr(scope.get("app"), "router", None), scope)
    if found is None:
        return None
    route = found[0]
    declared = declarations(route)
    open_route = not declared or any(d.permission in _OPEN for d in declared)
    return None if open_route else route


def _sign_in_first() -> HpfError:
    return HpfError(
        "auth.required", "请先登录", "sign in first: a bearer token or a session is needed", status=401
    )


async def _refuse_anonymous(scope: Scope, send: Send, route: Any, refusal: HpfError) -> None:
    from hpf.web.pages_common import PageRoute, sign_in_redirect

    if isinstance(route, PageRoute):
        request = Request(scope)
        response: Response = sign_in_redirect(request)
        response.headers["Connection"] = "close"
        await response(scope, _no_body, send)
        return
    error = ', error="invalid_token"' if refusal.code == "auth.invalid_token" else ""
    await _problem(scope, send, refusal, {"WWW-Authenticate": f'Bearer realm="openhpf"{error}'})


async def _problem(scope: Scope, send: Send, error: HpfError, headers: dict[str, str] | None = None) -> None:
    """The refusal as problem+json; the connection is closed (the rest of the body is unread)."""
    response = JSONResponse(
        error.to_problem(scope.get("path")),
        error.status,
        media_type=PROBLEM,
        headers={**(headers or {}), "Connection": "close"},
    )
    await response(scope, _no_body, send)


async def _no_body() -> dict[str, Any]:
    return {"type": "http.disconnect"}
