"""``hpf plan --year YYYY --out FILE.xlsx`` (or ``.pdf``), ``hpf forecast``, ``hpf liquidity``,
``hpf warning scan`` and ``hpf whatif run`` on a simulated center."""

from __future__ import annotations

import json

from openpyxl import load_workbook
from typer.testing import CliRunner

from hpf.cli import app

runner = CliRunner()


def test_the_plan_from_the_command_line(city, tmp_path, monkeypatch):
    monkeypatch.setenv("HPF_DATABASE_URL", str(city.url))
    forecast = runner.invoke(app, ["forecast", "--json"])
    assert forecast.exit_code == 0, forecast.output
    runs = json.loads(forecast.output)
    assert runs and all(f["status"] == "too_little_history" for f in runs)
    xlsx = tmp_path / "plan.xlsx"
    done = runner.invoke(app, ["plan", "--year", "2026", "--out", str(xlsx)])
    assert done.exit_code == 0, done.output
    assert "2026年度归集使用计划" in done.output
    sheet = load_workbook(xlsx)["2026年归集使用计划"]
    assert sheet["A1"].value.startswith("2026年度住房公积金归集使用计划")
    labels = [r[0] for r in sheet.iter_rows(values_only=True)]
    assert "资金来源：归集额（汇缴与补缴）" in labels and "年末预计个贷率" in labels
    pdf = tmp_path / "plan.pdf"
    assert runner.invoke(app, ["plan", "--year", "2026", "--out", str(pdf)]).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    wrong = runner.invoke(app, ["plan", "--year", "2026", "--out", str(tmp_path / "plan.doc")])
    assert wrong.exit_code == 2 and ".xlsx" in wrong.output


def test_liquidity_warning_and_whatif_from_the_command_line(city, monkeypatch):
    monkeypatch.setenv("HPF_DATABASE_URL", str(city.url))
    liquidity = runner.invoke(app, ["liquidity"])
    assert liquidity.exit_code == 0, liquidity.output
    assert "个贷率" in liquidity.output and "新记录告警" in liquidity.output
    scanned = runner.invoke(app, ["warning", "scan"])
    assert scanned.exit_code == 0 and "EW-MISSED-INSTALLMENT" in scanned.output
    refused = runner.invoke(app, ["whatif", "run", "--parameter", "loan.nothing", "--value", "1"])
    assert refused.exit_code == 2 and "planning.whatif_parameter" in refused.output
    ran = runner.invoke(app, ["whatif", "run", "--parameter", "withdrawal.rent_monthly_cap_fen",
                              "--value", "50000", "--months", "1", "--json"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.output)
    assert result["params"]["value"] == 50_000 and set(result) == {"params", "base", "changed"}
