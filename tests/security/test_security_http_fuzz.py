"""Property tests over HTTP: malformed input on the sign-in and token paths (SQLite).

Whatever a client sends to /api/v1/auth/*, the sign-in pages, the Authorization header or the
session cookie — odd JSON, wrong types, huge or control-character strings, mangled tokens —
the answer is a refusal below 500, and never a token or a session without the right secret.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from auth_center import AuthCenter, sqlite_auth_center
from hpf.access.permissions import Role
from hpf.db.engine import write_transaction
from hpf.identity import identity, sessions
from hpf.kernel.context import Context
from signing_in import PASSWORD, bearer

RUNS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TRICKY = st.sampled_from(
    ["", " ", "\x00", "teller01", "TELLER01 ", "teller01\x00", "\ud800", "admin' OR '1'='1", "%", "x" * 5000,
     "１２３４５６", "123456", "null", "eyJ.eyJ.x", "...", PASSWORD + " ", PASSWORD.lower(), PASSWORD[:-1]]
)  # fmt: skip
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    TRICKY,
    st.text(max_size=60),
)
JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(["login", "password", "challenge", "code", "refresh_token"])
BODY = st.one_of(JSON, st.dictionaries(FIELDS, JSON, max_size=4))
HEADER_TEXT = st.text(alphabet=string.printable.replace("\r", "").replace("\n", ""), max_size=300)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthCenter]:
    with sqlite_auth_center(Path(tmp_path_factory.mktemp("fuzz"))) as made:
        yield made


@pytest.fixture(scope="module")
def client(center: AuthCenter) -> Iterator[TestClient]:
    with TestClient(center.app, follow_redirects=False) as c:
        yield c


def unlock_all(center: AuthCenter) -> None:
    ctx = Context("fuzz", center.clock, "990001", "test")
    with write_transaction(center.engine) as conn:
        for who in center.principals.values():
            identity.unlock(conn, ctx, who.id)


def post_json(client: TestClient, path: str, body: Any) -> Any:
    """JSON as a client may send it: lone surrogates escaped (``\\ud800``), which is valid JSON."""
    content = json.dumps(body, ensure_ascii=True)
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def no_credentials(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        assert not (isinstance(body, dict) and body.get("access_token")), body
    assert "hpf_session=" not in response.headers.get("set-cookie", "")


def test_the_token_endpoint_never_breaks_and_never_signs_in_without_the_secret(
    client: TestClient, center: AuthCenter
) -> None:
    @RUNS
    @given(body=BODY)
    def run(body: Any) -> None:
        if isinstance(body, dict):
            assume(body.get("password") != PASSWORD)
        unlock_all(center)
        no_credentials(post_json(client, "/api/v1/auth/token", body))

    run()


def test_second_steps_with_any_code_never_sign_in(client: TestClient, center: AuthCenter) -> None:
    """A real challenge (a member's SMS step) with codes that are not the one sent."""

    @RUNS
    @given(code=JSON, challenge_noise=st.sampled_from(["", "x", "=", " "]))
    def run(code: Any, challenge_noise: str) -> None:
        unlock_all(center)
        first = client.post(
            "/api/v1/auth/token", json={"login": center.member.resident_id, "password": PASSWORD}
        )
        if first.status_code == 429:  # SMS rate limit: the code sent a moment ago still holds
            return
        challenge = first.json()["challenge"]
        sent = center.app.state.sms.last_code("13900139001")
        assume(code != sent)
        r = post_json(client, "/api/v1/auth/token", {"challenge": challenge + challenge_noise, "code": code})
        no_credentials(r)

    run()


def test_refresh_and_logout_take_any_body(client: TestClient) -> None:
    @RUNS
    @given(body=BODY)
    def run(body: Any) -> None:
        for path in ("/api/v1/auth/refresh", "/api/v1/auth/logout"):
            no_credentials(post_json(client, path, body))

    run()


def test_any_authorization_header_or_cookie_is_refused(client: TestClient, center: AuthCenter) -> None:
    good = bearer(center.app, center.principals[Role.TELLER])["Authorization"]

    @RUNS
    @given(
        header=st.one_of(
            HEADER_TEXT,
            st.builds(lambda t: "Bearer " + t, HEADER_TEXT),
            st.builds(lambda i, c: good[:i] + c + good[i + 1 :], st.integers(7, len(good) - 1),
                      st.sampled_from(string.ascii_letters + string.digits + "-_.")),
        ),
        cookie=HEADER_TEXT.filter(lambda t: ";" not in t and "," not in t and " " not in t and '"' not in t),
    )  # fmt: skip
    def run(header: str, cookie: str) -> None:
        assume(header != good)
        api = client.get("/api/v1/members", headers={"Authorization": header})
        assert api.status_code == 401, (header, api.status_code)
        client.cookies.set(sessions.COOKIE_NAME, cookie)
        page = client.get("/members/search", params={"q": "张"})
        client.cookies.delete(sessions.COOKIE_NAME)
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next="), (
            page.status_code
        )

    run()


def test_the_sign_in_forms_take_any_input(client: TestClient, center: AuthCenter) -> None:
    no_surrogates = st.characters(blacklist_categories=("Cs",))  # a form cannot carry them
    text = st.one_of(TRICKY.filter(lambda t: "\ud800" not in t), st.text(no_surrogates, max_size=80))

    @RUNS
    @given(
        path=st.sampled_from(
            ["/login", "/self/login", "/login/totp", "/login/totp-setup", "/self/login/sms"]
        ),
        login=text,
        password=text,
        code=text,
        keep_token=st.booleans(),
    )
    def run(path: str, login: str, password: str, code: str, keep_token: bool) -> None:
        assume(password != PASSWORD)
        unlock_all(center)
        form = client.get("/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        data = {
            "login": login,
            "password": password,
            "code": code,
            "csrf_token": token if keep_token else code,
        }
        no_credentials(client.post(path, data=data))

    run()
