"""Sign-in pages (Chinese), sign-out, the self-service landing, and the 待审批 (approvals) page.

Staff sign in at ``/login`` with a password, then a TOTP code (``/login/totp``), or enrol an
authenticator first when their role demands one (``/login/totp-setup`` shows the secret and
the ``otpauth://`` URI as text). Members (resident ID) and employers (USCC) sign in at
``/self/login`` with a password, then the code sent by SMS (``/self/login/sms``).

Between the two steps the sign-in challenge lives in an HttpOnly cookie, never in the page.
The sign-in forms come before any session, so they carry a double-submit CSRF token (a random
cookie that the form must repeat); every other form carries the session's CSRF token.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Principal, Scope
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.approvals import service as approvals
from hpf.console.api import audit_sign_in, record_sign_in, sign_in_step, source_ip
from hpf.db.engine import read_transaction, write_transaction
from hpf.disclosure import alerts
from hpf.identity import identity, sessions, sms, totp
from hpf.identity import queries as identity_queries
from hpf.identity.identity import AuthStep, Outcome
from hpf.kernel.clock import CHINA_TZ
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.records import fields_of
from hpf.protection.protect import to_plain
from hpf.web.auth import CurrentPrincipal, Found, check_csrf, requires
from hpf.web.bounds import Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import SELF_PORTAL_COOKIE, PageRoute, render, safe_next, staff_names

router = APIRouter(include_in_schema=False, route_class=PageRoute)

PUBLIC = [Depends(requires(Perm.PUBLIC))]
LOGIN_CSRF_COOKIE = "hpf_login_csrf"
CHALLENGE_COOKIE = "hpf_challenge"
CHALLENGE_SECONDS = int(identity.CHALLENGE_TTL.total_seconds())

FormText = Annotated[str, Form(max_length=200)]
Secret = Annotated[str, Form(max_length=1024)]
NextUrl = Annotated[str, Form(alias="next", max_length=400)]
NextQuery = Annotated[str, Query(alias="next", max_length=400)]


@dataclass(frozen=True)
class Portal:
    """The two ways in: staff, and members and employers (网上服务)."""

    name: str
    login_path: str
    home: str
    title: str
    login_label: str
    login_hint: str


STAFF = Portal("staff", "/login", "/", "工作人员登录", "登录名", "由系统管理员分配的登录名")
SELF = Portal(
    "self",
    "/self/login",
    "/self",
    "职工、单位网上服务登录",
    "身份证号或统一社会信用代码",
    "职工填写18位居民身份证号码，单位填写18位统一社会信用代码",
)
SECOND_STEP_PATH = {
    Outcome.NEEDS_TOTP: "/login/totp",
    Outcome.NEEDS_TOTP_SETUP: "/login/totp-setup",
    Outcome.NEEDS_SMS: "/self/login/sms",
}


# --------------------------------------------------------------------------- cookies


def _env(request: Request) -> str:
    return str(request.app.state.settings.env)


def _cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_env(request) != "development",
        path="/",
    )


def _login_csrf(request: Request) -> str:
    """The double-submit token of the sign-in forms (the cookie's, or a new one)."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if (
        20 <= len(current) <= 100
        and current.isascii()
        and current.replace("-", "").replace("_", "").isalnum()
    ):
        return current
    return secrets.token_urlsafe(32)


def _login_csrf_ok(request: Request, submitted: str) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(cookie and submitted) and hmac.compare_digest(
        cookie.encode("utf-8", "surrogatepass"), submitted.encode("utf-8", "surrogatepass")
    )


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    token = _login_csrf(request)
    response = render(request, template, {**context, "login_csrf": token}, status_code=status)
    _cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=None)
    response.headers["Cache-Control"] = "no-store"
    return response


def _stale_form(request: Request, portal: Portal, next_url: str) -> Response:
    return _login_form(request, portal, next_url, error="页面已过期，请重新登录。", status=403)


# --------------------------------------------------------------------------- the first step


def _login_form(
    request: Request, portal: Portal, next_url: str, *, login: str = "", error: str = "", status: int = 200
) -> Response:
    context = {"portal": portal, "next": safe_next(next_url, ""), "login": login, "error": error}
    return _page(request, "login.html", context, status)


