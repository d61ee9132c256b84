"""``hpf simulate --plant-defects N --answer-key FILE`` and ``hpf inspection scan [--json]``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hpf.cli import app

runner = CliRunner()
pytestmark = pytest.mark.slow


def test_simulate_plants_defects_writes_the_key_and_the_scan_finds_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HPF_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    built = runner.invoke(
        app, ["demo", "--no-serve", "--members", "200", "--employers", "8", "--history-months", "1"]
    )
    assert built.exit_code == 0, built.output
    refused = runner.invoke(app, ["simulate", "--months", "1", "--plant-defects", "1"])
    assert refused.exit_code == 2 and "--answer-key" in refused.output
    key = tmp_path / "key.jsonl"
    lived = runner.invoke(
        app, ["simulate", "--months", "2", "--plant-defects", "1", "--answer-key", str(key)]
    )
    assert lived.exit_code == 0, lived.output
    assert "电子稽查：各月末疑点数 [0, 0]" in lived.output and "已植入缺陷" in lived.output
    planted = [json.loads(line) for line in key.read_text(encoding="utf-8").splitlines()]
    assert planted and all(set(p) == {"kind", "object"} and isinstance(p["object"], str) for p in planted)
    assert {"A-RATE-OVER-CAP", "A-MANUAL-ENTRY-NO-APPROVAL", "A-SAME-PAYEE-CARD"} <= {
        p["kind"] for p in planted
    }
    scanned = runner.invoke(app, ["inspection", "scan", "--json"])
    assert scanned.exit_code == 0, scanned.output
    lines = [json.loads(line) for line in scanned.output.splitlines() if line.startswith("{")]
    found = {(x["rule"], x["object"]) for x in lines}
    audit_key = {(p["kind"], p["object"]) for p in planted if p["kind"].startswith("A-")}
    assert audit_key and audit_key <= found
    assert all({"rule", "object", "severity", "case"} <= set(x) for x in lines)
    # the key holds the quality family's defects too (one registry): the quality scan finds those
    quality = runner.invoke(app, ["data", "scan", "--json", "--workers", "1"])
    assert quality.exit_code == 0, quality.output
    quality_found = {
        (x["rule"], x["object"]) for x in map(json.loads, quality.output.splitlines()) if "rule" in x
    }
    quality_key = {(p["kind"], p["object"]) for p in planted if p["kind"].startswith("Q-")}
    assert quality_key and quality_key <= quality_found
    assert audit_key | quality_key == {(p["kind"], p["object"]) for p in planted}
    shown = runner.invoke(app, ["inspection", "scan"])
    assert shown.exit_code == 0 and "缴存比例超过上限" in shown.output and "新立案件 0 件" in shown.output
