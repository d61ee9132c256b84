"""Property tests: malformed input on the sign-in and token paths (SQLite and PostgreSQL).

Whatever arrives — text, bytes, None, numbers, control characters, lone surrogates, huge
strings, mangled tokens — the answer is a clean refusal (a failure result or an ``HpfError``
below 500), and never a sign-in, a token or a session for a wrong secret.
"""

import base64
import hashlib
import hmac
import json
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from factories import employer_payload, member_payload
from hpf.access.permissions import Principal
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.db.engine import write_transaction
from hpf.identity import identity, sessions, sms, tokens, totp
from hpf.identity.identity import Outcome, Role
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.identity.tokens import RefreshOutcome, TokenConfig
from hpf.kernel.clock import FixedClock
from hpf.kernel.errors import HpfError

T0 = datetime(2025, 3, 15, 1, 0, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-42"
FAST = Passwords(FAST_FOR_TESTS)
CONFIG = TokenConfig(key=b"fuzz-key-fuzz-key-fuzz-key-fuzz!")
DB_RUNS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PURE_RUNS = settings(max_examples=300, deadline=None)

TRICKY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "li.teller\x00",
        "\ud800",
        "\udfff-abc",
        "li.teller",
        " LI.TELLER ",
        "li.teller ",
        "admin' OR '1'='1",
        "%",
        "_",
        "*",
        "x" * 10_000,
        "１２３４５６",
        "123456",
        " 123 456 ",
        "000000",
        "\u202e123456",
        "null",
        "{}",
        "eyJ.eyJ.x",
        "...",
        PASSWORD + " ",
        PASSWORD.lower(),
        PASSWORD[:-1],
        PASSWORD + "\x00",
    ]
)
ANYTHING = st.one_of(
    TRICKY,
    st.text(),
    st.text(alphabet=string.printable, max_size=80),
    st.binary(max_size=80),
    st.none(),
    st.integers(),
    st.lists(st.text(max_size=5), max_size=3),
)


@pytest.fixture
def clock():
    return FixedClock(T0.date(), _wall=T0)


@pytest.fixture
def db(engine):
    return engine


@pytest.fixture
def sender():
    return sms.FakeSms()


def refusal(step):
    """A sign-in step that is a clean refusal: a failure result whose error is a 4xx HpfError."""
    assert step.outcome in (Outcome.FAILED, Outcome.LOCKED, Outcome.THROTTLED), step
    assert step.principal is None and step.challenge is None
    err = step.error
    assert isinstance(err, HpfError) and 400 <= err.status < 500
    return step


def staff(db, ctx, login, roles):
    with write_transaction(db) as conn:
        return identity.create_staff(conn, ctx, login, "测试", roles, PASSWORD, passwords=FAST)


def password_step(db, ctx, sender, login, password):
    with write_transaction(db) as conn:
        return identity.authenticate_password(
            conn, ctx, login, password, "10.0.0.9", sender=sender, passwords=FAST, directory=DIRECTORY
        )


# --------------------------------------------------------------------------- sign-in


def test_password_sign_in_never_breaks_and_never_admits_a_wrong_password(db, ctx, sender):
    teller = staff(db, ctx, "li.teller", [Role.TELLER])  # no second factor: a right password is OK

    @DB_RUNS
    @given(login=st.one_of(st.just("li.teller"), ANYTHING), password=ANYTHING)
    def run(login, password):
        assume(password != PASSWORD)
        with write_transaction(db) as conn:
            identity.unlock(conn, ctx, teller.id)
            conn.execute(identity.sign_in_throttle.delete())  # the fuzzer's address too
        refusal(password_step(db, ctx, sender, login, password))

    run()
    assert password_step(db, ctx, sender, " LI.Teller", PASSWORD).ok  # the real one still works


def test_totp_step_never_breaks_and_never_admits_a_wrong_code(db, ctx, clock, sender):
    admin = staff(db, ctx, "wang.admin", [Role.ADMIN])
    setup = password_step(db, ctx, sender, "wang.admin", PASSWORD)
    secret = setup.totp_setup.secret
    with write_transaction(db) as conn:
        assert identity.complete_totp_setup(conn, ctx, setup.challenge, totp.totp(secret, clock.now())).ok

    @DB_RUNS
    @given(code=ANYTHING, challenge=ANYTHING)
    def run(code, challenge):
        clock._wall += timedelta(seconds=30)
        near = {totp.totp(secret, clock.now() + timedelta(seconds=30 * d)) for d in (-1, 0, 1)}
        assume(totp.normalize_code(code) not in near)
        with write_transaction(db) as conn:
            identity.unlock(conn, ctx, admin.id)
            conn.execute(identity.sign_in_throttle.delete())  # the fuzzer's address too
        step = password_step(db, ctx, sender, "wang.admin", PASSWORD)
        assert step.outcome is Outcome.NEEDS_TOTP
        with write_transaction(db) as conn:
            refusal(identity.complete_totp(conn, ctx, step.challenge, code))
            good = totp.totp(secret, clock.now())
            for fn in (identity.complete_totp, identity.complete_totp_setup, identity.complete_sms):
                refusal(fn(conn, ctx, challenge, good))  # a forged challenge, even with the right code

    run()


