"""Password hashing (argon2id) and the password policy.

Hashes are argon2id with explicit parameters (RFC 9106's second recommended option: 3 passes,
64 MiB, 4 lanes). The parameters are in the hash string, so changing them later only makes
:meth:`Passwords.needs_rehash` true for old hashes; sign-in then re-hashes with the new ones.
Tests pass :data:`FAST_FOR_TESTS` so a suite can hash thousands of times.

Any ``str`` is accepted: it is encoded UTF-8 with ``surrogatepass``, so no input can raise.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from enum import StrEnum

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hpf.kernel.errors import InvalidInput
from hpf.kernel.findings import Finding

MIN_LENGTH = 10
MIN_STRENGTH = 3
"""zxcvbn's score (0–4) a new password must reach: 3 is "safely unguessable" against an
attacker who may try 10^8 guesses offline (zxcvbn's own reading of its scale)."""
STRENGTH_CHARS = 72  # zxcvbn refuses longer input; the first 72 characters bound the estimate
SITE_WORDS = ("openhpf", "hpf", "gjj", "gongjijin", "公积金", "住房公积金")
"""Words every attacker of this site tries first."""
MAX_LENGTH = 128  # the policy's limit on new passwords
MAX_VERIFY_LENGTH = 1024  # longer input is refused at sign-in without hashing it in full


@dataclass(frozen=True)
class HashParams:
    time_cost: int
    memory_cost_kib: int
    parallelism: int
    hash_len: int = 32
    salt_len: int = 16


PRODUCTION = HashParams(time_cost=3, memory_cost_kib=64 * 1024, parallelism=4)
FAST_FOR_TESTS = HashParams(time_cost=1, memory_cost_kib=8, parallelism=1)


def _encode(password: str) -> bytes:
    return password.encode("utf-8", "surrogatepass")


@dataclass
class Passwords:
    """argon2id hashing with fixed parameters; ``verify`` never raises."""

    params: HashParams = PRODUCTION
    _hasher: PasswordHasher = field(init=False, repr=False)
    _dummy: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        p = self.params
        self._hasher = PasswordHasher(
            time_cost=p.time_cost,
            memory_cost=p.memory_cost_kib,
            parallelism=p.parallelism,
            hash_len=p.hash_len,
            salt_len=p.salt_len,
            type=Type.ID,
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(_encode(password))

    def verify(self, stored_hash: str, password: object) -> bool:
        """True when ``password`` matches; False for any mismatch, junk input or bad hash.

        argon2 compares the derived keys in constant time; the work done does not depend
        on how much of the password was right.
        """
        if not isinstance(password, str) or len(password) > MAX_VERIFY_LENGTH:
            self.burn()
            return False
        try:
            return self._hasher.verify(stored_hash, _encode(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def burn(self, password: object = "") -> None:
        """Spend the time of one verification (unknown logins: no timing difference)."""
        if self._dummy is None:
            self._dummy = self.hash("openhpf-dummy-password")
        candidate = password if isinstance(password, str) and len(password) <= MAX_VERIFY_LENGTH else ""
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            self._hasher.verify(self._dummy, _encode(candidate))


class CharClass(StrEnum):
    LOWER = "lower"
    UPPER = "upper"
    DIGIT = "digit"
    OTHER = "other"  # punctuation, CJK, anything else


def char_class(ch: str) -> CharClass:
    if ch.isascii() and ch.islower():
        return CharClass.LOWER
    if ch.isascii() and ch.isupper():
        return CharClass.UPPER
    if ch.isascii() and ch.isdigit():
        return CharClass.DIGIT
    return CharClass.OTHER


def check_password_policy(password: object, *, login: str | None = None) -> list[Finding]:
    """What is wrong with a proposed password (empty list: acceptable)."""
    if not isinstance(password, str):
        return [Finding("password.type", "密码必须是文本", "the password must be a string")]
    findings: list[Finding] = []
    if len(password) < MIN_LENGTH:
        findings.append(
            Finding(
                "password.too_short",
                f"密码至少需要{MIN_LENGTH}个字符",
                f"the password must have at least {MIN_LENGTH} characters",
            )
        )
    if len(password) > MAX_LENGTH:
        findings.append(
            Finding(
                "password.too_long",
                f"密码不能超过{MAX_LENGTH}个字符",
                f"the password must have at most {MAX_LENGTH} characters",
            )
        )
    if any(not ch.isprintable() for ch in password):
        findings.append(
            Finding(
                "password.control_chars",
                "密码不能包含控制字符或不可见字符",
                "the password must not contain control or invisible characters",
            )
        )
    if password and len({char_class(ch) for ch in password}) < 2:
        findings.append(
            Finding(
                "password.one_class",
                "密码须包含至少两类字符（小写字母、大写字母、数字、符号）",
                "the password must mix at least two kinds of characters (lower case, upper case, digits, symbols)",
            )
        )
    if login and len(login) >= 3 and login.casefold() in password.casefold():
        findings.append(
            Finding(
                "password.contains_login",
                "密码不能包含登录名",
                "the password must not contain the login name",
            )
        )
    if not findings:
        findings += _strength(password, login)
    return findings


def _strength(password: str, login: str | None) -> list[Finding]:
    """A finding when zxcvbn scores the password below ``MIN_STRENGTH``.

    The length and character-class rules let through ``Password12``, one of the most common
    passwords there is; zxcvbn knows the common passwords, names, words, keyboard walks, dates
    and l33t spellings, and here also the login and the site's own name. It runs only when the
    rules above pass, so each refusal names one clear cause.
    """
    from zxcvbn import zxcvbn  # imported on first use: its dictionaries take a moment to load

    result = zxcvbn(password[:STRENGTH_CHARS], user_inputs=[*SITE_WORDS, *([login] if login else [])])
    if result["score"] >= MIN_STRENGTH:
        return []
    warning = result["feedback"].get("warning") or "it is easy to guess"
    return [
        Finding(
            "password.weak",
            "密码过于常见或容易被猜到，请使用更长、更不常见的组合（例如几个不相关的词加数字和符号）",
            f"the password is too easy to guess (strength {result['score']} of 4, at least "
            f"{MIN_STRENGTH} required): {warning}",
        )
    ]


def require_password_policy(password: object, *, login: str | None = None) -> str:
    """The password, or ``InvalidInput`` (``password.policy``) listing every finding."""
    findings = check_password_policy(password, login=login)
    if findings:
        raise InvalidInput(
            "password.policy",
            "密码不符合安全要求：" + "；".join(f.message_zh for f in findings),
            "the password does not meet the policy: " + "; ".join(f.message_en for f in findings),
            field="password",
            findings=[
                {"code": f.code, "message_zh": f.message_zh, "message_en": f.message_en} for f in findings
            ],
        )
    assert isinstance(password, str)
    return password