def _signed_in(request: Request, conn: Connection, ctx: Context, step: AuthStep, next_url: str) -> Response:
    """Start the session of a completed sign-in and go where the person was heading."""
    assert step.principal is not None
    token, _session = sessions.start_session(
        conn, ctx, step.principal.id, source_ip(request), request.headers.get("user-agent")
    )
    portal = STAFF if step.principal.is_staff else SELF
    response = RedirectResponse(safe_next(next_url, portal.home), status_code=303)
    response.set_cookie(value=token, **sessions.cookie_settings(_env(request)))
    response.delete_cookie(CHALLENGE_COOKIE, path="/")
    if portal is SELF:
        response.set_cookie(SELF_PORTAL_COOKIE, "self", httponly=True, samesite="lax", path="/")
    else:
        response.delete_cookie(SELF_PORTAL_COOKIE, path="/")
    return response


def _answer(
    request: Request, portal: Portal, step: AuthStep, response: Response | None, next_url: str, login: str
) -> Response:
    """After the first step: signed in, on to the second step, or the form again with why not."""
    if response is not None:
        return response
    error = step.error
    if error is not None:
        refused = _login_form(request, portal, next_url, login=login, error=error.title, status=error.status)
        if isinstance(retry := error.extra.get("retry_after"), int):  # 423 locked, 429 throttled
            refused.headers["Retry-After"] = str(retry)
        return refused
    target = SECOND_STEP_PATH[step.outcome]
    going = safe_next(next_url, "")
    redirect = RedirectResponse(
        target + (f"?next={quote(going, safe='/')}" if going else ""), status_code=303
    )
    assert step.challenge is not None
    _cookie(request, redirect, CHALLENGE_COOKIE, step.challenge, max_age=CHALLENGE_SECONDS)
    return redirect


def _first_step(
    request: Request, ctx: Ctx, portal: Portal, login: str, password: str, csrf: str, next_url: str
) -> Response:
    if not _login_csrf_ok(request, csrf):
        return _stale_form(request, portal, next_url)
    page_ctx = dataclasses.replace(ctx, source="page")
    with write_transaction(request.app.state.engine) as conn:
        step = sign_in_step(request, conn, page_ctx, login=login, password=password)
        done = _signed_in(request, conn, page_ctx, step, next_url) if step.ok else None
    record_sign_in(request, f"{portal.name}.sign_in", step)
    return _answer(request, portal, step, done, next_url, login)


@router.get("/login", dependencies=PUBLIC)
def login_page(request: Request, found: Found, next_url: NextQuery = "") -> Response:
    if found.principal is not None and not next_url:
        return RedirectResponse(STAFF.home if found.principal.is_staff else SELF.home, status_code=303)
    return _login_form(request, STAFF, next_url)


@router.post("/login", dependencies=PUBLIC)
def login(
    request: Request,
    ctx: Ctx,
    login: FormText = "",
    password: Secret = "",
    csrf_token: FormText = "",
    next_url: NextUrl = "",
) -> Response:
    return _first_step(request, ctx, STAFF, login, password, csrf_token, next_url)


@router.get("/self/login", dependencies=PUBLIC)
def self_login_page(request: Request, found: Found, next_url: NextQuery = "") -> Response:
    if found.principal is not None and not next_url:
        return RedirectResponse(STAFF.home if found.principal.is_staff else SELF.home, status_code=303)
    return _login_form(request, SELF, next_url)


@router.post("/self/login", dependencies=PUBLIC)
def self_login(
    request: Request,
    ctx: Ctx,
    login: FormText = "",
    password: Secret = "",
    csrf_token: FormText = "",
    next_url: NextUrl = "",
) -> Response:
    return _first_step(request, ctx, SELF, login, password, csrf_token, next_url)


# --------------------------------------------------------------------------- the second step


@dataclass(frozen=True)
class SecondStep:
    outcome: Outcome
    portal: Portal
    template: str
    path: str


TOTP = SecondStep(Outcome.NEEDS_TOTP, STAFF, "login_totp.html", "/login/totp")
TOTP_SETUP = SecondStep(Outcome.NEEDS_TOTP_SETUP, STAFF, "login_totp_setup.html", "/login/totp-setup")
SMS = SecondStep(Outcome.NEEDS_SMS, SELF, "login_sms.html", "/self/login/sms")
_STEP_NAMES = {TOTP.path: "totp", TOTP_SETUP.path: "totp_setup", SMS.path: "sms"}


