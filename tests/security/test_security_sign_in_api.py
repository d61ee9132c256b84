"""POST /api/v1/auth/token, /refresh, /logout end to end (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from auth_center import AuthCenter, build_auth_center
from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.identity import totp
from hpf.kernel.errors import HpfError
from hpf.settings import Settings
from signing_in import PASSWORD

T0 = datetime(2025, 3, 15, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def center(engine: Any) -> AuthCenter:
    c = build_auth_center(engine)
    c.clock._wall = T0
    return c


@pytest.fixture
def client(center: AuthCenter) -> Any:
    with TestClient(center.app) as c:
        yield c


def later(center: AuthCenter, **delta: float) -> None:
    assert center.clock._wall is not None
    center.clock._wall += timedelta(**delta)


def token(client: TestClient, **body: Any) -> Any:
    return client.post("/api/v1/auth/token", json=body)


def test_a_teller_signs_in_with_a_password_and_calls_the_api(client: TestClient) -> None:
    r = token(client, login="Teller01 ", password=PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "ok" and body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["refresh_token"] and body["challenge"] is None
    me = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/members", headers=me).status_code == 200
    assert client.get("/api/v1/ledger/subjects", headers=me).status_code == 403  # a teller's roles


def test_a_finance_officer_enrols_totp_then_needs_the_code(client: TestClient, center: AuthCenter) -> None:
    first = token(client, login="finance01", password=PASSWORD).json()
    assert first["outcome"] == "needs_totp_setup" and first["access_token"] is None
    assert first["totp_uri"].startswith("otpauth://totp/OpenHPF:finance01?")
    secret = first["totp_secret"]
    wrong = token(client, challenge=first["challenge"], code="12345x")
    assert wrong.status_code == 401 and wrong.json()["code"] == "auth.totp_invalid"
    done = token(client, challenge=first["challenge"], code=totp.totp(secret, center.clock.now()))
    assert done.status_code == 200 and done.json()["outcome"] == "ok"

    later(center, seconds=30)
    again = token(client, login="finance01", password=PASSWORD).json()
    assert again["outcome"] == "needs_totp" and again["totp_secret"] is None
    code = totp.totp(secret, center.clock.now())
    assert token(client, challenge=again["challenge"], code=code).json()["outcome"] == "ok"
    replay = token(client, login="finance01", password=PASSWORD).json()
    refused = token(client, challenge=replay["challenge"], code=code)
    assert refused.status_code == 401 and refused.json()["code"] == "auth.totp_invalid"
    spent = token(client, challenge=again["challenge"], code=code)
    assert spent.status_code == 401 and spent.json()["code"] == "auth.challenge_invalid"


@pytest.mark.parametrize("role", [Role.MEMBER, Role.EMPLOYER])
def test_members_and_employers_sign_in_with_an_sms_code(
    client: TestClient, center: AuthCenter, role: Role
) -> None:
    if role is Role.MEMBER:
        login, phone = center.member.resident_id, "13900139001"
    else:
        login, phone = center.employer.uscc, "13800138001"
    first = token(client, login=login.lower(), password=PASSWORD).json()
    assert first["outcome"] == "needs_sms" and first["sms_phone"] == f"{phone[:3]}****{phone[-4:]}"
    assert first["sms_sent_at"] and 0 < first["sms_resend_in"] <= 60
    code = center.app.state.sms.last_code(phone)
    assert code is not None
    again = token(client, login=login.lower(), password=PASSWORD).json()  # within the minute: none sent
    assert again["outcome"] == "needs_sms" and again["sms_sent_at"] == first["sms_sent_at"]
    assert center.app.state.sms.last_code(phone) == code and again["sms_resend_in"] <= first["sms_resend_in"]
    wrong = "000000" if code != "000000" else "111111"
    bad = token(client, challenge=first["challenge"], code=wrong)
    assert bad.status_code == 401 and bad.json()["code"] == "auth.sms_code_invalid"
    done = token(client, challenge=first["challenge"], code=code).json()
    assert done["outcome"] == "ok"
    me = {"Authorization": f"Bearer {done['access_token']}"}
    own = f"/api/v1/members/{center.member.account_no}"
    assert client.get(own, headers=me).status_code == 200
    assert client.get("/api/v1/members", headers=me).status_code == 403


def test_refresh_rotates_and_a_reused_token_ends_the_family(client: TestClient, center: AuthCenter) -> None:
    first = token(client, login="teller01", password=PASSWORD).json()
    later(center, minutes=20)  # the access token has expired
    expired = client.get("/api/v1/members", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert expired.status_code == 401 and expired.json()["code"] == "auth.invalid_token"
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    fresh = {"Authorization": f"Bearer {second.json()['access_token']}"}
    assert client.get("/api/v1/members", headers=fresh).status_code == 200
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["code"] == "auth.invalid_token"
    revoked = client.post("/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert revoked.status_code == 401  # the copy's family is gone, the thief's and the user's


def test_logout_ends_the_refresh_token(client: TestClient) -> None:
    pair = token(client, login="teller01", password=PASSWORD).json()
    assert (
        client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    )
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    )
    assert client.post("/api/v1/auth/logout", json={"refresh_token": "x" * 43}).status_code == 204


def test_wrong_passwords_lock_the_login_and_unknown_logins_look_the_same(client: TestClient) -> None:
    unknown = token(client, login="nobody01", password=PASSWORD)
    wrong = token(client, login="teller01", password="Wrong-Horse-42")
    assert unknown.status_code == wrong.status_code == 401
    assert {k: unknown.json()[k] for k in ("code", "title", "detail")} == {
        k: wrong.json()[k] for k in ("code", "title", "detail")
    }
    for _ in range(4):
        token(client, login="teller01", password="Wrong-Horse-42")
    locked = token(client, login="teller01", password=PASSWORD)
    assert locked.status_code == 423 and locked.json()["code"] == "auth.locked"
    assert int(locked.headers["Retry-After"]) > 0
    assert "access_token" not in locked.json()


def test_a_call_needs_login_and_password_or_a_challenge_and_code(client: TestClient) -> None:
    for body in ({}, {"login": "teller01"}, {"password": PASSWORD}, {"code": "123456"}):
        r = token(client, **body)
        assert r.status_code == 422, body
    r = token(client, challenge="not-a-challenge-but-long-enough", code="123456")
    assert r.status_code == 401 and r.json()["code"] == "auth.challenge_invalid"


def test_the_development_token_key_is_refused_outside_development(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/k.sqlite3"
    keys = "k1:" + "QUJD" * 11  # 33 bytes of (test) key material for personal data
    with pytest.raises(HpfError) as refused:
        create_app(Settings(database_url=url, env="production", keys=keys))
    assert refused.value.code == "security.default_key"
    with pytest.raises(HpfError) as short:
        create_app(Settings(database_url=url, env="production", token_secret="too-short", keys=keys))
    assert short.value.code == "security.weak_key"
    app = create_app(Settings(database_url=url, env="production", token_secret="k" * 40, keys=keys))
    assert app.state.token_config.key == b"k" * 40
    settings = Settings.from_env({"HPF_TOKEN_SECRET": "s" * 32, "HPF_ENV": "production"})
    assert settings.token_secret == "s" * 32 and "s" * 32 not in repr(settings)
