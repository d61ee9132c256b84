"""``hpf loan``: the loan calculator on the command line (a schedule as CSV)."""

from __future__ import annotations

import csv
import io
from typing import Annotated

import typer

from hpf.kernel.clock import SystemClock
from hpf.kernel.errors import HpfError
from hpf.kernel.exports import safe_row
from hpf.kernel.money import format_yuan
from hpf.loans.calculator import calculate, parse_input
from hpf.loans.calculator.schedule import Method, Schedule
from hpf.settings import Settings

app = typer.Typer(help="Housing loans (个人住房公积金贷款)", no_args_is_help=True)

CSV_HEADER = ("period", "due_date", "installment", "principal", "interest", "remaining_principal")


def schedule_csv(schedule: Schedule) -> str:
    """The schedule as CSV, amounts in yuan with two decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in schedule.installments:
        amounts = (row.installment_fen, row.principal_fen, row.interest_fen, row.remaining_fen)
        writer.writerow(
            safe_row(
                (row.period, row.due_date.isoformat(), *(format_yuan(f, grouping=False) for f in amounts))
            )
        )
    return out.getvalue()


@app.command("schedule")
def schedule(
    principal: Annotated[str, typer.Option(help="loan amount in yuan, e.g. 500000")],
    years: Annotated[str, typer.Option(help="term in whole years, 1-30")],
    rate: Annotated[str, typer.Option(help="annual rate in percent, e.g. 2.60")],
    method: Annotated[Method, typer.Option(help="repayment method")] = Method.EQUAL_INSTALLMENT,
    start: Annotated[
        str | None,
        typer.Option(help="first due date YYYY-MM-DD (default: the 1st of next month)"),
    ] = None,
) -> None:
    """Print the repayment schedule as CSV: period, due date, installment, principal, interest, remaining."""
    settings = Settings.from_env()
    today = settings.business_date or SystemClock().today()
    try:
        given = parse_input(principal, years, rate, method.value, start, today)
    except HpfError as exc:
        typer.echo(f"{exc.title} ({exc.code}): {exc.detail}", err=True)
        raise typer.Exit(2) from None
    typer.echo(schedule_csv(calculate(given)), nl=False)