def _pending_challenge(request: Request, step: SecondStep) -> dict[str, Any] | None:
    """The live challenge in the cookie, if it is for this step: its principal's login and secret."""
    digest = identity.token_hash_or_none(request.cookies.get(CHALLENGE_COOKIE))
    if digest is None:
        return None
    with read_transaction(request.app.state.engine) as conn:
        row = identity_queries.challenge(conn, digest)
    now = request.app.state.clock.now()
    if (
        row is None
        or row.step != _STEP_NAMES[step.path]
        or row.consumed_at is not None
        or identity.utc(row.expires_at) <= identity.utc(now)
    ):
        return None
    return to_plain("sign_in_challenge", row._asdict())


def _second_form(
    request: Request,
    step: SecondStep,
    pending: dict[str, Any],
    next_url: str,
    *,
    error: str = "",
    status: int = 200,
) -> Response:
    context: dict[str, Any] = {"portal": step.portal, "next": safe_next(next_url, ""), "error": error}
    if step is TOTP_SETUP and pending.get("pending_secret"):
        secret = pending["pending_secret"]
        context["secret"] = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
        context["uri"] = totp.provisioning_uri(secret, pending["login"])
    if step is SMS:
        context["sent"] = _sms_sent(request, pending)
    return _page(request, step.template, context, status)


def _sms_sent(request: Request, pending: dict[str, Any]) -> dict[str, Any] | None:
    """What the SMS page says of the code: when it was sent, until when it is good, when to ask
    again — the truth, also when a second request within a minute sent nothing."""
    clock = request.app.state.clock
    ctx = Context(pending["login"], clock, request.app.state.settings.center_code, source="page")
    with read_transaction(request.app.state.engine) as conn:
        sent = sms.last_sent(conn, ctx, int(pending["principal_id"]), identity.SIGN_IN)
    if sent is None:
        return None
    return {
        "at": sent.sent_at.astimezone(CHINA_TZ).strftime("%H:%M:%S"),
        "until": sent.expires_at.astimezone(CHINA_TZ).strftime("%H:%M:%S"),
        "live": sent.live,
        "resend_in": sent.resend_in,
    }


def _show_second(request: Request, step: SecondStep, next_url: str) -> Response:
    pending = _pending_challenge(request, step)
    if pending is None:
        return _login_form(request, step.portal, next_url, error="登录已超时，请重新输入密码。", status=401)
    return _second_form(request, step, pending, next_url)


def _complete(
    request: Request, ctx: Context, step: SecondStep, code: str, csrf: str, next_url: str
) -> Response:
    pending = _pending_challenge(request, step)
    if pending is None:
        return _login_form(request, step.portal, next_url, error="登录已超时，请重新输入密码。", status=401)
    if not _login_csrf_ok(request, csrf):
        return _second_form(request, step, pending, next_url, error="页面已过期，请重新提交。", status=403)
    page_ctx = dataclasses.replace(ctx, source="page")
    with write_transaction(request.app.state.engine) as conn:
        result = sign_in_step(
            request, conn, page_ctx, challenge=request.cookies.get(CHALLENGE_COOKIE), code=code
        )
        done = _signed_in(request, conn, page_ctx, result, next_url) if result.ok else None
    record_sign_in(request, f"{step.portal.name}.second_step", result)
    if done is not None:
        return done
    error = result.error
    assert error is not None  # a second step either signs in or fails
    if result.outcome in (Outcome.LOCKED, Outcome.THROTTLED) or result.reason in (
        "challenge_invalid",
        "code_expired",
        "code_attempts",
    ):
        response = _login_form(request, step.portal, next_url, error=error.title, status=error.status)
        response.delete_cookie(CHALLENGE_COOKIE, path="/")
        return response
    return _second_form(request, step, pending, next_url, error=error.title, status=error.status)


@router.get("/login/totp", dependencies=PUBLIC)
def totp_page(request: Request, next_url: NextQuery = "") -> Response:
    return _show_second(request, TOTP, next_url)


