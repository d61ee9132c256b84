"""``hpf loan schedule``: the schedule as CSV, in yuan with two decimals."""

from typer.testing import CliRunner

from hpf.cli import app

runner = CliRunner()
ARGS = [
    "loan",
    "schedule",
    "--principal",
    "500000",
    "--years",
    "30",
    "--rate",
    "2.60",
    "--start",
    "2025-07-01",
]


def test_equal_installment_csv():
    result = runner.invoke(app, [*ARGS, "--method", "equal-installment"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "period,due_date,installment,principal,interest,remaining_principal"
    assert lines[1] == "1,2025-07-01,2001.70,918.37,1083.33,499081.63"
    assert lines[-1] == "360,2055-06-01,2000.84,1996.51,4.33,0.00"
    assert len(lines) == 361


def test_equal_principal_csv():
    result = runner.invoke(app, [*ARGS, "--method", "equal-principal"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "1,2025-07-01,2472.22,1388.89,1083.33,498611.11"
    assert lines[-1] == "360,2055-06-01,1391.90,1388.89,3.01,0.00"


def test_bad_input_exits_2_with_the_reason(monkeypatch):
    monkeypatch.setenv("HPF_BUSINESS_DATE", "2025-03-15")
    result = runner.invoke(
        app, ["loan", "schedule", "--principal", "500000", "--years", "31", "--rate", "2.6"]
    )
    assert result.exit_code == 2
    assert "loan.invalid_term" in result.output
    default = runner.invoke(app, ["loan", "schedule", "--principal", "1200", "--years", "1", "--rate", "0"])
    assert default.exit_code == 0
    assert default.output.splitlines()[1] == "1,2025-04-01,100.00,100.00,0.00,1100.00"
