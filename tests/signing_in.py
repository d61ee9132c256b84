"""Signing test clients in: staff principals, bearer tokens, page sessions, a second approver.

Principals are created straight in the app's database (fast argon2 parameters); a client is
signed in either with a bearer access token (API tests) or with a page session whose CSRF
token rides along as the ``X-CSRF-Token`` header (page tests).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from hpf.access.permissions import Principal, Role
from hpf.db.engine import write_transaction
from hpf.identity import identity, sessions, tokens
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.kernel.context import Context

FAST_PASSWORDS = Passwords(FAST_FOR_TESTS)
PASSWORD = "Correct-Horse-42"
ALL_STAFF_ROLES: tuple[Role, ...] = tuple(sorted(identity.STAFF_ROLES))


def _ctx(app: FastAPI, center_code: str | None = None) -> Context:
    return Context(
        actor="setup",
        clock=app.state.clock,
        center_code=center_code or app.state.settings.center_code,
        source="test",
    )


def add_staff(
    app: FastAPI, login: str = "tester", roles: Iterable[Role] = ALL_STAFF_ROLES, *, name: str = "测试员"
) -> Principal:
    """A staff principal in the app's database (or the one already there under that login)."""
    with write_transaction(app.state.engine) as conn:
        found = conn.scalar(identity.principal.select().with_only_columns(identity.principal.c.id).where(
            identity.principal.c.login == login))  # fmt: skip
        if found is not None:
            return identity.get_principal(conn, found)
        return identity.create_staff(
            conn, _ctx(app), login, name, list(roles), PASSWORD, passwords=FAST_PASSWORDS
        )


def bearer(app: FastAPI, who: Principal) -> dict[str, str]:
    """An Authorization header with a fresh access token for ``who``."""
    token, _ = tokens.make_access_token(who, app.state.clock.now(), app.state.token_config)
    return {"Authorization": f"Bearer {token}"}


def use_token(client: TestClient, who: Principal) -> Principal:
    client.headers.update(bearer(client.app, who))  # type: ignore[arg-type]
    return who


def use_session(client: TestClient, who: Principal) -> sessions.Session:
    """Sign the client in with a page session; its CSRF token goes with every request."""
    app: FastAPI = client.app  # type: ignore[assignment]
    with write_transaction(app.state.engine) as conn:
        token, session = sessions.start_session(conn, _ctx(app), who.id)
    client.cookies.set(sessions.COOKIE_NAME, token)
    client.headers["X-CSRF-Token"] = session.csrf_token
    return session


def sign_in(
    client: TestClient,
    login: str = "tester",
    roles: Iterable[Role] = ALL_STAFF_ROLES,
    *,
    session: bool = False,
) -> Principal:
    """Sign ``client`` in as a staff member with ``roles`` (all staff roles by default)."""
    who = add_staff(client.app, login, roles)  # type: ignore[arg-type]
    if session:
        use_session(client, who)
    else:
        use_token(client, who)
    return who


def approve_pending(client: TestClient, checker: str = "checker") -> list[dict[str, object]]:
    """A second staff member approves every pending maker-checker request; their answers."""
    app: FastAPI = client.app  # type: ignore[assignment]
    headers = bearer(app, add_staff(app, checker, name="复核员"))
    pending = client.get("/api/v1/approvals", params={"state": "pending"}, headers=headers)
    assert pending.status_code == 200, pending.text
    answers = []
    for item in reversed(pending.json()):  # oldest first
        done = client.post(f"/api/v1/approvals/{item['id']}/approve", headers=headers)
        assert done.status_code == 200, done.text
        answers.append(done.json())
    return answers
