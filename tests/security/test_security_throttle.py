"""Sign-in throttling (decision 0018): unknown and locked logins answer alike, an address that
keeps failing is throttled, and one address cannot lock anybody out (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from auth_center import AuthCenter, build_auth_center
from hpf.identity import identity
from signing_in import PASSWORD

T0 = datetime(2025, 3, 15, 1, 0, 0, tzinfo=UTC)
ATTACKER = ("203.0.113.66", 40000)
VICTIM = ("198.51.100.7", 40001)


@pytest.fixture
def center(engine: Any) -> AuthCenter:
    c = build_auth_center(engine)
    c.clock._wall = T0
    return c


def later(center: AuthCenter, **delta: float) -> None:
    assert center.clock._wall is not None
    center.clock._wall += timedelta(**delta)


def token(client: TestClient, login: str, password: str | None = None) -> Any:
    """A sign-in attempt; without ``password`` a wrong one."""
    wrong = "Wrong-" + "password-1"
    return client.post("/api/v1/auth/token", json={"login": login, "password": password or wrong})


def answer(r: Any) -> tuple[Any, ...]:
    body = r.json()
    return r.status_code, body["code"], body["title"], body["detail"], body.get("retry_after")


def test_an_unknown_and_a_locked_login_answer_alike(center: AuthCenter) -> None:
    with center.client(client=ATTACKER) as client:
        assert answer(token(client, "teller01")) == answer(token(client, "ghost.teller"))  # 401 alike
        for _ in range(4):
            token(client, "teller01")
            token(client, "ghost.teller")
        locked, unknown = token(client, "teller01", PASSWORD), token(client, "ghost.teller", PASSWORD)
        assert locked.status_code == 423 and answer(locked) == answer(unknown)
        assert locked.headers["Retry-After"] == unknown.headers["Retry-After"]
        assert set(locked.headers) == set(unknown.headers)
        assert locked.json()["code"] == "auth.locked"


def test_the_sign_in_pages_answer_alike_for_unknown_and_locked_logins(center: AuthCenter) -> None:
    member_login = center.member.account_no

    def form(client: TestClient, path: str, login: str) -> Any:
        page = client.get(path)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        data = {"login": login, "password": "Wrong-password-1", "csrf_token": csrf.group(1) if csrf else ""}
        return client.post(path, data=data)

    for path, real, ghost in (
        ("/login", "teller01", "ghost.teller"),
        ("/self/login", member_login, "999999999999"),
    ):
        with center.client(client=(f"192.0.2.{len(path)}", 1)) as client:
            for _ in range(5):
                a, b = form(client, path, real), form(client, path, ghost)
            assert a.status_code == b.status_code == 423
            assert a.headers["Retry-After"] == b.headers["Retry-After"]
            error = re.compile(r'id="sign-in-error">(.*?)</p>', re.S)
            shown_a, shown_b = error.findall(a.text), error.findall(b.text)
            assert shown_a == shown_b and shown_a, path


def test_one_address_failing_50_times_neither_locks_the_victim_out_nor_goes_on(center: AuthCenter) -> None:
    with center.client(client=ATTACKER) as attacker, center.client(client=VICTIM) as victim:
        statuses = [token(attacker, "teller01").status_code for _ in range(50)]
        limit = identity.THROTTLE.address_failures
        assert statuses[:4] == [401] * 4
        assert set(statuses[4:limit]) == {423}  # locked: this login, from this address
        assert set(statuses[limit:]) == {429}  # and then the address itself
        throttled = token(attacker, "reviewer01", PASSWORD)  # every login, right password or not
        assert throttled.status_code == 429 and throttled.json()["code"] == "auth.throttled"
        assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
        page = attacker.post("/login", data={"login": "teller01", "password": PASSWORD})
        assert page.status_code in (403, 429)  # the form's CSRF check or the throttle: never signed in

        signed_in = token(victim, "teller01", PASSWORD)
        assert signed_in.status_code == 200 and signed_in.json()["outcome"] == "ok"

        later(center, minutes=15, seconds=1)
        assert token(attacker, "teller01", PASSWORD).status_code == 200  # every lock has run out


def test_the_victim_is_locked_only_where_the_failures_came_from(center: AuthCenter) -> None:
    with center.client(client=ATTACKER) as attacker, center.client(client=VICTIM) as victim:
        for _ in range(5):
            token(attacker, "teller01")
        assert token(attacker, "teller01", PASSWORD).status_code == 423
        assert token(victim, "teller01", PASSWORD).status_code == 200
        # the victim's own mistakes count from the victim's address, and a success clears them
        for _ in range(4):
            assert token(victim, "teller01").status_code == 401
        assert token(victim, "teller01", PASSWORD).status_code == 200
        assert token(victim, "teller01").status_code == 401


def test_many_addresses_together_lock_the_login_everywhere(center: AuthCenter) -> None:
    policy = identity.THROTTLE
    per_address = policy.pair_failures - 1  # stays under every per-address limit
    addresses = -(-policy.login_failures // per_address)
    for n in range(addresses):
        with center.client(client=(f"10.1.{n // 250}.{n % 250}", 1)) as client:
            for _ in range(per_address):
                token(client, "teller01")
    with center.client(client=VICTIM) as victim:
        assert token(victim, "teller01", PASSWORD).status_code == 423
    with center.app.state.engine.begin() as conn:
        who = identity.get_account(conn, center.principals[identity.Role.TELLER].id)
        assert who.locked_until is not None
        identity.unlock(conn, None, who.principal.id)  # type: ignore[arg-type]
    with center.client(client=VICTIM) as victim:
        assert token(victim, "teller01", PASSWORD).status_code == 200


def test_ipv6_addresses_are_counted_by_their_64_prefix() -> None:
    assert identity.address_key("2001:db8:1:2::1") == identity.address_key("2001:db8:1:2:ffff::9")
    assert identity.address_key("2001:db8:1:3::1") != identity.address_key("2001:db8:1:2::1")
    assert identity.address_key("::ffff:192.0.2.1") == identity.address_key("192.0.2.1") == "ip:192.0.2.1"
    assert identity.address_key(None) == "ip:-"
