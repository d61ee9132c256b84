"""Every route declares its permission; every route × every role answers as ROLE_PERMISSIONS says.

The matrix calls each route (API and pages) once per role with a principal holding only that
role — the member principal owns member A of employer E, the employer principal is E — and
once anonymously, with the sample objects in the path and an empty body. A refusal (401, 403,
a redirect to sign-in, or the 404 of an object outside the caller's scope) must come exactly
when ``ROLE_PERMISSIONS`` and the route's scope say so; nothing may answer 500.

Object-level tests (both engines): member A cannot read member B by changing the account
number, an employer cannot see another employer's staff, a token of center 990002 is refused
by center 990001.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from auth_center import AuthCenter, build_auth_center
from hpf.access.permissions import ROLE_PERMISSIONS, Perm, Principal, Role, Scope, scope_permits
from hpf.db.engine import make_engine
from hpf.schema import upgrade
from hpf.web.auth import declarations
from signing_in import bearer

# Served by FastAPI/Starlette themselves, public by design: the API description and static files.
UNDECLARED_PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}
DENIALS = {
    "auth.required",
    "auth.invalid_token",
    "auth.forbidden",
    "auth.staff_only",
    "auth.wrong_center",
    "auth.bank_signature",  # the bank's notices: only the shared-key signature passes, no token
}


def app_routes(app: Any) -> list[Any]:
    return list(iter_route_contexts(app.routes))


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthCenter]:
    path = Path(tmp_path_factory.mktemp("matrix")) / "hpf.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield build_auth_center(engine)
    engine.dispose()


# --------------------------------------------------------------------------- declarations


def test_every_route_declares_exactly_one_permission(center: AuthCenter) -> None:
    undeclared, doubled = [], []
    for route in app_routes(center.app):
        if route.path in UNDECLARED_PUBLIC:
            assert not isinstance(route.original_route, APIRoute), route.path
            continue
        assert isinstance(route.original_route, APIRoute | Mount), route.path
        found = declarations(route)
        if not found:
            undeclared.append(f"{sorted(route.methods)} {route.path}")
        elif len({d.permission for d in found}) > 1:
            doubled.append(f"{sorted(route.methods)} {route.path}: {found}")
    assert undeclared == [], f"routes without requires(...): {undeclared}"
    assert doubled == [], f"routes with two permissions: {doubled}"


def test_the_enumeration_sees_api_and_page_routes(center: AuthCenter) -> None:
    paths = {r.path for r in app_routes(center.app)}
    assert {
        "/api/v1/members/{account_no}",
        "/members/{account_no}",
        "/policy",
        "/login",
        "/approvals",
    } <= paths
    assert len(paths) > 60


def test_sign_in_pages_and_the_api_description_are_public(center: AuthCenter) -> None:
    public = {
        r.path for r in app_routes(center.app) if any(d.permission is Perm.PUBLIC for d in declarations(r))
    }
    assert {"/login", "/self/login", "/login/totp", "/self/login/sms", "/api/v1/auth/token"} <= public
    assert not any(
        p.startswith(("/api/v1/members", "/members", "/employers", "/api/v1/ledger")) for p in public
    )
    with TestClient(center.app) as client:
        for path in ("/openapi.json", "/docs", "/static/hpf.css", "/login", "/self/login"):
            assert client.get(path).status_code == 200, path


# --------------------------------------------------------------------------- the matrix


def _path(center: AuthCenter, route: Any, scope: Scope) -> str:
    owner = center.member if scope is Scope.MEMBER else center.employer
    values = {
        "account_no": owner.account_no,
        "remittance_id": center.remittance.id,
        "entry_id": center.entry_id,
        "request_id": 999_999,
        "alert_id": 999_999,
        "order_id": 999_999,
        "loan_id": 999_999,
        "transfer_id": 999_999,
        "period": "2024-12",
        "fmt": "csv",
        "application_id": center.application.id,
        "material_id": center.material_id,
        "code": "AC-CHANGE",
        "rule_id": "Q-CON-ID-BIRTH",
        "finding_id": 999_999,
        "case_id": 999_999,
        "board_key": "collection",
        "indicator": "loan_ratio",
        "year": 2026,
        "run_id": 999_999,
        "problem_id": 999_999,  # decision 0040
        "listing_id": 999_999,
        "review_id": 999_999,
        "action": "appeal",
    }
    return route.path.format(**{name: values[name] for name in route.param_convertors})


def _expected_to_pass(who: Principal, permission: Perm, scope: Scope, center: AuthCenter) -> bool:
    """From ROLE_PERMISSIONS and the scope rules alone."""
    if not who.may(permission):
        return False
    if scope is Scope.APPLICATION:  # member A's own application: not their employer's business
        return scope_permits(who, scope, member_id=center.member.id, employer_id=None)
    member_id = center.member.id if scope is Scope.MEMBER else None
    return scope_permits(who, scope, member_id=member_id, employer_id=center.employer.id)


def _refused(response: Any) -> bool:
    """An authorisation refusal: 401/403 with a denial code, a redirect to sign in, a scope 404."""
    code = response.headers.get("X-HPF-Error", "")
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = response.json().get("code", "")
    if response.status_code in (401, 403):
        return code in DENIALS
    if response.status_code == 303:
        return response.headers["location"].startswith(("/login?next=", "/self/login?next="))
    return False


def _scope_refusal(response: Any) -> bool:
    """The 404 of an object outside the caller's scope (the sample objects all exist)."""
    if response.status_code != 404:
        return False
    code = response.headers.get("X-HPF-Error", "")
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = response.json().get("code", "")
    return code in {"member.not_found", "employer.not_found", "remittance.not_found", "application.not_found"}


