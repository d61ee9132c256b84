"""Settings read once from the environment (``HPF_*``) at the composition root.

Nothing below the composition root reads the environment; it is handed a ``Settings``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DEFAULT_DATA_DIR = Path("hpf-data")


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{data_dir / 'hpf.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    env: str = "development"
    center_code: str = "990001"
    center_name: str = "示范市住房公积金管理中心"
    business_date: date | None = None  # fixed business date; None = the calendar date in China
    # HMAC key of the API's access tokens (at least 32 bytes); None: the development key, which
    # is refused outside development (``hpf.security.tokens.TokenConfig.from_settings``).
    token_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        business = env.get("HPF_BUSINESS_DATE")
        return cls(
            database_url=env.get("HPF_DATABASE_URL") or default_database_url(),
            env=env.get("HPF_ENV", "development"),
            center_code=env.get("HPF_CENTER_CODE", "990001"),
            center_name=env.get("HPF_CENTER_NAME", "示范市住房公积金管理中心"),
            business_date=date.fromisoformat(business) if business else None,
            token_secret=env.get("HPF_TOKEN_SECRET") or None,
        )