@router.post("/login/totp", dependencies=PUBLIC)
def totp_code(
    request: Request, ctx: Ctx, code: FormText = "", csrf_token: FormText = "", next_url: NextUrl = ""
) -> Response:
    return _complete(request, ctx, TOTP, code, csrf_token, next_url)


@router.get("/login/totp-setup", dependencies=PUBLIC)
def totp_setup_page(request: Request, next_url: NextQuery = "") -> Response:
    return _show_second(request, TOTP_SETUP, next_url)


@router.post("/login/totp-setup", dependencies=PUBLIC)
def totp_setup(
    request: Request, ctx: Ctx, code: FormText = "", csrf_token: FormText = "", next_url: NextUrl = ""
) -> Response:
    return _complete(request, ctx, TOTP_SETUP, code, csrf_token, next_url)


@router.get("/self/login/sms", dependencies=PUBLIC)
def sms_page(request: Request, next_url: NextQuery = "") -> Response:
    return _show_second(request, SMS, next_url)


@router.post("/self/login/sms", dependencies=PUBLIC)
def sms_code(
    request: Request, ctx: Ctx, code: FormText = "", csrf_token: FormText = "", next_url: NextUrl = ""
) -> Response:
    return _complete(request, ctx, SMS, code, csrf_token, next_url)


@router.post("/self/login/sms/resend", dependencies=PUBLIC)
def sms_resend(request: Request, ctx: Ctx, csrf_token: FormText = "", next_url: NextUrl = "") -> Response:
    pending = _pending_challenge(request, SMS)
    if pending is None:
        return _login_form(request, SELF, next_url, error="登录已超时，请重新输入密码。", status=401)
    if not _login_csrf_ok(request, csrf_token):
        return _second_form(request, SMS, pending, next_url, error="页面已过期，请重新提交。", status=403)
    try:
        with write_transaction(request.app.state.engine) as conn:
            step = identity.resend_sms(
                conn,
                ctx,
                request.cookies.get(CHALLENGE_COOKIE),
                source_ip(request),
                sender=request.app.state.sms,
                directory=DIRECTORY,
            )
    except HpfError as exc:  # sent too soon, or too many today
        return _second_form(request, SMS, pending, next_url, error=exc.title, status=exc.status)
    audit_sign_in("self.sms_resent", step.audit())
    if step.error is not None:
        return _login_form(request, SELF, next_url, error=step.error.title, status=step.error.status)
    return _second_form(request, SMS, pending, next_url, error="")


# --------------------------------------------------------------------------- sign-out and landing


@router.get("/logout", dependencies=PUBLIC)
def logout_page(request: Request, found: Found) -> Response:
    if found.principal is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "logout.html", {})


@router.post("/logout", dependencies=PUBLIC)
async def logout(request: Request, found: Found) -> Response:
    portal = STAFF
    if found.session is not None:
        await check_csrf(request, found.session)  # 403 auth.csrf: no forced sign-out from elsewhere
        portal = STAFF if found.session.principal.is_staff else SELF
        await run_in_threadpool(_end_session, request, found.session)
    response = RedirectResponse(portal.login_path, status_code=303)
    response.delete_cookie(**sessions.cookie_deletion(_env(request)))
    return response


def _end_session(request: Request, session: sessions.Session) -> None:
    state = request.app.state
    ctx = Context(session.principal.login, state.clock, state.settings.center_code, "page")
    with write_transaction(state.engine) as conn:
        sessions.end_session(conn, ctx, request.cookies.get(sessions.COOKIE_NAME))
    audit_sign_in("sign_out", {"principal_id": session.principal.id, "session": session.id})


def _self_home(conn: Connection, who: Principal) -> str:
    if who.member_id is not None:
        numbers = accounts.account_numbers_of(conn, [who.member_id])
        if who.member_id in numbers:
            return f"/members/{numbers[who.member_id]}"
    if who.employer_id is not None:
        return f"/employers/{accounts.employer_account_no(conn, who.employer_id)}"
    return "/policy"


@router.get("/self", dependencies=[Depends(requires(Perm.AUTHENTICATED, scope=Scope.OPEN))])
def self_home(conn: ReadDb, who: CurrentPrincipal) -> Response:
    """Members go to their account, employers to theirs, staff to the back office."""
    target = "/" if who.is_staff else _self_home(conn, who)
    return RedirectResponse(target, status_code=303)


