"""Who is asking, and may they: the principal of a request and the permission of each route.

A request is signed in by an API access token (``Authorization: Bearer …``, 15 minutes, no
database) or by the pages' session cookie (``hpf_session``, checked in the database). Every
route declares one permission with ``dependencies=[Depends(requires(Perm.X))]``; a test
enumerates all routes and fails on one without. ``requires`` answers, in this order:

- nobody signed in: 401 ``auth.required`` (a refused bearer token: ``auth.invalid_token``);
  pages turn a 401 into a redirect to the sign-in page;
- a principal of another center (one database per center): 403 ``auth.wrong_center``;
- a principal whose roles lack the permission: 403 ``auth.forbidden``;
- a form or call signed in by the cookie without the session's CSRF token: 403 ``auth.csrf``;
- a member, employer or partner outside the route's object scope (an account number, a list or
  an application id in the path): 404, the same answer as for
  an object that does not exist, so account numbers cannot be probed. Routes about the whole
  center (searches, lists, the ledger) are staff-only.

The bank is a machine, not a principal: ``requires(Perm.BANK_NOTIFY)`` ignores tokens and
cookies and accepts only a body signed with the shared bank key (``X-HPF-Signature``,
HMAC-SHA256, compared in constant time; ``hpf.settlement.messages``); anything else is 401
``auth.bank_signature``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from hpf.access.permissions import Perm, Principal, Scope, scope_permits
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import sessions, tokens
from hpf.identity.identity import Forbidden, Unauthenticated
from hpf.identity.sessions import Session
from hpf.kernel.errors import HpfError, NotFound

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"

_BEARER = HTTPBearer(
    auto_error=False,
    description="An access token from POST /api/v1/auth/token (15 minutes; refresh with /api/v1/auth/refresh)",
)


@dataclass(frozen=True)
class Resolution:
    """The outcome of looking at a request's credentials (``error``: why a token was refused)."""

    principal: Principal | None = None
    session: Session | None = None
    method: str | None = None  # bearer | session
    error: HpfError | None = None


def _required() -> Unauthenticated:
    return Unauthenticated(
        "auth.required", "请先登录", "sign in first: a bearer token or a session is needed"
    )


def resolve(request: Request) -> Resolution:
    """The principal behind the request's bearer token or session cookie, if any.

    A bearer token takes precedence over a cookie. Kept on ``request.state`` for templates.
    """
    known = getattr(request.state, "auth", None)
    if isinstance(known, Resolution):
        return known
    found = _resolve(request)
    request.state.auth = found
    return found


def _resolve(request: Request) -> Resolution:
    state = request.app.state
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Resolution(error=tokens.invalid_token("the Authorization header is not 'Bearer <token>'"))
        try:
            claims = tokens.verify_access(token.strip(), state.clock.now(), state.token_config)
        except HpfError as exc:
            return Resolution(error=exc)
        return Resolution(principal=claims.principal(), method="bearer")
    cookie = request.cookies.get(sessions.COOKIE_NAME)
    if cookie:
        now = state.clock.now()
        try:
            with read_transaction(state.engine) as conn:
                session = sessions.load_session(conn, cookie, now, touch=False)
        except sessions.TouchNeeded:
            with write_transaction(state.engine) as conn:  # now and then: slide the idle limit
                session = sessions.load_session(conn, cookie, now)
        if session is not None:
            return Resolution(principal=session.principal, session=session, method="session")
    return Resolution()


async def resolution(request: Request) -> Resolution:
    """The request's credentials as a dependency (resolved once per request).

    A bearer token is checked here, on the event loop (a signature, no I/O), as is a request with
    no credentials; a session cookie is loaded from the database on a worker thread.
    """
    if request.headers.get("authorization") is None and sessions.COOKIE_NAME in request.cookies:
        return await run_in_threadpool(resolve, request)
    return resolve(request)


Found = Annotated[Resolution, Depends(resolution)]


def signed_in(found: Found) -> Principal:
    """The signed-in principal (for handlers whose route already ``requires`` a permission)."""
    if found.principal is None:
        raise found.error or _required()
    return found.principal


