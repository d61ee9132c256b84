"""HTTP API for sign-in (``/api/v1/auth``) and the maker-checker queue (``/api/v1/approvals``).

Sign-in is one or two calls to ``POST /api/v1/auth/token``: the login and password, then —
for staff with TOTP and for members and employers (SMS) — the ``challenge`` it returned with
the code. Success gives a 15-minute bearer access token and a refresh token, rotated by
``POST /api/v1/auth/refresh`` on every use. Refusals are problem+json (401 ``auth.failed``,
423 ``auth.locked``, 429 ``auth.throttled`` …) and say nothing about whether the login exists
(decision 0018).

Sign-in steps and refreshes are committed before a refusal is raised (the failure counter
and a revoked token family must survive the "no"), then logged to ``hpf.security``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from hpf.access.permissions import Perm
from hpf.accounts.directory import DIRECTORY
from hpf.approvals import service as approvals
from hpf.approvals.public import ApprovalPublic
from hpf.audit import trail as audit
from hpf.db.engine import write_transaction
from hpf.disclosure import alerts
from hpf.identity import identity, sms, tokens
from hpf.identity import queries as identity_queries
from hpf.identity.identity import AuthStep, Outcome
from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput
from hpf.protection.masking import mask
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

log = logging.getLogger("hpf.security")

auth_router = APIRouter(prefix="/api/v1/auth", tags=["sign-in"], route_class=HpfRoute)
approvals_router = APIRouter(prefix="/api/v1/approvals", tags=["approvals"], route_class=HpfRoute)
alerts_router = APIRouter(prefix="/api/v1/security/alerts", tags=["security"], route_class=HpfRoute)


# --------------------------------------------------------------------------- schemas


class TokenRequest(BaseModel):
    """Either ``login`` and ``password``, or the ``challenge`` of the first step and the ``code``."""

    login: str | None = Field(None, max_length=200, description="staff login, resident ID or USCC")
    password: str | None = Field(None, max_length=1024)
    challenge: str | None = Field(None, max_length=200, description="from the first step's answer")
    code: str | None = Field(None, max_length=24, description="TOTP or SMS code")


class TokenResponse(BaseModel):
    outcome: Literal["ok", "needs_totp", "needs_totp_setup", "needs_sms"]
    access_token: str | None = None
    token_type: str | None = None
    expires_in: int | None = None
    refresh_token: str | None = None
    challenge: str | None = Field(None, description="send it back with the code")
    challenge_expires_at: datetime | None = None
    totp_secret: str | None = Field(None, description="needs_totp_setup: enrol this secret, then send a code")
    totp_uri: str | None = Field(None, description="the same secret as an otpauth:// URI (QR code)")
    sms_phone: str | None = Field(None, description="needs_sms: the masked number the code went to")
    sms_sent_at: datetime | None = Field(
        None, description="needs_sms: when the code was sent (a request within a minute sends none)"
    )
    sms_resend_in: int | None = Field(
        None, description="needs_sms: seconds until a new code may be asked; the code sent stays valid"
    )

    @classmethod
    def tokens(cls, body: tokens.TokenBody) -> TokenResponse:
        """Signed in: the token pair."""
        return cls.model_validate({"outcome": "ok", **body})


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=200)


class Rejection(BaseModel):
    note: str = Field("", max_length=200, description="why")


# --------------------------------------------------------------------------- sign-in


def audit_sign_in(event: str, facts: Mapping[str, object]) -> None:
    """Sign-in facts (never a secret) for the security log."""
    log.info("%s %s", event, facts)


_ID_LIKE = re.compile(r"[0-9]{17}[0-9xX]")


def record_sign_in(request: Request, event: str, step: AuthStep) -> None:
    """A finished sign-in (signed in, refused or locked) in the audit log, and the alerts it
    raises, in a transaction of its own (a refusal's business transaction has nothing to roll
    back, but the record must not depend on it). Intermediate steps (a code is now needed) are
    only logged: the step that follows them is the one that succeeds or fails."""
    # A mistyped ID number is personal data: logs keep it masked.
    login = mask(step.login, "resident_id") if _ID_LIKE.fullmatch(step.login) else step.login[:64]
    audit_sign_in(event, {**step.audit(), "login": login})
    if step.outcome not in (Outcome.OK, Outcome.FAILED, Outcome.LOCKED):
        return
    state = request.app.state
    ctx = Context(
        login, state.clock, state.settings.center_code, source="api" if event.startswith("api") else "page"
    )
    who = step.principal
    with write_transaction(state.engine) as conn:
        audit.append(
            conn,
            ctx,
            role=",".join(sorted(r.value for r in who.roles))[:40] if who else "anonymous",
            source_ip=step.source_ip,
            action="sign_in",
            object_type="login",
            object_id=login,
            purpose="登录",
            outcome="ok" if step.ok else "denied",
            detail={"event": event, "reason": step.reason},
        )
        alerts.after_sign_in(
            conn, ctx, login=login, ok=step.ok, roles=who.roles if who else (), source_ip=step.source_ip
        )


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def challenge_step(conn: Connection, challenge: object) -> str | None:
    """Which second step a challenge is for (totp, totp_setup, sms), if it is one of ours."""
    digest = identity.token_hash_or_none(challenge)
    if digest is None:
        return None
    return identity_queries.challenge_step(conn, digest)


SECOND_STEPS = {
    "totp": identity.complete_totp,
    "totp_setup": identity.complete_totp_setup,
    "sms": identity.complete_sms,
}


def sign_in_step(
    request: Request,
    conn: Connection,
    ctx: Context,
    *,
    login: object = None,
    password: object = None,
    challenge: object = None,
    code: object = None,
) -> AuthStep:
    """The first step (login, password) or the second (challenge, code) of a sign-in."""
    state = request.app.state
    ip = source_ip(request)
    if challenge is not None:
        complete = SECOND_STEPS.get(challenge_step(conn, challenge) or "", identity.complete_totp)
        return complete(conn, ctx, challenge, code, ip)
    return identity.authenticate_password(
        conn, ctx, login, password, ip, sender=state.sms, passwords=state.passwords, directory=DIRECTORY
    )


@auth_router.post(
    "/token",
    summary="Sign in: password, then the TOTP or SMS code; gives access and refresh tokens",
    dependencies=[Depends(requires(Perm.PUBLIC))],
)
def token(body: TokenRequest, request: Request, ctx: Ctx) -> TokenResponse:
    if body.challenge is None and (body.login is None or body.password is None):
        raise InvalidInput(
            "auth.credentials_missing",
            "请填写登录名和密码",
            "send login and password, or challenge and code",
        )
    config = request.app.state.token_config
    with write_transaction(request.app.state.engine) as conn:
        step = sign_in_step(
            request, conn, ctx, login=body.login, password=body.password, challenge=body.challenge,
            code=body.code,
        )  # fmt: skip
        pair = tokens.issue(conn, ctx, step.principal, config) if step.principal is not None else None
        sent = (
            sms.last_sent(conn, ctx, step.principal_id, identity.SIGN_IN)
            if step.outcome is Outcome.NEEDS_SMS and step.principal_id is not None
            else None
        )
    record_sign_in(request, "api.sign_in", step)
    step.raise_for_failure()
    if pair is not None:
        return TokenResponse.tokens(pair.as_response(ctx.clock.now()))
    setup = step.totp_setup
    return TokenResponse(
        outcome=step.outcome.value,  # type: ignore[arg-type]
        challenge=step.challenge,
        challenge_expires_at=step.challenge_expires_at,
        totp_secret=setup.secret if setup and step.outcome is Outcome.NEEDS_TOTP_SETUP else None,
        totp_uri=setup.uri if setup and step.outcome is Outcome.NEEDS_TOTP_SETUP else None,
        sms_phone=step.sms_phone_masked,
        sms_sent_at=sent.sent_at if sent else None,
        sms_resend_in=sent.resend_in if sent else None,
    )


@auth_router.post(
    "/refresh",
    summary="Trade a refresh token for a new pair (the old one is spent)",
    dependencies=[Depends(requires(Perm.PUBLIC))],
)
def refresh(body: RefreshRequest, request: Request, ctx: Ctx) -> TokenResponse:
    with write_transaction(request.app.state.engine) as conn:
        result = tokens.refresh(conn, ctx, body.refresh_token, request.app.state.token_config)
    audit_sign_in("api.refresh", result.audit())
    pair = result.tokens()
    return TokenResponse.tokens(pair.as_response(ctx.clock.now()))


@auth_router.post(
    "/logout",
    status_code=204,
    summary="Sign out an API client: its refresh tokens stop working",
    dependencies=[Depends(requires(Perm.PUBLIC))],
)
def logout(body: RefreshRequest, conn: WriteDb, ctx: Ctx) -> Response:
    tokens.revoke(conn, ctx, body.refresh_token)  # an unknown token is no error: nothing to end
    return Response(status_code=204)


# --------------------------------------------------------------------------- approvals


@approvals_router.get(
    "", summary="Maker-checker requests, newest first", dependencies=[Depends(requires(Perm.APPROVAL_READ))]
)
def list_approvals(
    conn: ReadDb,
    state: Literal["pending", "approved", "rejected"] | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> list[ApprovalPublic]:
    chosen = approvals.State(state) if state else None
    return [ApprovalPublic.of(r) for r in approvals.list_requests(conn, state=chosen, limit=limit)]


@approvals_router.get(
    "/{request_id}", summary="One request", dependencies=[Depends(requires(Perm.APPROVAL_READ))]
)
def get_approval(request_id: Id, conn: ReadDb) -> ApprovalPublic:
    return ApprovalPublic.of(approvals.get_request(conn, request_id))


@approvals_router.post(
    "/{request_id}/approve",
    summary="Approve and carry out a request (not by its maker)",
    dependencies=[Depends(requires(Perm.APPROVAL_DECIDE))],
)
def approve(request_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> ApprovalPublic:
    return ApprovalPublic.of(approvals.approve(conn, ctx, who, request_id))


@approvals_router.post(
    "/{request_id}/reject",
    summary="Reject a request (its maker may withdraw it)",
    dependencies=[Depends(requires(Perm.APPROVAL_DECIDE))],
)
def reject(request_id: Id, body: Rejection, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> ApprovalPublic:
    return ApprovalPublic.of(approvals.reject(conn, ctx, who, request_id, body.note))


# --------------------------------------------------------------------------- alerts


class AlertPublic(BaseModel):
    id: int
    kind: str
    kind_zh: str
    raised_at: datetime
    business_date: date
    subject: str
    source_ip: str | None
    summary: str
    detail: dict[str, Any] | None
    state: Literal["open", "closed"]
    closed_by: str | None
    closed_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, alert: alerts.Alert) -> AlertPublic:
        return cls.model_validate({k: getattr(alert, k) for k in cls.model_fields})


class AlertClose(BaseModel):
    note: str = Field(max_length=200, description="what was found and done")


@alerts_router.get(
    "", summary="Security alerts, newest first", dependencies=[Depends(requires(Perm.SECURITY_ADMIN))]
)
def list_alerts(
    conn: ReadDb, state: Literal["open", "closed"] | None = "open", limit: int = Query(200, ge=1, le=1000)
) -> list[AlertPublic]:
    return [AlertPublic.of(a) for a in alerts.list_alerts(conn, state=state, limit=limit)]


@alerts_router.post(
    "/{alert_id}/close",
    summary="Close an alert with a note",
    dependencies=[Depends(requires(Perm.SECURITY_ADMIN))],
)
def close_alert(alert_id: Id, body: AlertClose, conn: WriteDb, ctx: Ctx) -> AlertPublic:
    return AlertPublic.of(alerts.close_alert(conn, ctx, alert_id, body.note))
