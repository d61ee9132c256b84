"""``hpf report --month YYYY-MM`` (a center's supervision report to the hub) and
``hpf hub annual-report --year YYYY --out FILE`` / ``hpf hub national --month`` (the national
warehouse's figures); decision 0039."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def _root() -> Any:
    from hpf import cli

    return cli


def report(
    month: Annotated[str, typer.Option("--month", help="the month to report, YYYY-MM (a closed month)")],
    reason: Annotated[str, typer.Option(help="a restatement's reason (更正原因)")] = "",
    actor: str = "cli",
) -> None:
    """Compute this center's month and send it to the hub (SUP101 through the outbox); a month
    already reported is restated (the next version) and needs --reason."""
    from hpf.db.engine import write_transaction
    from hpf.kernel.errors import HpfError
    from hpf.supervision import service

    root = _root()
    settings = root._settings()
    engine = root._engine(settings)
    ctx = root._context(settings, actor)
    try:
        key = service.pseudonym_key(settings)
        with write_transaction(engine) as conn:
            sent = service.report_month(conn, ctx, month, key=key, reason=reason or None)
    except HpfError as exc:
        root.console.print(f"[red]{exc.title}[/red] ({exc.code}): {exc.detail}")
        raise typer.Exit(2) from exc
    root.console.print(
        f"{sent.month} 第{sent.version}版：指标 {sent.indicators} 项，明细 {sent.members} 行，"
        f"报文 {sent.chunks} 件已入发件箱（report {sent.report_id}）"
    )


def _hub_warehouse(months: list[str]) -> Any:
    from hpf.cli.hub import _hub_engine
    from hpf.db.engine import read_transaction
    from hpf.hub import warehouse
    from hpf.hub.app import open_warehouse
    from hpf.hub.settings import HubSettings

    settings = HubSettings.from_env()
    engine = _hub_engine(settings)
    with read_transaction(engine) as conn:
        files = warehouse.current_files(conn, settings.warehouse_dir, months=months)
    engine.dispose()
    return open_warehouse(settings, files)


def annual_report(
    year: Annotated[int, typer.Option("--year", min=1990, max=2100, help="the report's year")],
    out: Annotated[Path, typer.Option("--out", help="the file to write: .xlsx or .pdf")],
) -> None:
    """The national annual report of a year from the hub's warehouse (hub database from
    HPF_DATABASE_URL): xlsx — first sheet one row per center and a last row 全国合计 — or PDF."""
    from hpf.hub import annual_files, national

    wh = _hub_warehouse([f"{year:04d}-{m:02d}" for m in range(1, 13)])
    try:
        report = national.annual_report(wh, year)
    finally:
        wh.close()
    if out.suffix.lower() == ".pdf":
        out.write_bytes(annual_files.pdf_bytes(report))
    else:
        out.write_bytes(annual_files.xlsx_bytes(report))
    typer.echo(f"{annual_files.title(report)}: {len(report.centers)} centers → {out}")


def national_month(month: Annotated[str, typer.Option("--month", help="YYYY-MM")]) -> None:
    """The nation's figures of a month: the member-level counts and every additive indicator."""
    from hpf.hub import national

    wh = _hub_warehouse([month])
    try:
        figures = national.member_figures(wh, month)
        totals = national.month_totals(wh, month)
    finally:
        wh.close()
    for name, count in figures.items():
        typer.echo(f"{national.MEMBER_FIGURES[name]}\t{count}")
    for (code, dim), total in sorted(totals.items()):
        typer.echo(f"{code}\t{dim}\t{total}")
