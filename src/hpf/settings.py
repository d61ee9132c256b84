"""Settings read once from the environment (``HPF_*``) at the composition root.

Nothing below the composition root reads the environment; it is handed a ``Settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from hpf.protection.crypto import KeyRing

DEFAULT_DATA_DIR = Path("hpf-data")


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{data_dir / 'hpf.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    # "development" turns on the development token key and key ring, the demo sign-ins and the
    # printed SMS codes; anything else (the default: HPF_ENV unset) is production.
    env: str = "production"
    center_code: str = "990001"
    center_name: str = "示范市住房公积金管理中心"
    business_date: date | None = None  # fixed business date; None = the calendar date in China
    # HMAC key of the API's access tokens (at least 32 bytes); None: the development key, which
    # is refused outside development (``hpf.identity.tokens.TokenConfig.from_settings``).
    token_secret: str | None = field(default=None, repr=False)
    # Encryption keys of personal data (``hpf.protection.crypto.KeyRing.from_settings``): none
    # means the public development ring, which is refused outside development.
    keys: str | None = field(default=None, repr=False)  # HPF_KEYS "k1:<base64>,k2:<base64>"
    key_file: str | None = None  # HPF_KEY_FILE, a JSON key file (chmod 600)
    active_key: str | None = None  # HPF_ACTIVE_KEY
    blind_index_key: str | None = field(default=None, repr=False)  # HPF_BLIND_INDEX_KEY "b1:<base64>"
    # The bank settlement platform (``hpf.settlement``): its endpoint, the center's account there,
    # and the shared HMAC key both sides sign messages with (SBDC100 notices are refused without it).
    bank_url: str | None = None  # HPF_BANK_URL, e.g. http://127.0.0.1:8900
    bank_account: str = "955880000000000001"  # HPF_BANK_ACCOUNT
    bank_secret: str | None = field(default=None, repr=False)  # HPF_BANK_SECRET (32+ characters)
    bank_timeout: float = 10.0  # HPF_BANK_TIMEOUT seconds; no answer in time = outcome unknown
    # The server's capacity (``hpf.web.admission``): requests handled at once (each holds at most
    # one pooled connection, so the pool is sized from it), how long a request beyond that waits
    # for a turn before a 503 with Retry-After, and how long a request waits for a connection or
    # the database's write lock before the same.
    max_requests: int = 32  # HPF_MAX_REQUESTS
    queue_seconds: float = 0.5  # HPF_QUEUE_SECONDS
    db_wait_seconds: float = 5.0  # HPF_DB_WAIT_SECONDS
    # Request bodies (``hpf.web.limits``): every route, and the upload and bulk-list routes.
    max_body_bytes: int = 1024 * 1024  # HPF_MAX_BODY_BYTES
    max_upload_bytes: int = 20 * 1024 * 1024  # HPF_MAX_UPLOAD_BYTES
    # The hub (``hpf.transfers``, decision 0027): its base URL, its code, its public SM2 keys
    # ("<signing hex>:<encryption hex>", printed by ``hpf hub keygen``), and this center's own
    # key file (``hpf transfers keygen``). Without HPF_HUB_URL the center works alone.
    hub_url: str | None = None  # HPF_HUB_URL, e.g. http://127.0.0.1:8100
    hub_code: str = "000000"  # HPF_HUB_CODE
    hub_public_keys: str | None = None  # HPF_HUB_PUBLIC_KEYS
    message_key_file: str | None = None  # HPF_MESSAGE_KEY_FILE
    message_window_seconds: int = 300  # HPF_MESSAGE_WINDOW_SECONDS: ± the receiver's clock
    # HPF_TRANSFER_BATCH: at most this many transfer messages in one BDC902/BDC906 (0: single messages)
    transfer_batch: int = 0
    deliver_every_seconds: float = 1.0  # HPF_DELIVER_EVERY_SECONDS: the delivery worker's idle pause
    deliver_backoff_seconds: float = (
        1.0  # HPF_DELIVER_BACKOFF_SECONDS: the first retry's wait (then ×2, ≤ 5 min)
    )
    # The national reporting key of supervision reporting (decision 0039): 64 hex digits that
    # every center holds and the hub never does (the persons' pseudonyms in the reports).
    report_pseudonym_key: str | None = None  # HPF_REPORT_PSEUDONYM_KEY

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        business = env.get("HPF_BUSINESS_DATE")
        return cls(
            database_url=env.get("HPF_DATABASE_URL") or default_database_url(),
            env=env.get("HPF_ENV") or "production",
            center_code=env.get("HPF_CENTER_CODE", "990001"),
            center_name=env.get("HPF_CENTER_NAME", "示范市住房公积金管理中心"),
            business_date=date.fromisoformat(business) if business else None,
            token_secret=env.get("HPF_TOKEN_SECRET") or None,
            keys=env.get("HPF_KEYS") or None,
            key_file=env.get("HPF_KEY_FILE") or None,
            active_key=env.get("HPF_ACTIVE_KEY") or None,
            blind_index_key=env.get("HPF_BLIND_INDEX_KEY") or None,
            bank_url=env.get("HPF_BANK_URL") or None,
            bank_account=env.get("HPF_BANK_ACCOUNT", "955880000000000001"),
            bank_secret=env.get("HPF_BANK_SECRET") or None,
            bank_timeout=float(env.get("HPF_BANK_TIMEOUT", "10")),
            max_requests=int(env.get("HPF_MAX_REQUESTS", "32")),
            queue_seconds=float(env.get("HPF_QUEUE_SECONDS", "0.5")),
            db_wait_seconds=float(env.get("HPF_DB_WAIT_SECONDS", "5")),
            max_body_bytes=int(env.get("HPF_MAX_BODY_BYTES") or 1024 * 1024),
            max_upload_bytes=int(env.get("HPF_MAX_UPLOAD_BYTES") or 20 * 1024 * 1024),
            hub_url=env.get("HPF_HUB_URL") or None,
            hub_code=env.get("HPF_HUB_CODE") or "000000",
            hub_public_keys=env.get("HPF_HUB_PUBLIC_KEYS") or None,
            message_key_file=env.get("HPF_MESSAGE_KEY_FILE") or None,
            message_window_seconds=int(env.get("HPF_MESSAGE_WINDOW_SECONDS") or 300),
            transfer_batch=int(env.get("HPF_TRANSFER_BATCH") or 0),
            deliver_every_seconds=float(env.get("HPF_DELIVER_EVERY_SECONDS") or 1.0),
            deliver_backoff_seconds=float(env.get("HPF_DELIVER_BACKOFF_SECONDS") or 1.0),
            report_pseudonym_key=env.get("HPF_REPORT_PSEUDONYM_KEY") or None,
        )

    def key_ring(self) -> KeyRing:
        """The ring for personal data; refuses a missing or default key outside development."""
        return KeyRing.from_settings(
            self.env,
            self.keys,
            self.key_file,
            active_key=self.active_key,
            blind_index_key=self.blind_index_key,
        )