def _call(client: TestClient, route: Any, path: str, headers: dict[str, str]) -> Any:
    method = sorted(route.methods - {"HEAD"})[0]
    if method == "GET":
        return client.get(path, headers=headers)
    if route.original_route.include_in_schema:  # the API takes JSON
        return client.request(method, path, json={}, headers=headers)
    return client.request(method, path, data={}, headers=headers)


def _matrix_routes() -> list[tuple[str, str]]:
    engine = make_engine("sqlite://")
    from hpf.app import create_app
    from hpf.settings import Settings

    app = create_app(Settings(env="development", database_url="sqlite://"), engine=engine)
    routes = [
        (sorted(r.methods - {"HEAD"})[0], r.path)
        for r in app_routes(app)
        if r.path not in UNDECLARED_PUBLIC and r.methods
    ]
    engine.dispose()
    return routes


@pytest.mark.parametrize(("method", "path"), _matrix_routes(), ids=lambda v: v)
def test_route_answers_every_role_as_the_permission_table_says(
    center: AuthCenter, method: str, path: str
) -> None:
    [route] = [r for r in app_routes(center.app) if r.path == path and method in r.methods]
    [declared] = set(declarations(route))
    target = _path(center, route, declared.scope)
    wrong = []
    with TestClient(center.app, follow_redirects=False) as client:
        anonymous = _call(client, route, target, {})
        assert anonymous.status_code < 500, anonymous.text
        if declared.permission is not Perm.PUBLIC and not _refused(anonymous):
            wrong.append(f"anonymous: {anonymous.status_code}")
        for role, who in center.principals.items():
            assert ROLE_PERMISSIONS[role] <= who.permissions
            response = _call(client, route, target, bearer(center.app, who))
            assert response.status_code < 500, (role, response.text)
            if declared.permission is Perm.PUBLIC:
                continue  # sign-in pages: their own answers (bad credentials, stale form) are no denial
            expected = _expected_to_pass(who, declared.permission, declared.scope, center)
            refused = _refused(response) or _scope_refusal(response)
            if refused == expected:
                wrong.append(
                    f"{role.value}: expected {'pass' if expected else 'refusal'}, got {response.status_code}"
                )
    assert wrong == [], f"{method} {path} ({declared.permission.value}, {declared.scope.value}): {wrong}"


# --------------------------------------------------------------------------- object level


@pytest.fixture
def scoped(engine: Any) -> AuthCenter:
    return build_auth_center(engine)


def _as(center: AuthCenter, role: Role) -> dict[str, str]:
    return bearer(center.app, center.principals[role])


def _same_answer_as_missing(client: TestClient, path: str, real_no: str, headers: dict[str, str]) -> None:
    """Out of scope looks exactly like an account that does not exist (no probing)."""
    missing_no = real_no[:-4] + ("0000" if not real_no.endswith("0000") else "0001")
    got = client.get(path.format(real_no), headers=headers)
    absent = client.get(path.format(missing_no), headers=headers)
    assert got.status_code == absent.status_code == 404
    mine, theirs = got.json(), absent.json()
    assert {k: mine[k] for k in ("code", "title", "status")} == {
        k: theirs[k] for k in ("code", "title", "status")
    }
    assert mine["detail"].replace(real_no, "N") == theirs["detail"].replace(missing_no, "N")


def test_a_member_reads_only_their_own_account(scoped: AuthCenter) -> None:
    a, b, c = scoped.member.account_no, scoped.stranger.account_no, scoped.colleague.account_no
    me = _as(scoped, Role.MEMBER)
    with TestClient(scoped.app) as client:
        mine = client.get(f"/api/v1/members/{a}", headers=me)
        assert mine.status_code == 200 and mine.json()["name"] == "张三"
        assert client.get(f"/api/v1/members/{a}/statement", headers=me).json()[0]["amount_fen"] == 10_000
        for other in (b, c):  # another employer's member, and a colleague at the same employer
            for tail in ("", "/statement", "/history"):
                _same_answer_as_missing(client, "/api/v1/members/{}" + tail, other, me)
        search = client.get("/api/v1/members", params={"q": "王"}, headers=me)
        assert search.status_code == 403 and search.json()["code"] == "auth.staff_only"
        assert client.get(f"/api/v1/employers/{scoped.employer.account_no}", headers=me).status_code == 403
        page = client.get(f"/members/{b}", headers=me)
        assert page.status_code == 404 and page.headers["X-HPF-Error"] == "member.not_found"
        assert "王五" not in page.text
        assert client.get(f"/members/{a}", headers=me).status_code == 200