async def _current_principal(found: Found) -> Principal:  # no I/O: no thread hand-off
    return signed_in(found)


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]


# --------------------------------------------------------------------------- scopes


def route_scope(path: str, declared: Scope | None = None) -> Scope:
    """The object scope of a route: declared, else read from its path template."""
    if declared is not None:
        return declared
    if "{application_id}" in path:
        return Scope.APPLICATION
    if "/members/{account_no}" in path:
        return Scope.MEMBER
    if "/employers/{account_no}" in path or "/remittances/{remittance_id}" in path:
        return Scope.EMPLOYER
    return Scope.CENTER


def _not_found(scope: Scope, params: dict[str, Any]) -> NotFound:
    """Exactly what the use case answers for an object that does not exist."""
    if scope is Scope.APPLICATION:
        return NotFound(
            "application.not_found", "申请不存在", f"no application {params.get('application_id')}"
        )
    if scope is Scope.MEMBER:
        no = params.get("account_no")
        return NotFound("member.not_found", "个人账户不存在", f"no member with account {no}")
    if "remittance_id" in params:
        return NotFound("remittance.not_found", "清册不存在", f"no remittance {params['remittance_id']}")
    no = params.get("account_no")
    return NotFound("employer.not_found", "单位账户不存在", f"no employer with account {no}")


def _owner(request: Request, scope: Scope, params: dict[str, Any]) -> tuple[int | None, int | None]:
    """(member id, employer id) of the object the path names; (None, None) when there is none.

    Read on the request's own connection when it has one (a page deciding which links to
    show: ``hpf.web.deps`` keeps it on ``request.state.db``), else in a read transaction of its own.
    """
    conn = getattr(request.state, "db", None)
    if isinstance(conn, Connection):
        return _owner_in(request.app.state.owners, conn, scope, params)
    with read_transaction(request.app.state.engine) as conn:
        return _owner_in(request.app.state.owners, conn, scope, params)


OwnerLookup = Callable[[Connection, str], tuple[int | None, int | None]]


@dataclass(frozen=True)
class Owners:
    """How to find whose an object is, one lookup per kind of id a path carries: each answers
    (member id, employer id) or raises ``NotFound``. The packages that own the objects publish
    the lookups; the application wires them (``hpf.app``), so this module knows no package above it."""

    application: OwnerLookup
    member: OwnerLookup
    employer: OwnerLookup
    remittance: OwnerLookup


def _owner_in(
    owners: Owners, conn: Connection, scope: Scope, params: dict[str, Any]
) -> tuple[int | None, int | None]:
    try:
        if scope is Scope.APPLICATION:
            raw = str(params.get("application_id", ""))
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
                return None, None
            return owners.application(conn, raw)
        if scope is Scope.MEMBER:
            return owners.member(conn, str(params.get("account_no", "")))
        if "remittance_id" in params:
            raw = str(params["remittance_id"])
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
                return None, None
            return owners.remittance(conn, raw)
        return owners.employer(conn, str(params.get("account_no", "")))
    except NotFound:
        return None, None


def _check_scope(request: Request, who: Principal, scope: Scope) -> None:
    if who.is_staff or scope in (Scope.OPEN, Scope.OWN):
        return
    if scope is Scope.CENTER:
        raise Forbidden(
            "auth.staff_only", "该功能仅限中心工作人员使用", "this route is for the center's staff"
        )
    params = dict(request.path_params)
    if not scope_allows(request, who, scope, params):
        raise _not_found(scope, params)


def scope_allows(request: Request, who: Principal, scope: Scope, params: dict[str, Any]) -> bool:
    """Whether ``who`` reaches the object a route of ``scope`` names by ``params`` (its path
    parameters): what ``requires`` checks, as a yes or no (``hpf.web.links``: links shown)."""
    if who.is_staff or scope in (Scope.OPEN, Scope.OWN):
        return True
    if scope is Scope.CENTER:
        return False
    member_id, employer_id = _owner(request, scope, params)
    return scope_permits(who, scope, member_id=member_id, employer_id=employer_id)


