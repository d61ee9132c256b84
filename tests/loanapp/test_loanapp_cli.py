"""``hpf settlement pay``: the payment run of every reserved payout, loans included."""

from typer.testing import CliRunner

from hpf.cli import app

runner = CliRunner()


def test_the_payment_run_with_nothing_reserved(tmp_path, monkeypatch):
    monkeypatch.setenv("HPF_DATABASE_URL", f"sqlite:///{tmp_path}/pay.sqlite3")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    ran = runner.invoke(app, ["settlement", "pay", "--kind", "loan"])
    assert ran.exit_code == 0, ran.output
    assert "nothing to send" in ran.output
    assert runner.invoke(app, ["settlement", "pay", "--limit", "0"]).exit_code == 2  # at least one order
