"""Bearer tokens for the API: short-lived signed access tokens and rotated refresh tokens.

Access tokens are compact JWTs (``header.payload.signature``, HS256) that live 15 minutes;
verifying one needs no database. The JOSE work — base64url, the HMAC, the compact form — is
joserfc's, with the algorithm pinned to HS256: the ``alg`` of a token is never what chooses the
check, ``none`` and every other algorithm are refused, and only the one header this module writes
is accepted (compared before anything is parsed). The claims are ours and checked here, each
with its type: expiry without leeway, issue time up to a minute ahead (another server's clock).

Refresh tokens are opaque 256-bit random strings kept only as a SHA-256 hash, 14 days, and
rotated on every use. Each sign-in starts a *family*; presenting a refresh token that was
already rotated means it was copied, so the whole family is revoked (the thief and the user
both have to sign in again).

:func:`refresh` returns a :class:`RefreshResult` rather than raising: the revocation of a
family must be committed even though the answer is "no". Commit, audit, then call
:meth:`RefreshResult.tokens` (raises ``auth.invalid_token``).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry
from joserfc.util import json_b64encode
from sqlalchemy import Column, Connection, ForeignKey, String, Table, insert, select, update

from hpf.access.permissions import Principal, Role
from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.identity.identity import (
    PrincipalKind,
    Unauthenticated,
    active_principal,
    hash_token,
    new_token,
    now_utc,
    token_hash_or_none,
    utc,
)
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=14)
CLOCK_SKEW = timedelta(seconds=60)
MAX_TOKEN_LENGTH = 4096
MIN_KEY_BYTES = 32
ALGORITHM = "HS256"
DEV_TOKEN_SECRET = "openhpf-development-token-secret-never-use-in-production"  # noqa: S105

refresh_token = Table(
    "refresh_token",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("principal_id", Id, ForeignKey("principal.id"), nullable=False, index=True),
    Column("family", String(32), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("rotated_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
)


def invalid_token(detail: str = "the token is malformed, tampered with or expired") -> HpfError:
    return Unauthenticated("auth.invalid_token", "登录凭证无效或已过期，请重新登录", detail)


def signing_key(secret: str | None, env: str) -> bytes:
    """The HMAC key from settings; the built-in development key is refused outside development."""
    if not secret or secret == DEV_TOKEN_SECRET:
        if env != "development":
            raise HpfError(
                "security.default_key",
                "未配置令牌签名密钥，生产环境不能使用开发默认密钥",
                "set HPF_TOKEN_SECRET (at least 32 bytes): the development default is refused outside development",
                status=500,
            )
        return DEV_TOKEN_SECRET.encode()
    key = secret.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise HpfError(
            "security.weak_key",
            "令牌签名密钥过短",
            f"HPF_TOKEN_SECRET must be at least {MIN_KEY_BYTES} bytes",
            status=500,
        )
    return key


class VerifiedTokens:
    """The claims of tokens whose signature this process already checked, for this key.

    A client sends the same access token with every request for 15 minutes, and the request path
    checks it twice (the door's early refusal and the principal's resolution): the HMAC and the
    parsing are done once per token instead. Only successful checks are kept, keyed by the whole
    token string (the signature included), so a changed byte is a different key and is checked
    in full; expiry is compared with the clock on every use. Bounded: the oldest entry goes.
    """

    SIZE = 4096

    def __init__(self) -> None:
        self._claims: OrderedDict[str, Claims] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Claims | None:
        with self._lock:
            claims = self._claims.get(token)
            if claims is not None:
                self._claims.move_to_end(token)
            return claims

    def put(self, token: str, claims: Claims) -> None:
        with self._lock:
            self._claims[token] = claims
            if len(self._claims) > self.SIZE:
                self._claims.popitem(last=False)


@dataclass(frozen=True)
class TokenConfig:
    key: bytes = field(repr=False)
    access_ttl: timedelta = ACCESS_TTL
    refresh_ttl: timedelta = REFRESH_TTL
    issuer: str = "openhpf"
    jwk: OctKey = field(init=False, repr=False, compare=False)
    verified: VerifiedTokens = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "jwk", OctKey.import_key(self.key))
        object.__setattr__(self, "verified", VerifiedTokens())

    @classmethod
    def from_settings(cls, secret: str | None, env: str) -> TokenConfig:
        return cls(key=signing_key(secret, env))


@dataclass(frozen=True)
class Claims:
    """A verified access token."""

    principal_id: int
    login: str
    kind: str
    roles: frozenset[Role]
    center_code: str
    member_id: int | None
    employer_id: int | None
    issued_at: int
    expires_at: int
    jti: str

    def principal(self) -> Principal:
        return Principal(
            id=self.principal_id,
            login=self.login,
            kind=self.kind,
            roles=self.roles,
            center_code=self.center_code,
            member_id=self.member_id,
            employer_id=self.employer_id,
        )


class TokenBody(TypedDict):
    """The OAuth 2.0 style token response body (RFC 6749 §5.1)."""

    access_token: str
    token_type: str  # "Bearer"
    expires_in: int  # seconds
    refresh_token: str


@dataclass(frozen=True)
class TokenPair:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime
    principal_id: int
    family: str

    @property
    def expires_in(self) -> int:
        return int(ACCESS_TTL.total_seconds())

    def as_response(self, now: datetime) -> TokenBody:
        """The OAuth 2.0 style token response body."""
        return TokenBody(
            access_token=self.access_token,
            token_type="Bearer",  # noqa: S106 (the scheme's name)
            expires_in=max(0, int((self.access_expires_at - utc(now)).total_seconds())),
            refresh_token=self.refresh_token,
        )


# --------------------------------------------------------------------------- access tokens


_HEADER_FIELDS = {"alg": ALGORITHM, "typ": "JWT"}
_HEADER = json_b64encode(_HEADER_FIELDS).decode("ascii")  # the only header accepted, as written
_REGISTRY = JWSRegistry(algorithms=[ALGORITHM])


def _seconds(now: datetime) -> int:
    return int(utc(now).timestamp())


def make_access_token(principal: Principal, now: datetime, config: TokenConfig) -> tuple[str, datetime]:
    issued = _seconds(now)
    expires = issued + int(config.access_ttl.total_seconds())
    payload = {
        "iss": config.issuer,
        "sub": str(principal.id),
        "login": principal.login,
        "kind": principal.kind,
        "roles": sorted(r.value for r in principal.roles),
        "center": principal.center_code,
        "member_id": principal.member_id,
        "employer_id": principal.employer_id,
        "iat": issued,
        "exp": expires,
        "jti": secrets.token_hex(12),
    }
    token = jwt.encode(
        _HEADER_FIELDS, payload, config.jwk, algorithms=[ALGORITHM], registry=_REGISTRY, default_type=None
    )
    return token, datetime.fromtimestamp(expires, UTC)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_id(payload: dict[str, Any], name: str) -> tuple[bool, int | None]:
    value = payload.get(name)
    if value is None:
        return True, None
    as_int = _int(value)
    return as_int is not None, as_int


_KINDS = frozenset(k.value for k in PrincipalKind)
_ROLES = {r.value: r for r in Role}


def _claims(payload: object, config: TokenConfig) -> Claims | None:
    if not isinstance(payload, dict) or payload.get("iss") != config.issuer:
        return None
    sub, login, kind, center, jti, roles = (
        payload.get(k) for k in ("sub", "login", "kind", "center", "jti", "roles")
    )
    iat, exp = _int(payload.get("iat")), _int(payload.get("exp"))
    ok_member, member_id = _optional_id(payload, "member_id")
    ok_employer, employer_id = _optional_id(payload, "employer_id")
    if not (
        isinstance(sub, str)
        and sub.isascii()
        and sub.isdigit()
        and len(sub) <= 19
        and isinstance(login, str)
        and isinstance(kind, str)
        and kind in _KINDS
        and isinstance(center, str)
        and isinstance(jti, str)
        and isinstance(roles, list)
        and all(isinstance(r, str) and r in _ROLES for r in roles)
        and iat is not None
        and exp is not None
        and ok_member
        and ok_employer
    ):
        return None
    assert isinstance(roles, list)
    return Claims(
        principal_id=int(sub),
        login=login,
        kind=kind,
        roles=frozenset(_ROLES[r] for r in roles),
        center_code=center,
        member_id=member_id,
        employer_id=employer_id,
        issued_at=iat,
        expires_at=exp,
        jti=jti,
    )


def verify_access(token: object, now: datetime, config: TokenConfig) -> Claims:
    """The claims of a valid access token; otherwise ``auth.invalid_token`` (401)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise invalid_token()
    claims = config.verified.get(token)
    if claims is None:
        if not hmac.compare_digest(token.partition(".")[0], _HEADER):
            raise invalid_token()
        try:
            verified = jwt.decode(token, config.jwk, algorithms=[ALGORITHM], registry=_REGISTRY)
        except (JoseError, RecursionError):  # bad signature or encoding; claims nested too deep
            raise invalid_token() from None
        claims = _claims(verified.claims, config)
        if claims is None:
            raise invalid_token()
        config.verified.put(token, claims)
    moment = _seconds(now)
    if claims.expires_at <= moment:
        raise invalid_token("the access token has expired; refresh it")
    if claims.issued_at > moment + int(CLOCK_SKEW.total_seconds()):
        raise invalid_token()
    return claims