# --------------------------------------------------------------------------- CSRF


def _csrf_refused() -> Forbidden:
    return Forbidden(
        "auth.csrf", "页面已过期或来源不明，请刷新页面后重新提交", "the form's CSRF token is missing or wrong"
    )


async def check_csrf(request: Request, session: Session) -> None:
    """The session's CSRF token must come with the form (``csrf_token``) or the header."""
    submitted: object = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if submitted is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        submitted = form.get(sessions.CSRF_FIELD)
    if not sessions.check_csrf(session, submitted):
        raise _csrf_refused()


# --------------------------------------------------------------------------- requires


def _wrong_center(who: Principal, center: str) -> Forbidden:
    return Forbidden(
        "auth.wrong_center",
        "登录凭证不属于本中心",
        f"the principal belongs to center {who.center_code}, this is center {center}",
    )


def requires(permission: Perm, *, scope: Scope | None = None) -> Callable[..., Any]:
    """The dependency a route declares: who may call it (``hpf_permission``) and on whose data.

    ``scope`` overrides the scope read from the route's path (see :func:`route_scope`).
    """
    if permission is Perm.BANK_NOTIFY:
        return _bank_signature()
    if permission is Perm.PUBLIC:

        async def public(found: Found) -> None:  # async: no I/O, no thread hand-off
            return None  # resolving first keeps the session's transaction before the route's

        public.hpf_permission = permission  # type: ignore[attr-defined]
        public.hpf_scope = Scope.OPEN  # type: ignore[attr-defined]
        return public

    async def dependency(
        request: Request,
        found: Found,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
    ) -> Principal:
        who = found.principal
        if who is None:
            raise found.error or _required()
        center = request.app.state.settings.center_code
        if who.center_code != center:
            raise _wrong_center(who, center)
        if not who.may(permission):
            raise Forbidden(
                "auth.forbidden", "没有办理该业务的权限", f"this needs the permission {permission.value}"
            )
        if found.session is not None and request.method not in SAFE_METHODS:
            await check_csrf(request, found.session)
        route = request.scope.get("route")
        object_scope = route_scope(getattr(route, "path", ""), scope)
        # Only a member's or employer's access to a named object reads the database: the rest is
        # decided here, on the event loop, without a thread hand-off.
        if who.is_staff or object_scope in (Scope.OPEN, Scope.OWN, Scope.CENTER):
            _check_scope(request, who, object_scope)
        else:
            await run_in_threadpool(_check_scope, request, who, object_scope)
        return who

    dependency.hpf_permission = permission  # type: ignore[attr-defined]
    dependency.hpf_scope = scope  # type: ignore[attr-defined]
    return dependency


def _bank_signature() -> Callable[..., Any]:
    async def bank(request: Request) -> None:
        # The bank's signature scheme is settlement's; the application wires its check here.
        signed_by_bank: Callable[[bytes, Mapping[str, str]], bool] = request.app.state.bank_signed
        body = await request.body()  # cached: the handler parses the same bytes
        if not signed_by_bank(body, request.headers):
            raise Unauthenticated(
                "auth.bank_signature", "银行报文签名无效", "the body is not signed with the shared bank key"
            )

    bank.hpf_permission = Perm.BANK_NOTIFY  # type: ignore[attr-defined]
    bank.hpf_scope = Scope.OPEN  # type: ignore[attr-defined]
    return bank


@dataclass(frozen=True)
class Declaration:
    permission: Perm
    scope: Scope


def declarations(route: Any) -> list[Declaration]:
    """The ``requires`` declarations of a route (tests: every route has exactly one)."""

    def walk(dependant: Any) -> Iterator[Any]:
        for sub in getattr(dependant, "dependencies", ()):
            yield sub.call
            yield from walk(sub)

    found = []
    for call in walk(getattr(route, "dependant", None)):
        permission = getattr(call, "hpf_permission", None)
        if isinstance(permission, Perm):
            declared = getattr(call, "hpf_scope", None)
            found.append(Declaration(permission, route_scope(getattr(route, "path", ""), declared)))
    return found