# --------------------------------------------------------------------------- approvals


DONE_ZH = {"approved": "已批准并办理。", "rejected": "已驳回。"}


def _approvals_context(request: Request, conn: Connection, who: Principal, **extra: Any) -> dict[str, Any]:
    permissions = {k.name: k.permission for k in approvals.kinds()}
    labels = {k.name: k.label_zh for k in approvals.kinds()}

    def shaped(row: approvals.ApprovalRequest) -> dict[str, Any]:
        may_decide = who.may(Perm.APPROVAL_DECIDE) and who.may(permissions.get(row.kind, Perm.SECURITY_ADMIN))
        return {
            **fields_of(row),
            "label_zh": labels.get(row.kind, row.kind),
            "state_zh": approvals.STATE_ZH.get(approvals.State(row.state), row.state),
            "may_approve": may_decide and row.maker_id != who.id,
            "may_reject": may_decide,
            "mine": row.maker_id == who.id,
        }

    pending = approvals.list_requests(conn, state=approvals.State.PENDING)
    decided = [r for r in approvals.list_requests(conn, limit=60) if r.state != approvals.State.PENDING][:30]
    return {
        "nav": "approvals",
        "pending": [shaped(r) for r in pending],
        "decided": [shaped(r) for r in decided],
        "actor_names": staff_names(
            conn, [*(r.maker for r in [*pending, *decided]), *(r.checker or "" for r in decided)]
        ),
        "done": DONE_ZH.get(request.query_params.get("done", ""), ""),
        "error": "",
        **extra,
    }


@router.get("/approvals", dependencies=[Depends(requires(Perm.APPROVAL_READ))])
def approvals_page(request: Request, conn: ReadDb, who: CurrentPrincipal) -> Response:
    return render(request, "approvals.html", _approvals_context(request, conn, who))


def _decide(
    request: Request, conn: Connection, who: Principal, action: Callable[[], object], done: str
) -> Response:
    try:
        with conn.begin_nested():
            action()
    except HpfError as exc:
        context = _approvals_context(request, conn, who, error=exc.title)
        return render(request, "approvals.html", context, status_code=exc.status)
    return RedirectResponse(f"/approvals?done={done}", status_code=303)


@router.post("/approvals/{request_id}/approve", dependencies=[Depends(requires(Perm.APPROVAL_DECIDE))])
def approve(request: Request, request_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> Response:
    page_ctx = dataclasses.replace(ctx, source="page")
    return _decide(request, conn, who, lambda: approvals.approve(conn, page_ctx, who, request_id), "approved")


@router.post("/approvals/{request_id}/reject", dependencies=[Depends(requires(Perm.APPROVAL_DECIDE))])
def reject(
    request: Request, request_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, note: FormText = ""
) -> Response:
    page_ctx = dataclasses.replace(ctx, source="page")
    return _decide(
        request, conn, who, lambda: approvals.reject(conn, page_ctx, who, request_id, note), "rejected"
    )


# --------------------------------------------------------------------------- alerts


def _alerts_context(conn: Connection, *, done: bool = False, error: str = "") -> dict[str, Any]:
    return {
        "nav": "alerts",
        "open": alerts.list_alerts(conn, state="open"),
        "closed": alerts.list_alerts(conn, state="closed", limit=50),
        "done": done,
        "error": error,
    }


@router.get("/security/alerts", dependencies=[Depends(requires(Perm.SECURITY_ADMIN))])
def alerts_page(request: Request, conn: ReadDb) -> Response:
    done = request.query_params.get("done") == "closed"
    return render(request, "alerts.html", _alerts_context(conn, done=done))


@router.post("/security/alerts/{alert_id}/close", dependencies=[Depends(requires(Perm.SECURITY_ADMIN))])
def close_alert(request: Request, alert_id: Id, conn: WriteDb, ctx: Ctx, note: FormText = "") -> Response:
    try:
        with conn.begin_nested():
            alerts.close_alert(conn, dataclasses.replace(ctx, source="page"), alert_id, note)
    except HpfError as exc:
        return render(request, "alerts.html", _alerts_context(conn, error=exc.title), status_code=exc.status)
    return RedirectResponse("/security/alerts?done=closed", status_code=303)
