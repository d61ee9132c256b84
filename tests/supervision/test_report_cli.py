"""``hpf report --month``: its refusals before anything is sent (decision 0039)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hpf.cli import app
from hpf.kernel.errors import HpfError
from hpf.settings import Settings
from hpf.supervision import service

runner = CliRunner()


def test_hpf_report_refuses_a_bad_month_and_a_center_without_a_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HPF_DATABASE_URL", f"sqlite:///{tmp_path}/report.sqlite3")
    monkeypatch.setenv("HPF_ENV", "development")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    bad = runner.invoke(app, ["report", "--month", "2025-13"])
    assert bad.exit_code == 2 and "supervision.month_invalid" in bad.output
    alone = runner.invoke(app, ["report", "--month", "2025-01"])
    assert alone.exit_code == 2 and "transfers.hub_unconfigured" in alone.output


def test_the_national_reporting_key():
    development = Settings(database_url="sqlite://", env="development")
    assert service.pseudonym_key(development) == service.DEVELOPMENT_KEY
    given = Settings(database_url="sqlite://", report_pseudonym_key="ab" * 32)
    assert service.pseudonym_key(given) == bytes.fromhex("ab" * 32)
    for wrong, code in ((Settings(database_url="sqlite://"), "supervision.key_missing"),
                        (Settings(database_url="sqlite://", report_pseudonym_key="xyz"), "supervision.key_invalid")):  # fmt: skip
        with pytest.raises(HpfError) as refused:
            service.pseudonym_key(wrong)
        assert refused.value.code == code
    # One person, one pseudonym, whatever the case of the check character; another key, another one.
    key = bytes(range(32))
    assert service.pseudonym(key, "11010119900307447x") == service.pseudonym(key, "11010119900307447X")
    assert service.pseudonym(key, "11010119900307447X") != service.pseudonym(bytes(32), "11010119900307447X")
    assert len(service.pseudonym(key, "11010119900307447X")) == 64
