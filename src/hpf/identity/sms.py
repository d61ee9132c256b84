"""One-time codes sent by SMS (members and employers sign in with password + SMS code).

Sending goes through an :class:`SmsSender`; :class:`FakeSms` records messages for
development and tests. Codes are 6 digits from :mod:`secrets`, stored only as a salted
SHA-256 (a 6-digit code is guessable from its hash, but it lives 5 minutes and allows
5 attempts; the hash keeps a database reader from using a live code at a glance). A new
code for the same purpose supersedes the previous one; issuing is rate limited.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    and_,
    func,
    insert,
    select,
    update,
)

from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.protection.masking import mask

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=60)
MAX_PER_DAY = 10

PURPOSE_LABELS = {"sign_in": "登录"}
_PURPOSE = re.compile(r"[a-z][a-z_]{0,19}")

one_time_code = Table(
    "one_time_code",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("principal_id", Id, ForeignKey("principal.id"), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("salt", String(32), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("consumed_at", UtcDateTime()),
    Index(None, "principal_id", "purpose", "id"),
)


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None: ...


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    text: str


@dataclass
class FakeSms:
    """Records every message instead of sending it (development, tests, demo centers)."""

    messages: list[SmsMessage] = field(default_factory=list)

    def send(self, phone: str, text: str) -> None:
        self.messages.append(SmsMessage(phone, text))

    def last_to(self, phone: str) -> str | None:
        for message in reversed(self.messages):
            if message.phone == phone:
                return message.text
        return None

    def last_code(self, phone: str) -> str | None:
        text = self.last_to(phone)
        found = re.search(rf"(?<!\d)\d{{{CODE_DIGITS}}}(?!\d)", text or "")
        return found.group(0) if found else None


@dataclass
class ConsoleSms(FakeSms):
    """A :class:`FakeSms` that also prints each message (``hpf serve`` in development)."""

    def send(self, phone: str, text: str) -> None:
        super().send(phone, text)
        print(f"[短信 → {mask_phone(phone)}] {text}", flush=True)


class SmsUnavailable(HpfError):
    status = 503


@dataclass
class UnconfiguredSms:
    """Outside development, until a real SMS gateway is configured: refuse to pretend to send."""

    def send(self, phone: str, text: str) -> None:
        raise SmsUnavailable(
            "sms.unavailable",
            "短信服务暂不可用，无法发送验证码，请稍后再试或到服务网点办理",
            "no SMS gateway is configured for this center",
        )


class SmsRateLimited(HpfError):
    status = 429


class CodeCheck(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    NO_CODE = "no_code"


@dataclass(frozen=True)
class IssuedCode:
    id: int
    principal_id: int
    purpose: str
    expires_at: datetime


def _utc(value: datetime) -> datetime:
    """Aware UTC (SQLite hands back naive datetimes for ``UtcDateTime()``)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _purpose(purpose: str) -> str:
    if not _PURPOSE.fullmatch(purpose):
        raise InvalidInput("sms.purpose", "验证码用途无效", f"invalid code purpose {purpose!r}")
    return purpose


def mask_phone(phone: str) -> str:
    """``139****9000``: enough for a person to recognise their own number (the one phone mask,
    ``hpf.protection.masking``)."""
    return mask(phone, "phone")


@dataclass(frozen=True)
class SentCode:
    """The latest code sent for a purpose: when, until when it is good, and when a new one may be asked."""

    sent_at: datetime
    expires_at: datetime
    live: bool  # not used, superseded, expired or worn out by wrong guesses
    resend_in: int  # seconds until a new code may be requested (0: now)


