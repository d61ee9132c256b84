"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 6 digits, 30 s.

Secrets are 160 random bits, exchanged as unpadded RFC 4648 base32 (what authenticator apps
scan from :func:`provisioning_uri`). :func:`verify_totp` accepts the current step and one on
either side (clock drift) and refuses any step at or before the last one used, so a code
cannot be replayed — not even an older code still inside the window.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20


def generate_secret() -> str:
    """A fresh random secret, base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def secret_bytes(secret: str) -> bytes:
    """The key behind a base32 secret (case, spaces and padding tolerated); ``ValueError`` if bad."""
    cleaned = secret.replace(" ", "").replace("-", "").rstrip("=").upper()
    if not cleaned or not cleaned.isascii():
        raise ValueError("not a base32 TOTP secret")
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except binascii.Error as exc:
        raise ValueError("not a base32 TOTP secret") from exc


def _seconds(at: datetime | int) -> int:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("TOTP needs an aware datetime")
        return int(at.timestamp())
    return int(at)


def time_step(at: datetime | int, step: int = STEP_SECONDS) -> int:
    """The RFC 6238 counter ``T`` for a moment (aware datetime or Unix seconds)."""
    return _seconds(at) // step


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 HOTP value of ``counter`` with HMAC-SHA1."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def totp(secret: str, for_time: datetime | int, step: int = STEP_SECONDS, digits: int = DIGITS) -> str:
    """The code for ``for_time``."""
    return hotp(secret_bytes(secret), time_step(for_time, step), digits)


def normalize_code(code: object, digits: int = DIGITS) -> str | None:
    """The code as ``digits`` ASCII digits (spaces and dashes dropped), or None if it cannot be one."""
    if not isinstance(code, str) or len(code) > 4 * digits:
        return None
    cleaned = code.strip().replace(" ", "").replace("-", "")
    if len(cleaned) != digits or not cleaned.isascii() or not cleaned.isdigit():
        return None
    return cleaned


def verify_totp(
    secret: str,
    code: object,
    at: datetime | int,
    *,
    window: int = 1,
    last_used_step: int | None = None,
    step: int = STEP_SECONDS,
    digits: int = DIGITS,
) -> int | None:
    """The time step ``code`` belongs to, or None (wrong, malformed, or already used).

    Store the returned step as the principal's ``last_used_step``: later calls refuse that
    step and every earlier one (replay protection).
    """
    candidate = normalize_code(code, digits)
    if candidate is None:
        return None
    key = secret_bytes(secret)
    now_step = time_step(at, step)
    matched: int | None = None
    for counter in range(now_step - window, now_step + window + 1):
        if counter < 0:
            continue
        # Compare every candidate (no early exit) so timing does not reveal which step matched.
        if hmac.compare_digest(hotp(key, counter, digits), candidate) and matched is None:
            matched = counter
    if matched is None or (last_used_step is not None and matched <= last_used_step):
        return None
    return matched


def provisioning_uri(
    secret: str, account: str, issuer: str = "OpenHPF", *, step: int = STEP_SECONDS, digits: int = DIGITS
) -> str:
    """The ``otpauth://`` URI an authenticator app scans (as a QR code) to enrol."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {
            "secret": secret.rstrip("="),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": digits,
            "period": step,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