def test_sms_step_never_breaks_and_never_admits_a_wrong_code(db, ctx, clock, sender):
    with write_transaction(db) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        row = accounts.open_member(conn, ctx, emp.account_no, member_payload(phone="13900139000"))
        member = identity.create_member_login(
            conn, ctx, row.id, PASSWORD, passwords=FAST, directory=DIRECTORY
        )

    @DB_RUNS
    @given(code=ANYTHING, challenge=ANYTHING)
    def run(code, challenge):
        clock._wall += timedelta(days=1)  # clear of the SMS rate limits
        with write_transaction(db) as conn:
            identity.unlock(conn, ctx, member.id)
        step = password_step(db, ctx, sender, row.resident_id, PASSWORD)
        assert step.outcome is Outcome.NEEDS_SMS
        real = sender.last_code("13900139000")
        assume(not (isinstance(code, str) and code.strip() == real))
        with write_transaction(db) as conn:
            refusal(identity.complete_sms(conn, ctx, step.challenge, code))
            refusal(identity.complete_sms(conn, ctx, challenge, real))
            resent = identity.resend_sms(conn, ctx, challenge, sender=sender, directory=DIRECTORY)
            refusal(resent)

    run()


# --------------------------------------------------------------------------- access tokens

PRINCIPAL = Principal(
    id=7, login="li.teller", kind="staff", roles=frozenset({Role.TELLER}), center_code="990001"
)


def expect_invalid(token, now=T0):
    """The claims if the token is valid; None after checking the refusal is ``auth.invalid_token``."""
    try:
        return tokens.verify_access(token, now, CONFIG)
    except HpfError as err:
        refused = err
    assert refused.code == "auth.invalid_token" and refused.status == 401
    return None


def _b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


DOTTED = st.lists(st.binary(max_size=60), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(_b64, parts))
)


@PURE_RUNS
@given(token=st.one_of(ANYTHING, DOTTED))
def test_junk_access_tokens_are_refused(token):
    assert expect_invalid(token) is None


@PURE_RUNS
@given(data=st.data())
def test_any_change_to_a_real_access_token_is_refused(data):
    token, _ = tokens.make_access_token(PRINCIPAL, T0, CONFIG)
    at = data.draw(st.integers(0, len(token) - 1))
    insert = data.draw(st.text(alphabet=string.ascii_letters + string.digits + "-_.=", max_size=3))
    cut = data.draw(st.integers(0, 3))
    mangled = token[:at] + insert + token[at + cut :]
    assume(mangled != token)
    assert expect_invalid(mangled) is None
    assert expect_invalid(token).principal() == PRINCIPAL


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
CLAIM = st.sampled_from(
    ["iss", "sub", "login", "kind", "roles", "center", "member_id", "employer_id", "iat", "exp", "jti"]
)


@PURE_RUNS
@given(changes=st.dictionaries(CLAIM, JSON, min_size=1, max_size=4), drop=st.sets(CLAIM, max_size=2))
def test_correctly_signed_but_malformed_claims_are_refused_cleanly(changes, drop):
    """Even with the key (a bug elsewhere, a future claim), odd payloads never crash verification."""
    now = int(T0.timestamp())
    payload = {
        "iss": "openhpf",
        "sub": "7",
        "login": "li.teller",
        "kind": "staff",
        "roles": ["teller"],
        "center": "990001",
        "member_id": None,
        "employer_id": None,
        "iat": now,
        "exp": now + 900,
        "jti": "abc",
    }
    payload.update(changes)
    for name in drop:
        payload.pop(name, None)
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64(json.dumps(payload).encode())
    signature = _b64(hmac.new(CONFIG.key, f"{header}.{body}".encode(), hashlib.sha256).digest())
    claims = expect_invalid(f"{header}.{body}.{signature}")
    if claims is not None:  # accepted only when every claim is well typed
        assert isinstance(claims.principal_id, int) and claims.principal_id >= 0
        assert claims.kind in {"staff", "member", "employer", "partner"}
        assert all(isinstance(r, Role) for r in claims.roles)
        assert type(claims.expires_at) is int and claims.expires_at > now


@PURE_RUNS
@given(code=ANYTHING, last=st.one_of(st.none(), st.integers(-5, 10**11)))
def test_totp_verification_only_accepts_the_code(code, last):
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    step = totp.verify_totp(secret, code, T0, last_used_step=last)
    if step is not None:
        assert totp.totp(secret, step * 30) == totp.normalize_code(code)
        assert last is None or step > last


# --------------------------------------------------------------------------- refresh tokens and sessions


def test_junk_refresh_and_session_tokens_are_refused(db, ctx, clock):
    teller = staff(db, ctx, "li.teller", [Role.TELLER])
    with write_transaction(db) as conn:
        pair = tokens.issue(conn, ctx, teller, CONFIG)
        cookie, session = sessions.start_session(conn, ctx, teller.id)

    @DB_RUNS
    @given(token=ANYTHING, user_agent=st.one_of(st.none(), st.text(), TRICKY))
    def run(token, user_agent):
        assume(token not in (pair.refresh_token, cookie, session.csrf_token))
        with write_transaction(db) as conn:
            result = tokens.refresh(conn, ctx, token, CONFIG)
            assert result.outcome is RefreshOutcome.INVALID and result.pair is None
            assert isinstance(result.error, HpfError) and result.error.status == 401
            assert tokens.revoke(conn, ctx, token) is False
            assert sessions.load_session(conn, token, clock.now()) is None
            assert sessions.end_session(conn, ctx, token) is False
            assert sessions.check_csrf(session, token) is False
            _, other = sessions.start_session(conn, ctx, teller.id, ip=user_agent, user_agent=user_agent)
            assert other.principal == teller

    run()
    with write_transaction(db) as conn:  # the real ones were not disturbed
        assert tokens.refresh(conn, ctx, pair.refresh_token, CONFIG).outcome is RefreshOutcome.ROTATED
        assert sessions.load_session(conn, cookie, clock.now()) is not None