def last_sent(conn: Connection, ctx: Context, principal_id: int, purpose: str) -> SentCode | None:
    """The latest code sent to ``principal_id`` for ``purpose``, or None if none ever was."""
    purpose = _purpose(purpose)
    now = _utc(ctx.clock.now())
    row = (
        conn.execute(
            select(
                one_time_code.c.created_at,
                one_time_code.c.expires_at,
                one_time_code.c.consumed_at,
                one_time_code.c.attempts,
            )
            .where(one_time_code.c.principal_id == principal_id, one_time_code.c.purpose == purpose)
            .order_by(one_time_code.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    sent_at, expires_at = _utc(row["created_at"]), _utc(row["expires_at"])
    wait = sent_at + RESEND_AFTER - now
    resend_in = max(0, math.ceil(wait.total_seconds()))
    live = row["consumed_at"] is None and expires_at > now and row["attempts"] < MAX_ATTEMPTS
    return SentCode(sent_at, expires_at, live, resend_in)


def issue_code(
    conn: Connection,
    ctx: Context,
    principal_id: int,
    purpose: str,
    *,
    phone: str,
    sender: SmsSender,
) -> IssuedCode:
    """Create, store (hashed) and send a fresh code; earlier live codes for the purpose die.

    Raises :class:`SmsRateLimited` (429) within a minute of the last code — sending nothing,
    the code already sent staying valid, and saying in how many seconds to ask again — or
    after :data:`MAX_PER_DAY` codes in 24 hours.
    """
    purpose = _purpose(purpose)
    now = _utc(ctx.clock.now())
    mine = and_(one_time_code.c.principal_id == principal_id, one_time_code.c.purpose == purpose)
    sent = last_sent(conn, ctx, principal_id, purpose)
    if sent is not None and sent.resend_in > 0:
        # Nothing is sent and the code already sent stays valid: say so, and when to ask again.
        raise SmsRateLimited(
            "sms.too_soon",
            f"验证码已发送，请在{sent.resend_in}秒后再请求",
            f"a code was sent less than {int(RESEND_AFTER.total_seconds())} s ago and is still valid "
            f"until {sent.expires_at.isoformat(timespec='seconds')}; retry in {sent.resend_in} s",
            retry_after=sent.resend_in,
        )
    today = conn.scalar(
        select(func.count())
        .select_from(one_time_code)
        .where(mine, one_time_code.c.created_at > now - timedelta(days=1))
    )
    if (today or 0) >= MAX_PER_DAY:
        raise SmsRateLimited(
            "sms.daily_limit",
            "今日验证码发送次数已达上限",
            f"at most {MAX_PER_DAY} codes a day",
            retry_after=24 * 3600,
        )
    conn.execute(
        update(one_time_code).where(mine, one_time_code.c.consumed_at.is_(None)).values(consumed_at=now)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    expires_at = now + CODE_TTL
    code_id = conn.execute(
        insert(one_time_code)
        .values(
            principal_id=principal_id,
            purpose=purpose,
            salt=salt,
            code_hash=_hash(salt, code),
            created_at=now,
            expires_at=expires_at,
            attempts=0,
        )
        .returning(one_time_code.c.id)
    ).scalar_one()
    label = PURPOSE_LABELS.get(purpose, "操作")
    minutes = int(CODE_TTL.total_seconds() // 60)
    sender.send(
        phone,
        f"【住房公积金】您的{label}验证码为{code}，{minutes}分钟内有效。请勿告诉他人，如非本人操作请忽略。",
    )
    return IssuedCode(code_id, principal_id, purpose, expires_at)


def verify_code(conn: Connection, ctx: Context, principal_id: int, purpose: str, code: object) -> CodeCheck:
    """Check ``code`` against the principal's live code; a match consumes it.

    A wrong guess costs one of :data:`MAX_ATTEMPTS`; malformed input counts as a wrong guess.
    """
    purpose = _purpose(purpose)
    now = _utc(ctx.clock.now())
    row = (
        conn.execute(
            select(one_time_code)
            .where(
                one_time_code.c.principal_id == principal_id,
                one_time_code.c.purpose == purpose,
                one_time_code.c.consumed_at.is_(None),
            )
            .order_by(one_time_code.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return CodeCheck.NO_CODE
    if _utc(row["expires_at"]) <= now:
        return CodeCheck.EXPIRED
    if row["attempts"] >= MAX_ATTEMPTS:
        return CodeCheck.TOO_MANY_ATTEMPTS
    candidate = code.strip() if isinstance(code, str) and len(code) <= 4 * CODE_DIGITS else ""
    good = (
        len(candidate) == CODE_DIGITS
        and candidate.isascii()
        and candidate.isdigit()
        and hmac.compare_digest(_hash(row["salt"], candidate), row["code_hash"])
    )
    if not good:
        conn.execute(
            update(one_time_code)
            .where(one_time_code.c.id == row["id"])
            .values(attempts=one_time_code.c.attempts + 1)
        )
        return CodeCheck.WRONG
    consumed = conn.execute(
        update(one_time_code)
        .where(
            one_time_code.c.id == row["id"],
            one_time_code.c.consumed_at.is_(None),
            one_time_code.c.attempts < MAX_ATTEMPTS,
        )
        .values(consumed_at=now)
    )
    return CodeCheck.OK if consumed.rowcount == 1 else CodeCheck.NO_CODE