# --------------------------------------------------------------------------- refresh tokens


def _store_refresh(
    conn: Connection, principal_id: int, family: str, now: datetime, config: TokenConfig
) -> tuple[str, datetime]:
    token = new_token()
    expires = now + config.refresh_ttl
    conn.execute(
        insert(refresh_token).values(
            principal_id=principal_id,
            family=family,
            token_hash=hash_token(token),
            issued_at=now,
            expires_at=expires,
        )
    )
    return token, expires


def _pair(
    conn: Connection, principal: Principal, family: str, now: datetime, config: TokenConfig
) -> TokenPair:
    refresh, refresh_expires = _store_refresh(conn, principal.id, family, now, config)
    access, access_expires = make_access_token(principal, now, config)
    return TokenPair(access, refresh, access_expires, refresh_expires, principal.id, family)


def issue(conn: Connection, ctx: Context, principal: Principal, config: TokenConfig) -> TokenPair:
    """Tokens for a principal who just signed in (a new refresh family)."""
    return _pair(conn, principal, secrets.token_hex(16), now_utc(ctx), config)


class RefreshOutcome(StrEnum):
    ROTATED = "rotated"
    INVALID = "invalid"  # unknown or malformed
    EXPIRED = "expired"
    REVOKED = "revoked"
    REUSED = "reused"  # an already rotated token: the family is now revoked
    DISABLED = "disabled"  # the principal is gone or disabled


