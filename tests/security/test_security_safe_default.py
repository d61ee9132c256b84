"""Without HPF_ENV the server is in production mode: no development keys, no demo sign-ins."""

from __future__ import annotations

from typing import Any

import pytest

from hpf.app import create_app
from hpf.bootstrap import default_sms
from hpf.identity.tokens import TokenConfig
from hpf.kernel.errors import HpfError
from hpf.settings import Settings


def test_no_hpf_env_is_production(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/p.sqlite3"
    assert Settings.from_env({"HPF_DATABASE_URL": url}).env == "production"
    assert Settings.from_env({"HPF_DATABASE_URL": url, "HPF_ENV": ""}).env == "production"
    assert Settings(database_url=url).env == "production"
    assert Settings.from_env({"HPF_ENV": "development"}).env == "development"


def test_production_by_default_refuses_the_development_token_key_and_key_ring(tmp_path: Any) -> None:
    settings = Settings.from_env({"HPF_DATABASE_URL": f"sqlite:///{tmp_path}/p.sqlite3"})
    with pytest.raises(HpfError) as ring:
        settings.key_ring()
    assert ring.value.code == "security.default_key"
    with pytest.raises(HpfError) as token:
        TokenConfig.from_settings(settings.token_secret, settings.env)
    assert token.value.code == "security.default_key"
    with pytest.raises(HpfError):
        create_app(settings)
    assert type(default_sms(settings)).__name__ == "UnconfiguredSms"  # no codes printed or recorded