def test_an_employer_sees_only_its_own_staff_and_lists(scoped: AuthCenter) -> None:
    e, f = scoped.employer.account_no, scoped.other_employer.account_no
    us = _as(scoped, Role.EMPLOYER)
    with TestClient(scoped.app) as client:
        staff = client.get(f"/api/v1/employers/{e}/members", headers=us).json()
        assert {m["name"] for m in staff["items"]} == {"张三", "李四"}
        assert client.get(f"/api/v1/members/{scoped.member.account_no}", headers=us).status_code == 200
        _same_answer_as_missing(client, "/api/v1/members/{}", scoped.stranger.account_no, us)
        for path in (
            "/api/v1/employers/{}",
            "/api/v1/employers/{}/members",
            "/api/v1/employers/{}/remittances",
        ):
            _same_answer_as_missing(client, path, f, us)
        assert client.get(f"/api/v1/remittances/{scoped.remittance.id}", headers=us).status_code == 200
        theirs = client.get(f"/api/v1/remittances/{scoped.other_remittance.id}", headers=us)
        assert theirs.status_code == 404 and theirs.json()["code"] == "remittance.not_found"
        body = {"kind": "01", "month": "2025-02", "rows": []}
        post = client.post(
            f"/api/v1/employers/{f}/remittances", json=body, headers={"Idempotency-Key": "k", **us}
        )
        assert post.status_code == 404 and post.json()["code"] == "employer.not_found"
        assert client.get("/api/v1/employers", headers=us).status_code == 403
        assert client.get(f"/employers/{f}", headers=us).status_code == 404
        assert client.get(f"/employers/{e}", headers=us).status_code == 200


def test_staff_see_every_account_of_their_center(scoped: AuthCenter) -> None:
    teller = _as(scoped, Role.TELLER)
    with TestClient(scoped.app) as client:
        for m in (scoped.member, scoped.stranger, scoped.colleague):
            assert client.get(f"/api/v1/members/{m.account_no}", headers=teller).status_code == 200
        assert len(client.get("/api/v1/members", headers=teller).json()) == 3


def test_a_token_of_another_center_is_refused(scoped: AuthCenter) -> None:
    from dataclasses import replace

    teller = scoped.principals[Role.TELLER]
    elsewhere = replace(teller, center_code="990002")
    with TestClient(scoped.app) as client:
        r = client.get("/api/v1/members", headers=bearer(scoped.app, elsewhere))
        assert r.status_code == 403 and r.json()["code"] == "auth.wrong_center"
        r = client.get("/members/search", params={"q": "张"}, headers=bearer(scoped.app, elsewhere))
        assert r.status_code == 403 and r.headers["X-HPF-Error"] == "auth.wrong_center"
        assert client.get("/api/v1/members", headers=bearer(scoped.app, teller)).status_code == 200


def test_a_center_refuses_its_own_staff_signed_in_at_another_center(tmp_path: Path) -> None:
    """The same database and key, two center codes (a copied database or a shared key)."""
    engine = make_engine(f"sqlite:///{tmp_path}/x.sqlite3")
    upgrade(engine)
    here = build_auth_center(engine, center_code="990002")  # principals of center 990002
    from hpf.app import create_app
    from hpf.settings import Settings

    other = create_app(
        Settings(env="development", database_url=str(engine.url), center_code="990001"),
        engine=engine,
        clock=here.clock,
    )
    with TestClient(other) as client:
        r = client.get("/api/v1/policy", headers=bearer(other, here.principals[Role.TELLER]))
        assert r.status_code == 403 and r.json()["code"] == "auth.wrong_center"
    engine.dispose()


def test_a_token_signed_with_another_key_is_refused(scoped: AuthCenter) -> None:
    from hpf.identity import tokens

    forged, _ = tokens.make_access_token(
        scoped.principals[Role.ADMIN], scoped.clock.now(), tokens.TokenConfig(key=b"x" * 32)
    )
    with TestClient(scoped.app) as client:
        r = client.get("/api/v1/policy", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401 and r.json()["code"] == "auth.invalid_token"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer  ", "bearer x.y.z"):
            r = client.get("/api/v1/policy", headers={"Authorization": header})
            assert r.status_code == 401 and r.json()["code"] == "auth.invalid_token", header
        r = client.get("/api/v1/policy")
        assert r.status_code == 401 and r.json()["code"] == "auth.required"
