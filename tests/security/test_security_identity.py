"""Sign-in (SQLite and PostgreSQL): passwords, TOTP, SMS codes, lockout; plus the pure pieces."""

from datetime import UTC, datetime, timedelta

import pytest

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity, sms, totp
from hpf.identity.identity import Outcome, Role
from hpf.identity.passwords import FAST_FOR_TESTS, PRODUCTION, Passwords, check_password_policy
from hpf.kernel.clock import FixedClock
from hpf.kernel.errors import Conflict, InvalidInput

T0 = datetime(2025, 3, 15, 1, 0, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-42"
FAST = Passwords(FAST_FOR_TESTS)


@pytest.fixture
def clock():
    return FixedClock(T0.date(), _wall=T0)


@pytest.fixture
def db(engine):
    return engine


@pytest.fixture
def sender():
    return sms.FakeSms()


def later(clock, **delta):
    clock._wall = clock._wall + timedelta(**delta)


def staff(db, ctx, login="wang.admin", roles=(Role.ADMIN,), password=PASSWORD):
    with write_transaction(db) as conn:
        return identity.create_staff(conn, ctx, login, "王管理", roles, password, passwords=FAST)


def sign_in(db, ctx, sender, login, password=PASSWORD, ip="10.0.0.1"):
    with write_transaction(db) as conn:
        return identity.authenticate_password(
            conn, ctx, login, password, ip, sender=sender, passwords=FAST, directory=DIRECTORY
        )


def second(db, ctx, fn, challenge, code):
    with write_transaction(db) as conn:
        return fn(conn, ctx, challenge, code, "10.0.0.1")


def enrolled_admin(db, ctx, clock, sender):
    """An admin who has enrolled TOTP; returns (principal, secret)."""
    who = staff(db, ctx)
    step = sign_in(db, ctx, sender, "wang.admin")
    secret = step.totp_setup.secret
    done = second(db, ctx, identity.complete_totp_setup, step.challenge, totp.totp(secret, clock.now()))
    assert done.ok
    later(clock, seconds=30)
    return who, secret


# --------------------------------------------------------------------------- pure: TOTP


RFC6238_SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of b"12345678901234567890"


@pytest.mark.parametrize(
    ("unix", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_totp_matches_the_rfc_6238_sha1_vectors(unix, expected):
    assert totp.totp(RFC6238_SEED, unix, digits=8) == expected
    assert totp.totp(RFC6238_SEED, datetime.fromtimestamp(unix, UTC), digits=8) == expected
    assert totp.totp(RFC6238_SEED, unix) == expected[-6:]


def test_verify_totp_accepts_one_step_of_drift_and_refuses_replay():
    secret = totp.generate_secret()
    assert len(secret) == 32 and totp.secret_bytes(secret)
    at = T0
    step = totp.time_step(at)
    for drift in (-1, 0, 1):
        code = totp.totp(secret, at + timedelta(seconds=30 * drift))
        assert totp.verify_totp(secret, code, at) == step + drift
    assert totp.verify_totp(secret, totp.totp(secret, at + timedelta(seconds=60)), at) is None
    code = totp.totp(secret, at)
    assert totp.verify_totp(secret, code, at, last_used_step=step) is None  # replay
    assert totp.verify_totp(secret, code, at, last_used_step=step + 1) is None  # older than last used
    assert totp.verify_totp(secret, code, at, last_used_step=step - 1) == step
    assert totp.verify_totp(secret, f" {code[:3]} {code[3:]} ", at) == step
    for junk in ("", "12345", "1234567", "abcdef", "１２３４５６", None, 123456, b"123456"):
        assert totp.verify_totp(secret, junk, at) is None


def test_provisioning_uri_names_issuer_and_account():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "wang.admin")
    assert uri.startswith("otpauth://totp/OpenHPF:wang.admin?")
    assert "secret=JBSWY3DPEHPK3PXP" in uri and "issuer=OpenHPF" in uri and "period=30" in uri


def test_a_totp_secret_under_128_bits_is_refused(db, ctx, clock):
    """RFC 4226 §4 R6: at least 128 bits; pyotp itself refuses under 112 (80 bits here)."""
    short = "JBSWY3DPEHPK3PXP"  # 16 characters = 80 bits
    with pytest.raises(ValueError):
        totp.verify_totp(short, "123456", T0)
    who = staff(db, ctx, login="li.teller", roles=[Role.TELLER])
    for secret in (short, "JBSWY3DPEHPK3PXPJBSWY3DPE"):  # 80 and 125 bits
        with pytest.raises(InvalidInput) as err, write_transaction(db) as conn:
            identity.enable_totp(conn, ctx, who.id, secret, "123456")
        assert err.value.code == "totp.secret"
    enough = "JBSWY3DPEHPK3PXPJBSWY3DPEH"  # 26 characters = 130 bits
    with write_transaction(db) as conn:
        identity.enable_totp(conn, ctx, who.id, enough, totp.totp(enough, clock.now()))


# --------------------------------------------------------------------------- pure: passwords


def test_argon2id_hash_verify_and_rehash():
    hashed = FAST.hash(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert FAST.verify(hashed, PASSWORD)
    assert not FAST.verify(hashed, PASSWORD + "x")
    assert not FAST.verify(hashed, None) and not FAST.verify("not a hash", PASSWORD)
    assert not FAST.needs_rehash(hashed)
    assert Passwords(PRODUCTION).needs_rehash(hashed)
    assert FAST.needs_rehash("garbage")
    assert FAST.verify(FAST.hash("\ud800 lone surrogate 1"), "\ud800 lone surrogate 1")


@pytest.mark.parametrize(
    ("password", "codes"),
    [
        ("short1A", {"password.too_short"}),
        ("alllowercaseletters", {"password.one_class"}),
        ("1234567890123", {"password.one_class"}),
        ("住房公积金住房公积金住房", {"password.one_class"}),
        ("wang.admin-2025", {"password.contains_login"}),
        ("tab\there-Secret1", {"password.control_chars"}),
        ("Aa1" * 50, {"password.too_long"}),
        ("Correct-Horse-42", set()),
        ("住房公积金-Qx7!mz", set()),  # CJK counts as a class of its own
        ("住房公积金password", {"password.weak"}),  # the site's name and "password"
        ("Password12", {"password.weak"}),  # long enough, two classes, and very common
        ("OpenHPF-Demo-2025", set()),  # the demo centre's password (development only)
    ],
)
def test_password_policy_findings(password, codes):
    findings = check_password_policy(password, login="wang.admin")
    assert {f.code for f in findings} == codes
    assert all(f.message_zh and f.message_en for f in findings)


# --------------------------------------------------------------------------- staff


def test_creating_staff_validates_and_never_stores_the_password(db, ctx):
    who = staff(db, ctx, roles=("admin", Role.AUDITOR))
    assert who.kind == "staff" and who.roles == {Role.ADMIN, Role.AUDITOR} and who.center_code == "990001"
    with read_transaction(db) as conn:
        stored = conn.execute(identity.principal.select()).mappings().one()
        account = identity.get_account(conn, who.id)
    assert PASSWORD not in stored["password_hash"] and stored["password_hash"].startswith("$argon2id$")
    assert account.totp_required and not account.totp_enabled and "hash" not in repr(account)
    for login, roles, password, code in [
        ("x", [Role.TELLER], PASSWORD, "principal.login_format"),
        ("li.teller", [Role.MEMBER], PASSWORD, "principal.roles"),
        ("li.teller", ["root"], PASSWORD, "principal.roles"),
        ("li.teller", [], PASSWORD, "principal.roles"),
        ("li.teller", [Role.TELLER], "weak", "password.policy"),
        ("li.teller", [Role.TELLER], "Password12", "password.policy"),  # common: zxcvbn scores it 1
    ]:
        with pytest.raises(InvalidInput) as err, write_transaction(db) as conn:
            identity.create_staff(conn, ctx, login, "李柜员", roles, password, passwords=FAST)
        assert err.value.code == code
    with pytest.raises(Conflict) as err:
        staff(db, ctx, login="WANG.ADMIN")
    assert err.value.code == "principal.login_taken"


def test_mandatory_totp_role_enrols_at_first_sign_in_then_needs_the_code(db, ctx, clock, sender):
    staff(db, ctx)
    step = sign_in(db, ctx, sender, "wang.admin")
    assert step.outcome is Outcome.NEEDS_TOTP_SETUP and step.error is None
    assert step.totp_setup.uri.startswith("otpauth://totp/OpenHPF:wang.admin?")
    assert step.challenge not in repr(step) and step.totp_setup.secret not in repr(step)
    wrong = second(db, ctx, identity.complete_totp_setup, step.challenge, "000000")
    if wrong.outcome is not Outcome.OK:  # (one in a million: 000000 is the right code)
        assert (
            wrong.reason == "bad_totp"
            and wrong.error.code == "auth.totp_invalid"
            and wrong.error.status == 401
        )
    code = totp.totp(step.totp_setup.secret, clock.now())
    done = second(db, ctx, identity.complete_totp_setup, step.challenge, code)
    assert done.ok and done.principal.roles == {Role.ADMIN} and done.display_name == "王管理"
    assert done.audit() == {
        "login": "wang.admin",
        "principal_id": done.principal.id,
        "outcome": "ok",
        "reason": "ok",
        "source_ip": "10.0.0.1",
        "locked_until": None,
    }
    again = second(db, ctx, identity.complete_totp_setup, step.challenge, code)
    assert again.reason == "challenge_invalid" and again.error.code == "auth.challenge_invalid"

    later(clock, seconds=30)
    step = sign_in(db, ctx, sender, "Wang.Admin ")
    assert step.outcome is Outcome.NEEDS_TOTP and step.totp_setup is None


def test_a_correct_totp_completes_and_a_replayed_one_is_refused(db, ctx, clock, sender):
    _who, secret = enrolled_admin(db, ctx, clock, sender)
    first = sign_in(db, ctx, sender, "wang.admin")
    code = totp.totp(secret, clock.now())
    assert second(db, ctx, identity.complete_totp, first.challenge, code).ok
    replay = sign_in(db, ctx, sender, "wang.admin")
    refused = second(db, ctx, identity.complete_totp, replay.challenge, code)
    assert refused.outcome is Outcome.FAILED and refused.reason == "totp_replay"
    assert refused.error.code == "auth.totp_invalid" and refused.error.status == 401
    later(clock, seconds=30)
    fresh = second(db, ctx, identity.complete_totp, replay.challenge, totp.totp(secret, clock.now()))
    assert fresh.ok


def test_optional_role_signs_in_with_password_until_it_enables_totp(db, ctx, clock, sender):
    who = staff(db, ctx, login="li.teller", roles=[Role.TELLER])
    step = sign_in(db, ctx, sender, "li.teller")
    assert step.ok and step.principal == who
    enrolment = identity.new_totp_enrollment("li.teller")
    with pytest.raises(InvalidInput) as err, write_transaction(db) as conn:
        identity.enable_totp(conn, ctx, who.id, enrolment.secret, "12345x")
    assert err.value.code == "totp.code_invalid"
    for bad_secret in ("not base32!", "A" * 500, "AB"):
        with pytest.raises(InvalidInput) as err, write_transaction(db) as conn:
            identity.enable_totp(conn, ctx, who.id, bad_secret, "123456")
        assert err.value.code == "totp.secret"
    with write_transaction(db) as conn:
        identity.enable_totp(conn, ctx, who.id, enrolment.secret, totp.totp(enrolment.secret, clock.now()))
    later(clock, seconds=30)
    step = sign_in(db, ctx, sender, "li.teller")
    assert step.outcome is Outcome.NEEDS_TOTP
    with write_transaction(db) as conn:
        identity.reset_totp(conn, ctx, who.id)
    stale = second(db, ctx, identity.complete_totp, step.challenge, totp.totp(enrolment.secret, clock.now()))
    assert stale.reason == "challenge_invalid"
    assert sign_in(db, ctx, sender, "li.teller").ok


def test_five_wrong_passwords_lock_even_the_right_one_until_the_lock_expires(db, ctx, clock, sender):
    staff(db, ctx, login="li.teller", roles=[Role.TELLER])
    for attempt in range(1, 6):
        step = sign_in(db, ctx, sender, "li.teller", "Wrong-password-1")
        expected = Outcome.LOCKED if attempt == 5 else Outcome.FAILED
        assert step.outcome is expected, attempt
    assert step.reason == "locked_now" and step.error.status == 423 and step.error.code == "auth.locked"
    assert step.error.extra["retry_after"] == 15 * 60
    locked = sign_in(db, ctx, sender, "li.teller")
    assert locked.outcome is Outcome.LOCKED and locked.reason == "locked" and locked.error.status == 423
    later(clock, minutes=14, seconds=59)
    assert sign_in(db, ctx, sender, "li.teller").outcome is Outcome.LOCKED
    later(clock, seconds=1)
    assert sign_in(db, ctx, sender, "li.teller").ok
    with read_transaction(db) as conn:
        account = identity.get_account(conn, locked.principal_id)
    assert account.failed_attempts == 0 and account.last_sign_in_at == clock.now()


def test_wrong_totp_codes_count_towards_the_lock(db, ctx, clock, sender):
    _who, secret = enrolled_admin(db, ctx, clock, sender)
    step = sign_in(db, ctx, sender, "wang.admin")
    good = totp.totp(secret, clock.now())
    wrong = "000001" if good != "000001" else "000002"
    results = [second(db, ctx, identity.complete_totp, step.challenge, wrong) for _ in range(5)]
    assert [r.outcome for r in results] == [Outcome.FAILED] * 4 + [Outcome.LOCKED]
    assert second(db, ctx, identity.complete_totp, step.challenge, good).outcome is Outcome.LOCKED


def test_unknown_login_and_wrong_password_give_the_same_answer(db, ctx, sender):
    staff(db, ctx, login="li.teller", roles=[Role.TELLER])
    unknown = sign_in(db, ctx, sender, "nobody.here")
    wrong = sign_in(db, ctx, sender, "li.teller", "Wrong-password-1")
    junk = sign_in(db, ctx, sender, "'; drop table principal; --")
    assert unknown.reason == "unknown_login" and wrong.reason == "bad_password"
    assert junk.reason == "unknown_login" and junk.login.startswith("'; drop")
    problems = [s.error.to_problem() for s in (unknown, wrong, junk)]
    assert problems[0] == problems[1] == problems[2]
    assert problems[0]["code"] == "auth.failed" and problems[0]["status"] == 401
    assert unknown.principal_id is None and wrong.principal_id is not None  # audit only


def test_a_disabled_principal_is_told_so_only_with_the_right_password(db, ctx, sender):
    who = staff(db, ctx, login="li.teller", roles=[Role.TELLER])
    with write_transaction(db) as conn:
        identity.set_disabled(conn, ctx, who.id, True)
    assert sign_in(db, ctx, sender, "li.teller", "Wrong-password-1").error.code == "auth.failed"
    step = sign_in(db, ctx, sender, "li.teller")
    assert step.outcome is Outcome.FAILED and step.error.code == "auth.disabled" and step.error.status == 403


def test_rehash_on_sign_in_when_parameters_changed(db, ctx, sender):
    cheaper = Passwords(FAST_FOR_TESTS.__class__(time_cost=1, memory_cost_kib=16, parallelism=1))
    with write_transaction(db) as conn:
        who = identity.create_staff(conn, ctx, "li.teller", "李", [Role.TELLER], PASSWORD, passwords=cheaper)
    assert sign_in(db, ctx, sender, "li.teller").ok  # FAST params differ: re-hashed
    with read_transaction(db) as conn:
        stored = conn.scalar(
            identity.principal.select().with_only_columns(identity.principal.c.password_hash)
        )
    assert "m=8," in stored and FAST.verify(stored, PASSWORD)
    with write_transaction(db) as conn:
        with pytest.raises(InvalidInput):
            identity.change_password(
                conn, ctx, who.id, "Wrong-password-1", "Another-Secret-7", passwords=FAST
            )
        identity.change_password(conn, ctx, who.id, PASSWORD, "Another-Secret-7", passwords=FAST)
    assert sign_in(db, ctx, sender, "li.teller").error.code == "auth.failed"
    assert sign_in(db, ctx, sender, "li.teller", "Another-Secret-7").ok


# --------------------------------------------------------------------------- members and employers


@pytest.fixture
def member_row(db, ctx):
    with write_transaction(db) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        return accounts.open_member(conn, ctx, emp.account_no, member_payload(phone="13900139000"))


def member_login(db, ctx, member_row):
    with write_transaction(db) as conn:
        return identity.create_member_login(
            conn, ctx, member_row.id, PASSWORD, passwords=FAST, directory=DIRECTORY
        )


def test_member_sign_in_needs_the_code_sent_by_sms(db, ctx, sender, member_row):
    who = member_login(db, ctx, member_row)
    assert who.kind == "member" and who.member_id == member_row.id and who.roles == {Role.MEMBER}
    assert who.login == member_row.account_no  # no ID number stored in plaintext
    step = sign_in(db, ctx, sender, member_row.resident_id)
    assert step.outcome is Outcome.NEEDS_SMS and step.sms_phone_masked == "139****9000"
    assert len(sender.messages) == 1 and sender.messages[0].phone == "13900139000"
    code = sender.last_code("13900139000")
    assert code is not None and "验证码" in sender.messages[0].text
    with read_transaction(db) as conn:
        stored = conn.execute(sms.one_time_code.select()).mappings().one()
    assert code not in stored["code_hash"]
    wrong = "000000" if code != "000000" else "111111"
    bad = second(db, ctx, identity.complete_sms, step.challenge, wrong)
    assert bad.reason == "bad_code" and bad.error.code == "auth.sms_code_invalid"
    done = second(db, ctx, identity.complete_sms, step.challenge, code)
    assert done.ok and done.principal.member_id == member_row.id
    assert second(db, ctx, identity.complete_sms, step.challenge, code).reason == "challenge_invalid"


def test_an_expired_sms_code_is_refused(db, ctx, clock, sender, member_row):
    member_login(db, ctx, member_row)
    step = sign_in(db, ctx, sender, member_row.resident_id)
    code = sender.last_code("13900139000")
    later(clock, minutes=5)
    late = second(db, ctx, identity.complete_sms, step.challenge, code)
    assert late.reason == "code_expired" and late.error.code == "auth.sms_code_expired"
    with write_transaction(db) as conn:
        resent = identity.resend_sms(conn, ctx, step.challenge, sender=sender, directory=DIRECTORY)
    assert resent.outcome is Outcome.NEEDS_SMS and len(sender.messages) == 2
    with pytest.raises(sms.SmsRateLimited) as err, write_transaction(db) as conn:
        identity.resend_sms(conn, ctx, step.challenge, sender=sender, directory=DIRECTORY)
    assert err.value.status == 429 and err.value.code == "sms.too_soon"
    assert second(db, ctx, identity.complete_sms, step.challenge, code).reason == "bad_code"  # superseded
    assert second(db, ctx, identity.complete_sms, step.challenge, sender.last_code("13900139000")).ok


def test_a_second_request_within_a_minute_says_so_and_the_code_sent_stays_valid(
    db, ctx, clock, sender, member_row
):
    member_login(db, ctx, member_row)
    first = sign_in(db, ctx, sender, member_row.resident_id)
    code = sender.last_code("13900139000")
    assert first.outcome is Outcome.NEEDS_SMS and code is not None
    later(clock, seconds=20)
    again = sign_in(db, ctx, sender, member_row.resident_id)  # signing in again: nothing sent
    assert again.outcome is Outcome.NEEDS_SMS and len(sender.messages) == 1
    with pytest.raises(sms.SmsRateLimited) as err, write_transaction(db) as conn:
        identity.resend_sms(conn, ctx, again.challenge, sender=sender, directory=DIRECTORY)
    assert err.value.code == "sms.too_soon" and err.value.status == 429
    assert err.value.title == "验证码已发送，请在40秒后再请求"  # 60 s after the first, 20 s gone
    assert len(sender.messages) == 1  # the truth: nothing was sent
    with read_transaction(db) as conn:
        sent = sms.last_sent(conn, ctx, again.principal_id, "sign_in")
    assert sent is not None and sent.live and sent.resend_in == 40
    assert sent.expires_at - sent.sent_at == sms.CODE_TTL
    assert second(db, ctx, identity.complete_sms, again.challenge, code).ok  # the code sent is good


def test_an_over_attempted_sms_code_is_dead(db, ctx, sender, member_row):
    who = member_login(db, ctx, member_row)
    with write_transaction(db) as conn:
        sms.issue_code(conn, ctx, who.id, "sign_in", phone="13900139000", sender=sender)
    code = sender.last_code("13900139000")
    wrong = "000000" if code != "000000" else "111111"
    with write_transaction(db) as conn:
        checks = [sms.verify_code(conn, ctx, who.id, "sign_in", wrong) for _ in range(5)]
        assert checks == [sms.CodeCheck.WRONG] * 5
        assert sms.verify_code(conn, ctx, who.id, "sign_in", code) is sms.CodeCheck.TOO_MANY_ATTEMPTS


def test_wrong_sms_codes_lock_the_member(db, ctx, sender, member_row):
    member_login(db, ctx, member_row)
    step = sign_in(db, ctx, sender, member_row.resident_id)
    code = sender.last_code("13900139000")
    wrong = "000000" if code != "000000" else "111111"
    results = [second(db, ctx, identity.complete_sms, step.challenge, wrong) for _ in range(5)]
    assert results[-1].outcome is Outcome.LOCKED
    assert second(db, ctx, identity.complete_sms, step.challenge, code).outcome is Outcome.LOCKED


def test_member_without_phone_gets_no_login_and_sms_limits_apply(db, ctx, clock, sender, member_row):
    with write_transaction(db) as conn:
        emp = accounts.get_employer(conn, accounts.find_employers(conn)[0].account_no)
        other = accounts.open_member(conn, ctx, emp.account_no, member_payload(2, phone=None))
        with pytest.raises(InvalidInput) as err:
            identity.create_member_login(conn, ctx, other.id, PASSWORD, passwords=FAST, directory=DIRECTORY)
    assert err.value.code == "principal.no_phone"
    who = member_login(db, ctx, member_row)
    for _ in range(sms.MAX_PER_DAY):
        with write_transaction(db) as conn:
            sms.issue_code(conn, ctx, who.id, "sign_in", phone="13900139000", sender=sender)
        later(clock, seconds=61)
    with pytest.raises(sms.SmsRateLimited) as err, write_transaction(db) as conn:
        sms.issue_code(conn, ctx, who.id, "sign_in", phone="13900139000", sender=sender)
    assert err.value.code == "sms.daily_limit"


def test_employer_sign_in_sends_the_code_to_the_contact_phone(db, ctx, sender):
    with write_transaction(db) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(contact_phone="13700137000"))
        who = identity.create_employer_login(conn, ctx, emp.id, PASSWORD, passwords=FAST, directory=DIRECTORY)
    assert who.kind == "employer" and who.employer_id == emp.id and who.member_id is None
    step = sign_in(db, ctx, sender, emp.uscc)
    assert step.outcome is Outcome.NEEDS_SMS
    done = second(db, ctx, identity.complete_sms, step.challenge, sender.last_code("13700137000"))
    assert done.ok and done.principal.roles == {Role.EMPLOYER}


def test_a_central_identity_provider_subject_maps_onto_a_principal(db, ctx, sender, member_row):
    who = member_login(db, ctx, member_row)
    with write_transaction(db) as conn:
        missing = identity.sign_in_external(conn, ctx, "https://idp.example.gov.cn", "abc-123")
        identity.link_external_subject(conn, ctx, who.id, "https://idp.example.gov.cn", "abc-123")
        found = identity.sign_in_external(conn, ctx, "https://idp.example.gov.cn", "abc-123")
    assert missing.outcome is Outcome.FAILED and missing.error.code == "auth.failed"
    assert found.ok and found.principal == who
