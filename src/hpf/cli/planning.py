"""``hpf plan``, ``hpf forecast``, ``hpf liquidity``, ``hpf whatif …`` and ``hpf warning …``: fund
operation and planning (``hpf.planning``, decision 0038)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

whatif_app = typer.Typer(help="Policy what-if (政策模拟) on copies of the database", no_args_is_help=True)
warning_app = typer.Typer(help="Early warning for borrowers (贷款风险预警)", no_args_is_help=True)


def _root() -> Any:
    from hpf import cli

    return cli


def _refuse(exc: Exception) -> typer.Exit:
    from hpf.kernel.errors import HpfError

    if isinstance(exc, HpfError):
        _root().console.print(f"[red]{exc.title}[/red] ({exc.code}): {exc.detail}")
    return typer.Exit(2)


def _setup(actor: str) -> tuple[Any, Any]:
    root = _root()
    settings = root._settings()
    return root._engine(settings), root._context(settings, actor)


def _forecasts(engine: Any, ctx: Any, *, fresh: bool) -> Any:
    from hpf.db.engine import read_transaction
    from hpf.planning import service

    today = ctx.clock.today()
    if not fresh:
        with read_transaction(engine) as conn:
            run = service.latest_forecasts(conn)
        if run is not None and run.business_date == today:
            return run
    return service.run_forecasts(engine, ctx, today)


def forecast(
    as_json: Annotated[bool, typer.Option("--json", help="the forecasts as JSON")] = False,
    actor: str = "cli",
) -> None:
    """Forecast every monthly series 12 months ahead (model chosen by back-test) and store the run."""
    from hpf.kernel.money import format_yuan
    from hpf.planning.forecast import MODEL_ZH
    from hpf.planning.series import series_zh

    engine, ctx = _setup(actor)
    run = _forecasts(engine, ctx, fresh=True)
    if as_json:
        typer.echo(json.dumps([f.to_json() for f in run.forecasts], ensure_ascii=False))
        return
    console = _root().console
    for f in run.forecasts:
        if f.status != "ok":
            console.print(f"{series_zh(f.name)}：{f.message_zh}")
            continue
        chosen = f.chosen
        error = f"WAPE {chosen.wape}" if chosen and chosen.wape else "WAPE —"
        console.print(f"{series_zh(f.name)}：{MODEL_ZH[f.model]}，回测 {error}，"
                      f"未来12个月合计 {format_yuan(sum(f.mean_fen))} 元")  # fmt: skip
    console.print(f"预测批次 #{run.id}（{run.business_date}）")


def plan(
    year: Annotated[int, typer.Option(help="the plan year, YYYY")],
    out: Annotated[Path, typer.Option(help="FILE.xlsx, or FILE.pdf for the PDF")],
    version: Annotated[
        int | None, typer.Option(help="the assumptions' version (default: the latest)")
    ] = None,
    actor: str = "cli",
) -> None:
    """Draft the annual 归集使用计划 of YEAR from the forecasts (today's run, computed if none) and
    the year's assumptions; write it as xlsx, or as PDF when OUT ends in .pdf."""
    from hpf.db.engine import read_transaction
    from hpf.kernel.errors import HpfError
    from hpf.kernel.money import format_yuan
    from hpf.planning import plan as plans

    if not 2000 <= year <= 2100:
        _root().console.print("[red]计划年度须为2000至2100之间的年份[/red]")
        raise typer.Exit(2)
    if out.suffix.lower() not in (".xlsx", ".pdf"):
        _root().console.print("[red]输出文件须以 .xlsx 或 .pdf 结尾[/red]")
        raise typer.Exit(2)
    engine, ctx = _setup(actor)
    run = _forecasts(engine, ctx, fresh=False)
    try:
        with read_transaction(engine) as conn:
            assumptions = plans.assumptions_of(conn, year, version)
            drafted = plans.draft(conn, year, ctx.clock.today(), run.forecasts, assumptions)
    except HpfError as exc:
        raise _refuse(exc) from exc
    out.write_bytes(plans.to_pdf(drafted) if out.suffix.lower() == ".pdf" else plans.to_xlsx(drafted))
    _root().console.print(
        f"{year}年度归集使用计划：资金来源 {format_yuan(drafted.sources_total_fen)} 元，资金运用 "
        f"{format_yuan(drafted.uses_total_fen)} 元，年末预计银行存款 {format_yuan(drafted.closing_bank_fen)} 元 → {out}"
    )


def liquidity(
    as_json: Annotated[bool, typer.Option("--json", help="the indicators as JSON")] = False,
    actor: str = "cli",
) -> None:
    """The day's fund operation indicators; alerts beyond the policy's thresholds are recorded."""
    import dataclasses

    from hpf.db.engine import write_transaction
    from hpf.kernel.money import format_yuan
    from hpf.planning import liquidity as liq
    from hpf.planning import service

    engine, ctx = _setup(actor)
    with write_transaction(engine) as conn:
        view = service.liquidity_view(conn, ctx.clock.today())
        new = liq.record_alerts(conn, ctx, view.indicators)
    ind = view.indicators
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(ind), ensure_ascii=False, default=str))
        return
    console = _root().console
    console.print(f"业务日期 {ind.on}：银行存款 {format_yuan(ind.bank_fen)} 元，个贷余额 "
                  f"{format_yuan(ind.loan_balance_fen)} 元，缴存余额 {format_yuan(ind.deposits_fen)} 元")  # fmt: skip
    console.print(f"未来30日预计支出 {format_yuan(ind.outflows.within_30_fen)} 元，90日 "
                  f"{format_yuan(ind.outflows.within_90_fen)} 元；备付率 {ind.coverage_30} / {ind.coverage_90}")  # fmt: skip
    console.print(f"个贷率 {ind.loan_ratio}，使用率 {ind.usage_ratio}，逾期率 {ind.overdue_permille}‰")
    for alert in liq.alerts_of(ind):
        console.print(f"[yellow]告警[/yellow] {alert.message_zh}")
    console.print(f"新记录告警 {new} 条")


