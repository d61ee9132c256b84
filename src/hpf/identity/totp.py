"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): HMAC-SHA1, 6 digits, 30 s.

The codes themselves are pyotp's; this module fixes the parameters, cleans what a person types
and keeps the replay rule. Secrets are 160 random bits, exchanged as unpadded RFC 4648 base32
(what authenticator apps scan from :func:`provisioning_uri`); a secret under 112 bits is refused
(pyotp, after NIST SP 800-63B). :func:`verify_totp` accepts the current step and one on either
side (clock drift) and refuses any step at or before the last one used, so a code cannot be
replayed — not even an older code still inside the window.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp
from pyotp.exceptions import OTPVerificationError

STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20


def generate_secret() -> str:
    """A fresh random secret, base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _clean(secret: str) -> str:
    cleaned = secret.replace(" ", "").replace("-", "").rstrip("=").upper()
    if not cleaned or not cleaned.isascii():
        raise ValueError("not a base32 TOTP secret")
    return cleaned


def _otp(secret: str, step: int = STEP_SECONDS, digits: int = DIGITS) -> pyotp.TOTP:
    """pyotp's generator for a secret (case, spaces and padding tolerated); ``ValueError`` if bad."""
    try:
        return pyotp.TOTP(_clean(secret), digits=digits, interval=step)
    except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
        raise ValueError("not a base32 TOTP secret of at least 112 bits") from exc


def secret_bytes(secret: str) -> bytes:
    """The key behind a base32 secret (case, spaces and padding tolerated); ``ValueError`` if bad."""
    return _otp(secret).byte_secret()


def _seconds(at: datetime | int) -> int:
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("TOTP needs an aware datetime")
        return int(at.timestamp())
    return int(at)


def time_step(at: datetime | int, step: int = STEP_SECONDS) -> int:
    """The RFC 6238 counter ``T`` for a moment (aware datetime or Unix seconds)."""
    return _seconds(at) // step


def totp(secret: str, for_time: datetime | int, step: int = STEP_SECONDS, digits: int = DIGITS) -> str:
    """The code for ``for_time``."""
    return _otp(secret, step, digits).at(_seconds(for_time))


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
    step and every earlier one (replay protection). ``ValueError`` if a well-formed code
    comes with a secret that is not one.
    """
    candidate = normalize_code(code, digits)
    if candidate is None:
        return None
    otp = _otp(secret, step, digits)
    try:
        matched = otp.verify_and_get_timecode(candidate, for_time=_seconds(at), valid_window=window)
    except OTPVerificationError:
        return None
    if last_used_step is not None and matched <= last_used_step:
        return None
    return matched


def provisioning_uri(
    secret: str, account: str, issuer: str = "OpenHPF", *, step: int = STEP_SECONDS, digits: int = DIGITS
) -> str:
    """The ``otpauth://`` URI an authenticator app scans (as a QR code) to enrol.

    Written out here rather than by pyotp, which leaves out ``algorithm``, ``digits`` and
    ``period`` when they are the defaults: every parameter is stated, so no app has to guess.
    """
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
