"""API tokens and page sessions (SQLite and PostgreSQL): expiry, tampering, rotation, CSRF."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity, sessions, tokens
from hpf.identity.identity import Role
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.identity.tokens import RefreshOutcome, TokenConfig
from hpf.kernel.clock import FixedClock
from hpf.kernel.errors import HpfError

T0 = datetime(2025, 3, 15, 1, 0, 0, tzinfo=UTC)
CONFIG = TokenConfig(key=b"k" * 32)


@pytest.fixture
def clock():
    return FixedClock(T0.date(), _wall=T0)


@pytest.fixture
def db(engine):
    return engine


@pytest.fixture
def teller(db, ctx):
    with write_transaction(db) as conn:
        return identity.create_staff(
            conn, ctx, "li.teller", "李柜员", [Role.TELLER, Role.REVIEWER], "Correct-Horse-42",
            passwords=Passwords(FAST_FOR_TESTS),
        )  # fmt: skip


def later(clock, **delta):
    clock._wall = clock._wall + timedelta(**delta)


def issue(db, ctx, who):
    with write_transaction(db) as conn:
        return tokens.issue(conn, ctx, who, CONFIG)


def refresh(db, ctx, token):
    with write_transaction(db) as conn:
        return tokens.refresh(conn, ctx, token, CONFIG)


def invalid(token, now, config=CONFIG):
    with pytest.raises(HpfError) as err:
        tokens.verify_access(token, now, config)
    assert err.value.code == "auth.invalid_token" and err.value.status == 401
    return err.value


# --------------------------------------------------------------------------- keys


def test_the_development_key_is_refused_outside_development():
    assert tokens.signing_key(None, "development") == tokens.DEV_TOKEN_SECRET.encode()
    for secret in (None, "", tokens.DEV_TOKEN_SECRET):
        with pytest.raises(HpfError) as err:
            tokens.TokenConfig.from_settings(secret, "production")
        assert err.value.code == "security.default_key"
    with pytest.raises(HpfError) as err:
        tokens.signing_key("short", "production")
    assert err.value.code == "security.weak_key"
    config = TokenConfig.from_settings("s" * 40, "production")
    assert config.key == b"s" * 40 and "sss" not in repr(config)


# --------------------------------------------------------------------------- access tokens


def test_issue_and_verify(db, ctx, clock, teller):
    pair = issue(db, ctx, teller)
    assert pair.access_token not in repr(pair) and pair.refresh_token not in repr(pair)
    claims = tokens.verify_access(pair.access_token, clock.now(), CONFIG)
    assert claims.principal() == teller
    assert claims.roles == {Role.TELLER, Role.REVIEWER} and claims.center_code == "990001"
    assert claims.expires_at - claims.issued_at == 15 * 60
    assert pair.access_expires_at == T0 + timedelta(minutes=15)
    body = pair.as_response(clock.now())
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    header = json.loads(base64.urlsafe_b64decode(pair.access_token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}


def test_an_expired_access_token_is_refused(db, ctx, clock, teller):
    pair = issue(db, ctx, teller)
    tokens.verify_access(pair.access_token, T0 + timedelta(minutes=14, seconds=59), CONFIG)
    err = invalid(pair.access_token, T0 + timedelta(minutes=15))
    assert "expired" in err.detail
    invalid(pair.access_token, T0 - timedelta(minutes=5))  # issued in the future


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_tampered_access_token_is_refused(db, ctx, clock, teller):
    token = issue(db, ctx, teller).access_token
    header, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    now = clock.now()
    for change in ({"roles": ["admin"]}, {"sub": "999"}, {"exp": payload["exp"] + 3600}, {"member_id": 7}):
        forged = _b64(json.dumps({**payload, **change}, separators=(",", ":")).encode())
        invalid(f"{header}.{forged}.{signature}", now)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    invalid(f"{header}.{body}.{flipped}", now)
    invalid(f"{header}.{body}.{signature}x", now)  # non-canonical base64
    invalid(f"{header}.{body}.{signature}=", now)
    invalid(f"{header}.{body}.", now)
    none_alg = _b64(b'{"alg":"none","typ":"JWT"}')
    invalid(f"{none_alg}.{body}.", now)
    invalid(f"{none_alg}.{body}.{signature}", now)
    invalid(token, now, TokenConfig(key=b"another key, 32 bytes or longer!"))
    invalid(token, now, TokenConfig(key=CONFIG.key, issuer="somebody-else"))
    for junk in ("", ".", "..", "a.b.c", token + ".x", None, 42, b"bytes", "令牌.令牌.令牌", "x" * 5000):
        invalid(junk, now)


def test_a_token_checked_once_is_remembered_only_as_itself(db, ctx, clock, teller):
    """The verified-token memory never lets a neighbour through: after the real token was checked
    (and remembered), a one-byte change, another key or another issuer is still refused, and
    the memory keeps at most its size."""
    token = issue(db, ctx, teller).access_token
    now = clock.now()
    assert tokens.verify_access(token, now, CONFIG).principal() == teller
    assert CONFIG.verified.get(token) is not None
    header, body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    invalid(f"{header}.{body}.{flipped}", now)
    invalid(token, now, TokenConfig(key=b"another key, 32 bytes or longer!"))
    invalid(token, now, TokenConfig(key=CONFIG.key, issuer="somebody-else"))
    invalid(token, now + timedelta(minutes=15))  # expiry is compared on every use
    small = TokenConfig(key=CONFIG.key)
    small.verified.SIZE = 2
    others = [issue(db, ctx, teller).access_token for _ in range(3)]
    for t in others:
        tokens.verify_access(t, now, small)
    assert small.verified.get(others[0]) is None and small.verified.get(others[2]) is not None


def _signed(header, payload, key=CONFIG.key, digest=hashlib.sha256):
    """A token signed by hand (not through the module), with any header and HMAC digest."""
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}.{_b64(payload)}"
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), digest).digest())}"


def test_the_algorithm_is_pinned_to_hs256(db, ctx, clock, teller):
    """The token's ``alg`` never picks the check: ``none`` and every other algorithm are refused,
    even when correctly signed with the right key; only the one header written is accepted."""
    token = issue(db, ctx, teller).access_token
    body = token.split(".")[1]
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    now = clock.now()
    same = _signed({"alg": "HS256", "typ": "JWT"}, payload)
    assert same == token  # the wire format: a hand-made HS256 token is byte for byte the issued one
    assert tokens.verify_access(same, now, CONFIG).principal() == teller
    for alg, digest in (("HS384", hashlib.sha384), ("HS512", hashlib.sha512), ("hs256", hashlib.sha256)):
        invalid(_signed({"alg": alg, "typ": "JWT"}, payload, digest=digest), now)
    for alg in ("none", "None", "NONE", "RS256", "ES256", "EdDSA", "", None):
        forged = _signed({"alg": alg, "typ": "JWT"}, payload)
        invalid(forged, now)
        invalid(forged.rsplit(".", 1)[0] + ".", now)  # unsigned, as alg none would be
    invalid(_signed({"typ": "JWT"}, payload), now)  # no alg at all
    for other in (
        {"alg": "HS256"},
        {"typ": "JWT", "alg": "HS256"},
        {"alg": "HS256", "typ": "JWT", "kid": "1"},
        {"alg": "HS256", "typ": "JWT", "b64": False, "crit": ["b64"]},
    ):
        invalid(_signed(other, payload), now)
    # joserfc itself, asked for the same claims under HS512 with the same key: still refused
    other_alg = jwt.encode(
        {"alg": "HS512"}, json.loads(payload), OctKey.import_key(CONFIG.key), algorithms=["HS512"]
    )
    invalid(other_alg, now)


# --------------------------------------------------------------------------- refresh tokens


def test_refresh_rotates_and_the_new_token_works(db, ctx, clock, teller):
    first = issue(db, ctx, teller)
    later(clock, minutes=20)
    result = refresh(db, ctx, first.refresh_token)
    assert result.outcome is RefreshOutcome.ROTATED and result.error is None
    second = result.tokens()
    assert second.family == first.family and second.refresh_token != first.refresh_token
    assert tokens.verify_access(second.access_token, clock.now(), CONFIG).principal_id == teller.id
    assert refresh(db, ctx, second.refresh_token).outcome is RefreshOutcome.ROTATED
    with read_transaction(db) as conn:
        rows = conn.execute(tokens.refresh_token.select()).mappings().all()
    assert len(rows) == 3 and all(r["token_hash"] != first.refresh_token for r in rows)


def test_reusing_a_rotated_refresh_token_revokes_the_family(db, ctx, clock, teller):
    first = issue(db, ctx, teller)
    other_device = issue(db, ctx, teller)
    second = refresh(db, ctx, first.refresh_token).tokens()
    reused = refresh(db, ctx, first.refresh_token)  # committed even though refused
    assert reused.outcome is RefreshOutcome.REUSED and reused.audit()["family"] == first.family
    with pytest.raises(HpfError) as err:
        reused.tokens()
    assert err.value.code == "auth.invalid_token" and err.value.status == 401
    assert refresh(db, ctx, second.refresh_token).outcome is RefreshOutcome.REVOKED
    assert refresh(db, ctx, other_device.refresh_token).outcome is RefreshOutcome.ROTATED


def test_refresh_refuses_expired_revoked_unknown_and_disabled(db, ctx, clock, teller):
    pair = issue(db, ctx, teller)
    assert refresh(db, ctx, "not-a-token-but-long-enough").outcome is RefreshOutcome.INVALID
    assert refresh(db, ctx, None).outcome is RefreshOutcome.INVALID
    later(clock, days=14)
    assert refresh(db, ctx, pair.refresh_token).outcome is RefreshOutcome.EXPIRED
    pair = issue(db, ctx, teller)
    with write_transaction(db) as conn:
        assert tokens.revoke(conn, ctx, pair.refresh_token)
        assert not tokens.revoke(conn, ctx, "unknown-token-unknown-token")
    assert refresh(db, ctx, pair.refresh_token).outcome is RefreshOutcome.REVOKED
    pair = issue(db, ctx, teller)
    with write_transaction(db) as conn:
        identity.set_disabled(conn, ctx, teller.id, True)
    assert refresh(db, ctx, pair.refresh_token).outcome is RefreshOutcome.DISABLED
    with write_transaction(db) as conn:
        identity.set_disabled(conn, ctx, teller.id, False)
        assert tokens.revoke_all(conn, ctx, teller.id) == 1  # the expired one; the rest were revoked
    assert refresh(db, ctx, pair.refresh_token).outcome is RefreshOutcome.REVOKED


def test_refresh_picks_up_role_changes(db, ctx, clock, teller):
    pair = issue(db, ctx, teller)
    with write_transaction(db) as conn:
        identity.set_roles(conn, ctx, teller.id, [Role.AUDITOR])
    claims = tokens.verify_access(
        refresh(db, ctx, pair.refresh_token).tokens().access_token, clock.now(), CONFIG
    )
    assert claims.roles == {Role.AUDITOR}


# --------------------------------------------------------------------------- page sessions


def start(db, ctx, who):
    with write_transaction(db) as conn:
        return sessions.start_session(conn, ctx, who.id, "10.0.0.1", "Mozilla/5.0\n")


def load(db, token, now):
    with write_transaction(db) as conn:
        return sessions.load_session(conn, token, now)


def test_a_session_slides_its_idle_limit_and_stops_at_twelve_hours(db, ctx, clock, teller):
    token, session = start(db, ctx, teller)
    assert session.principal == teller and session.display_name == "李柜员"
    assert token not in repr(session) and session.csrf_token not in repr(session)
    assert session.expires_at == T0 + timedelta(minutes=30)
    assert load(db, token, T0 + timedelta(minutes=29)).expires_at == T0 + timedelta(minutes=59)
    assert load(db, token, T0 + timedelta(minutes=59, seconds=1)) is None
    now = T0
    token, _ = start(db, ctx, teller)
    while now + timedelta(minutes=20) < T0 + timedelta(hours=12):
        now += timedelta(minutes=20)
        assert load(db, token, now) is not None
    assert load(db, token, T0 + timedelta(hours=12)) is None
    with read_transaction(db) as conn:
        stored = conn.execute(sessions.web_session.select()).mappings().all()
    assert all(r["id"] != token for r in stored) and stored[0]["user_agent"] == "Mozilla/5.0?"


def test_ending_sessions_and_disabled_principals(db, ctx, clock, teller):
    token, _ = start(db, ctx, teller)
    other, _ = start(db, ctx, teller)
    with write_transaction(db) as conn:
        assert sessions.end_session(conn, ctx, token)
        assert not sessions.end_session(conn, ctx, token)
    assert load(db, token, clock.now()) is None and load(db, other, clock.now()) is not None
    with write_transaction(db) as conn:
        identity.set_disabled(conn, ctx, teller.id, True)
    assert load(db, other, clock.now()) is None
    with write_transaction(db) as conn:
        with pytest.raises(HpfError) as err:
            sessions.start_session(conn, ctx, teller.id)
        assert err.value.code == "auth.disabled"
        identity.set_disabled(conn, ctx, teller.id, False)
        assert sessions.end_all_sessions(conn, ctx, teller.id) == 1
    assert load(db, other, clock.now()) is None


def test_csrf_token_check(db, ctx, teller):
    _, session = start(db, ctx, teller)
    assert sessions.check_csrf(session, session.csrf_token)
    for wrong in ("", None, session.csrf_token[:-1], session.csrf_token + "x", "令牌", "\ud800", b"x"):
        assert not sessions.check_csrf(session, wrong)


def test_cookie_settings():
    dev, prod = sessions.cookie_settings("development"), sessions.cookie_settings("production")
    assert prod == {"key": "hpf_session", "httponly": True, "samesite": "lax", "secure": True, "path": "/"}
    assert dev["secure"] is False and dev["httponly"] is True