@whatif_app.command("run")
def whatif_run(
    parameter: Annotated[
        str,
        typer.Option(
            help="loan.max_amount_fen, loan.ltv_first_home, "
            "loan.ltv_second_home or withdrawal.rent_monthly_cap_fen"
        ),
    ],
    value: Annotated[
        str, typer.Option(help="the new value as the policy reads it (fen, or a decimal ratio)")
    ],
    months: Annotated[int, typer.Option(help="months to simulate forward, 1-24")] = 12,
    seed: int = 7,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    actor: str = "cli",
) -> None:
    """Run the simulator MONTHS forward on two copies of the database (SQLite), one with PARAMETER
    set to VALUE from today, and show both side by side. The center's database is not written
    but for the run's record."""
    from hpf.db.engine import write_transaction
    from hpf.kernel.errors import HpfError
    from hpf.planning import whatif
    from hpf.sim.planning import whatif_runner

    engine, ctx = _setup(actor)
    raw: Any = int(value) if value.isdigit() else value
    try:
        with write_transaction(engine) as conn:
            run_id = whatif.queue_run(
                conn, ctx, {"parameter": parameter, "value": raw, "months": months, "seed": seed}
            )
        done = whatif.execute(engine, ctx, run_id, whatif_runner(ctx.center_code))
    except HpfError as exc:
        raise _refuse(exc) from exc
    if as_json:
        typer.echo(json.dumps(done.result, ensure_ascii=False))
        return
    console = _root().console
    if done.state != "done":
        console.print(f"[red]政策模拟 #{done.id} 失败：{done.error}[/red]")
        raise typer.Exit(1)
    console.print(f"政策模拟 #{done.id}：{whatif.PARAMETERS[parameter]} = {value}，向前模拟{months}个月")
    console.print(f"{'指标':<20}{'现行政策':>20}{'调整后':>20}")
    for label, base, changed in done.rows():
        console.print(f"{label:<20}{base!s:>20}{changed!s:>20}")


@whatif_app.command("work")
def whatif_work(actor: str = "cli") -> None:
    """Run the what-ifs queued from the page (when the server has no runner of its own)."""
    from hpf.planning import whatif
    from hpf.sim.planning import whatif_runner

    engine, ctx = _setup(actor)
    ids = whatif.work_queued(engine, ctx, whatif_runner(ctx.center_code))
    _root().console.print(f"已运行政策模拟 {len(ids)} 项：{ids}")


@warning_app.command("scan")
def warning_scan(actor: str = "cli") -> None:
    """Put the loans the early-warning rules find today on the queue."""
    from hpf.db.engine import write_transaction
    from hpf.planning import warning

    engine, ctx = _setup(actor)
    with write_transaction(engine) as conn:
        new = warning.scan(conn, ctx.clock.today())
    for rule, count in new.items():
        _root().console.print(f"{rule:<24}{count:>6}  {warning.RULE_ZH[rule]}")


@warning_app.command("measure")
def warning_measure(
    months: Annotated[int, typer.Option(help="months to simulate on a copy of the database")] = 12,
    seed: int = 7,
    actor: str = "cli",
) -> None:
    """Measure the rules on the simulator: live MONTHS months on a copy of the database (SQLite),
    scanning after each month-end; how many loans that went 90+ days past due were warned, and
    how early."""
    import tempfile

    from hpf.db.engine import make_engine
    from hpf.kernel.errors import HpfError
    from hpf.sim.planning import copy_sqlite, measure_early_warning

    engine, ctx = _setup(actor)
    with tempfile.TemporaryDirectory(prefix="hpf-warning-") as folder:
        try:
            path = copy_sqlite(engine, Path(folder) / "copy.sqlite3")
        except HpfError as exc:
            raise _refuse(exc) from exc
        copy = make_engine(f"sqlite:///{path}")
        try:
            report = measure_early_warning(copy, ctx.center_code, months=months, seed=seed).report()
        finally:
            copy.dispose()
    typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
