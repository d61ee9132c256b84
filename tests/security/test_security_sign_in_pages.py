"""The Chinese sign-in pages, sessions, CSRF on every form, sign-out (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from auth_center import AuthCenter, build_auth_center
from hpf.access.permissions import Perm, Role
from hpf.identity import sessions, totp
from hpf.web.auth import declarations
from signing_in import PASSWORD, add_staff, use_session

T0 = datetime(2025, 3, 15, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def center(engine: Any) -> AuthCenter:
    c = build_auth_center(engine)
    c.clock._wall = T0
    return c


@pytest.fixture
def client(center: AuthCenter) -> Any:
    with TestClient(center.app, follow_redirects=False) as c:
        yield c


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)


def sign_in_form(
    client: TestClient, path: str, login: str, password: str = PASSWORD, next_url: str = ""
) -> Any:
    page = client.get(path, params={"next": next_url} if next_url else None)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    data = {"login": login, "password": password, "csrf_token": form_token(page.text), "next": next_url}
    return client.post(path, data=data)


def test_nobody_signed_in_is_sent_to_the_right_sign_in_page(client: TestClient, center: AuthCenter) -> None:
    no = center.member.account_no
    r = client.get(f"/members/{no}", params={"page": 2})
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/members/{no}%3Fpage%3D2"
    assert client.get("/self").headers["location"] == "/self/login?next=/self"
    htmx = client.get("/members/search", params={"q": "张"}, headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"].startswith("/login?next=/members/search")
    page = client.get("/login")
    assert "工作人员登录" in page.text and 'href="/self/login"' in page.text
    assert "职工、单位网上服务登录" in client.get("/self/login").text


def test_a_teller_signs_in_through_the_page(client: TestClient, center: AuthCenter) -> None:
    no = center.member.account_no
    r = sign_in_form(client, "/login", "teller01", next_url=f"/members/{no}")
    assert r.status_code == 303 and r.headers["location"] == f"/members/{no}"
    cookie = r.headers["set-cookie"]
    assert (
        "hpf_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    )
    page = client.get(f"/members/{no}")
    assert page.status_code == 200 and "张三" in page.text
    assert 'id="signed-in-as">teller员<' in page.text and "退出登录" in page.text
    assert 'href="/ledger"' not in page.text  # a teller does not read the ledger: no menu entry
    assert client.get("/ledger").status_code == 403


def test_wrong_passwords_stale_forms_and_lockout_on_the_page(client: TestClient) -> None:
    wrong = sign_in_form(client, "/login", "teller01", "Wrong-Horse-42")
    assert wrong.status_code == 401 and "登录名或密码错误" in wrong.text and 'value="teller01"' in wrong.text
    assert "hpf_session" not in wrong.headers.get("set-cookie", "")
    stale = client.post("/login", data={"login": "teller01", "password": PASSWORD, "csrf_token": "forged"})
    assert stale.status_code == 403 and "页面已过期" in stale.text
    for _ in range(4):
        sign_in_form(client, "/login", "teller01", "Wrong-Horse-42")
    locked = sign_in_form(client, "/login", "teller01")
    assert locked.status_code == 423 and "锁定" in locked.text


def test_an_unsafe_next_goes_home(client: TestClient) -> None:
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = sign_in_form(client, "/login", "teller01", next_url=evil)
        assert r.headers["location"] == "/", evil
        client.cookies.clear()


def test_staff_with_a_mandatory_role_enrol_totp_on_the_page(client: TestClient, center: AuthCenter) -> None:
    r = sign_in_form(client, "/login", "finance01")
    assert r.status_code == 303 and r.headers["location"] == "/login/totp-setup"
    assert "hpf_challenge=" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    setup = client.get("/login/totp-setup")
    assert setup.status_code == 200 and "启用动态验证码" in setup.text
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', setup.text).group(1).replace(" ", "")
    assert f"otpauth://totp/OpenHPF:finance01?secret={secret}" in setup.text.replace("&amp;", "&")
    token = form_token(setup.text)
    bad = client.post("/login/totp-setup", data={"code": "12", "csrf_token": token})
    assert bad.status_code == 401 and "动态验证码错误" in bad.text
    done = client.post(
        "/login/totp-setup", data={"code": totp.totp(secret, center.clock.now()), "csrf_token": token}
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert client.get("/ledger").status_code == 200

    client.cookies.clear()
    center.clock._wall = T0 + timedelta(seconds=30)
    r = sign_in_form(client, "/login", "finance01")
    assert r.headers["location"] == "/login/totp"
    page = client.get("/login/totp")
    assert "动态验证码" in page.text
    code = totp.totp(secret, center.clock.now())
    assert (
        client.post("/login/totp", data={"code": code, "csrf_token": form_token(page.text)}).status_code
        == 303
    )


def test_a_member_signs_in_with_an_sms_code_and_lands_on_their_account(
    client: TestClient, center: AuthCenter
) -> None:
    r = sign_in_form(client, "/self/login", center.member.resident_id)
    assert r.status_code == 303 and r.headers["location"] == "/self/login/sms"
    page = client.get("/self/login/sms")
    assert "短信验证码" in page.text and "重新发送验证码" in page.text
    assert "验证码已于" in page.text and "秒后再请求新的验证码" in page.text
    token = form_token(page.text)
    sent = len(center.app.state.sms.messages)
    resend = client.post("/self/login/sms/resend", data={"csrf_token": token})
    assert resend.status_code == 429 and "验证码已发送，请在" in resend.text and "秒后再请求" in resend.text
    assert len(center.app.state.sms.messages) == sent  # nothing sent; the code sent is still the one
    code = center.app.state.sms.last_code("13900139001")
    done = client.post("/self/login/sms", data={"code": code, "csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/self"
    home = client.get("/self")
    assert home.headers["location"] == f"/members/{center.member.account_no}"
    mine = client.get(home.headers["location"])
    assert mine.status_code == 200 and "张三" in mine.text and 'href="/self"' in mine.text
    assert client.get("/").headers["location"] == "/self"
    theirs = client.get(f"/members/{center.stranger.account_no}")
    assert theirs.status_code == 404 and "王五" not in theirs.text
    client.cookies.delete(sessions.COOKIE_NAME)
    assert client.get("/members/x").headers["location"].startswith("/self/login?next=")  # remembered portal


def test_an_employer_signs_in_and_lands_on_its_account(client: TestClient, center: AuthCenter) -> None:
    sign_in_form(client, "/self/login", center.employer.uscc)
    page = client.get("/self/login/sms")
    code = center.app.state.sms.last_code("13800138001")
    client.post("/self/login/sms", data={"code": code, "csrf_token": form_token(page.text)})
    assert client.get("/self").headers["location"] == f"/employers/{center.employer.account_no}"
    lists = client.get(f"/employers/{center.employer.account_no}/remittances")
    assert (
        lists.status_code == 200
        and 'id="upload-form"' in lists.text
        and 'id="receipt-form"' not in lists.text
    )


def page_post_routes(app: Any) -> list[str]:
    return [
        r.path
        for r in iter_route_contexts(app.routes)
        if "POST" in (r.methods or ())
        and not r.original_route.include_in_schema
        and declarations(r)[0].permission is not Perm.PUBLIC
    ]


def test_every_page_form_needs_the_sessions_csrf_token(client: TestClient, center: AuthCenter) -> None:
    use_session(client, add_staff(center.app))  # every staff role: only the token is missing
    client.headers.pop("X-CSRF-Token")
    values = {
        "account_no": center.employer.account_no,
        "remittance_id": center.remittance.id,
        "request_id": 1,
        "alert_id": 1,
        "order_id": 1,
        "loan_id": 1,
        "transfer_id": 1,
        "application_id": center.application.id,
        "code": "AC-CHANGE",
        "finding_id": 1,
        "case_id": 1,
        "indicator": "loan_ratio",
        "year": 2026,
        "problem_id": 1,
        "listing_id": 1,
        "review_id": 1,
        "action": "appeal",
    }
    posts = page_post_routes(center.app)
    assert {"/policy", "/employers/{account_no}/receipts", "/approvals/{request_id}/approve"} <= set(posts)
    for path in posts:
        target = path.format(**{k: v for k, v in values.items() if "{" + k + "}" in path})
        for data in ({}, {"csrf_token": "forged-token"}):
            r = client.post(target, data=data)
            assert r.status_code == 403 and r.headers.get("X-HPF-Error") == "auth.csrf", (path, r.status_code)
        r = client.post(target, json={}, headers={"X-CSRF-Token": "forged"})
        assert r.status_code == 403, path
    api = client.post(f"/api/v1/employers/{center.employer.account_no}/receipts", json={})
    assert api.status_code == 403 and api.json()["code"] == "auth.csrf"  # the API with a cookie, too


def test_every_post_form_on_the_pages_carries_the_csrf_token(client: TestClient, center: AuthCenter) -> None:
    who = center.principals[Role.FINANCE]
    session = use_session(client, who)
    client.post(f"/api/v1/ledger/entries/{center.entry_id}/reversal", json={"reason": "错账"})
    no = center.employer.account_no
    seen = 0
    for path in ("/", f"/employers/{no}/remittances", f"/remittances/{center.remittance.id}", "/approvals",
                 "/policy", "/logout"):  # fmt: skip
        html = client.get(path).text
        for form in re.findall(r"<form[^>]*>.*?</form>", html, re.S):
            if 'method="post"' in form:
                assert f'name="csrf_token" value="{session.csrf_token}"' in form, (path, form[:200])
                seen += 1
    assert seen >= 6
    assert f'"X-CSRF-Token": "{session.csrf_token}"' in client.get("/").text  # htmx requests send it too


def test_signing_out_ends_the_session(client: TestClient) -> None:
    sign_in_form(client, "/login", "teller01")
    page = client.get("/")
    assert page.status_code == 200
    old = client.cookies.get(sessions.COOKIE_NAME)
    assert client.post("/logout", data={}).status_code == 403  # no forced sign-out from elsewhere
    confirm = client.get("/logout")
    assert "确定退出" in confirm.text
    out = client.post("/logout", data={"csrf_token": form_token(confirm.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert 'hpf_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    client.cookies.set(sessions.COOKIE_NAME, old)
    assert client.get("/").status_code == 303  # the old cookie signs nobody in


def test_a_multipart_form_carries_the_token_in_its_field(client: TestClient, center: AuthCenter) -> None:
    session = use_session(client, add_staff(center.app))
    client.headers.pop("X-CSRF-Token")
    no = center.employer.account_no
    files = {"file": ("清册.csv", b"not a list", "text/csv")}
    r = client.post(
        f"/employers/{no}/remittances",
        files=files,
        data={"month": "2025-02", "csrf_token": session.csrf_token},
    )
    assert r.status_code == 422 and "X-HPF-Error" not in r.headers  # the list was judged: CSRF passed
    r = client.post(f"/employers/{no}/remittances", files=files, data={"month": "2025-02"})
    assert r.status_code == 403 and r.headers["X-HPF-Error"] == "auth.csrf"