class RefreshFacts(TypedDict):
    """A refresh as the security log records it (never a token)."""

    principal_id: int | None
    outcome: str
    family: str | None


@dataclass(frozen=True)
class RefreshResult:
    outcome: RefreshOutcome
    principal_id: int | None = None
    family: str | None = None
    pair: TokenPair | None = field(default=None, repr=False)

    @property
    def error(self) -> HpfError | None:
        return None if self.pair is not None else invalid_token("the refresh token is not valid")

    def tokens(self) -> TokenPair:
        if self.pair is None:
            raise invalid_token("the refresh token is not valid")
        return self.pair

    def audit(self) -> RefreshFacts:
        return RefreshFacts(principal_id=self.principal_id, outcome=self.outcome.value, family=self.family)


def _revoke_family(conn: Connection, family: str, now: datetime) -> int:
    done = conn.execute(
        update(refresh_token)
        .where(refresh_token.c.family == family, refresh_token.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return done.rowcount


def refresh(conn: Connection, ctx: Context, token: object, config: TokenConfig) -> RefreshResult:
    """Trade a refresh token for a new pair; the old one is spent. Commit before raising."""
    now = now_utc(ctx)
    digest = token_hash_or_none(token)
    row = None
    if digest is not None:
        row = (
            conn.execute(select(refresh_token).where(refresh_token.c.token_hash == digest)).mappings().first()
        )
    if row is None:
        return RefreshResult(RefreshOutcome.INVALID)
    who, family = row["principal_id"], row["family"]
    if row["revoked_at"] is not None:
        return RefreshResult(RefreshOutcome.REVOKED, who, family)
    if row["rotated_at"] is not None:
        _revoke_family(conn, family, now)
        return RefreshResult(RefreshOutcome.REUSED, who, family)
    if utc(row["expires_at"]) <= now:
        return RefreshResult(RefreshOutcome.EXPIRED, who, family)
    active = active_principal(conn, who)
    if active is None:
        _revoke_family(conn, family, now)
        return RefreshResult(RefreshOutcome.DISABLED, who, family)
    claimed = conn.execute(
        update(refresh_token)
        .where(
            refresh_token.c.id == row["id"],
            refresh_token.c.rotated_at.is_(None),
            refresh_token.c.revoked_at.is_(None),
        )
        .values(rotated_at=now)
    )
    if claimed.rowcount != 1:  # spent concurrently: treat as reuse
        _revoke_family(conn, family, now)
        return RefreshResult(RefreshOutcome.REUSED, who, family)
    return RefreshResult(RefreshOutcome.ROTATED, who, family, _pair(conn, active[0], family, now, config))


def revoke(conn: Connection, ctx: Context, token: object) -> bool:
    """Sign out an API client: revoke the family of ``token``. False if it is unknown."""
    digest = token_hash_or_none(token)
    if digest is None:
        return False
    family = conn.scalar(select(refresh_token.c.family).where(refresh_token.c.token_hash == digest))
    if family is None:
        return False
    _revoke_family(conn, family, now_utc(ctx))
    return True


def revoke_all(conn: Connection, ctx: Context, principal_id: int) -> int:
    """Revoke every refresh token of a principal (password change, disabling, lost device)."""
    done = conn.execute(
        update(refresh_token)
        .where(refresh_token.c.principal_id == principal_id, refresh_token.c.revoked_at.is_(None))
        .values(revoked_at=now_utc(ctx))
    )
    return done.rowcount
