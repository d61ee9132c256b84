"""The ``hpf`` command: database, checks, demo center, server."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from hpf.cli import archives as services_cli
from hpf.cli import planning as planning_cli
from hpf.cli import supervision as supervision_cli
from hpf.cli.hub import hub_app, transfers_app
from hpf.cli.network import network_app
from hpf.cli.settlement import fakebank_app, settlement_app
from hpf.loans.calculator import cli as loans_cli
from hpf.settings import Settings

app = typer.Typer(help="OpenHPF: 住房公积金 center and hub", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger operations", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
clock_app = typer.Typer(help="The business date", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
interest_app = typer.Typer(help="Interest (结息)", no_args_is_help=True)
user_app = typer.Typer(help="Sign-in accounts (staff)", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys of personal data", no_args_is_help=True)
withdrawals_app = typer.Typer(help="Withdrawals (提取)", no_args_is_help=True)
app.add_typer(withdrawals_app, name="withdrawals")
data_app = typer.Typer(help="Data standard and catalog (数据标准、数据目录)", no_args_is_help=True)
app.add_typer(data_app, name="data")
inspection_app = typer.Typer(
    help="Electronic audit (电子稽查): the rule pack and its cases", no_args_is_help=True
)
app.add_typer(inspection_app, name="inspection")
warehouse_app = typer.Typer(help="The center's data warehouse (数据仓库, DuckDB)", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(keys_app, name="keys")
app.add_typer(interest_app, name="interest")
app.add_typer(clock_app, name="clock")
app.add_typer(user_app, name="user")
app.add_typer(loans_cli.app, name="loan")
app.add_typer(settlement_app, name="settlement")
app.add_typer(fakebank_app, name="fakebank")
app.add_typer(services_cli.app, name="archive")
app.add_typer(hub_app, name="hub")
app.add_typer(transfers_app, name="transfers")
app.add_typer(network_app, name="network")
app.command("report")(supervision_cli.report)  # 监管报送 (decision 0039)
hub_app.command("annual-report")(supervision_cli.annual_report)
hub_app.command("national")(supervision_cli.national_month)
app.command("plan")(planning_cli.plan)
app.command("forecast")(planning_cli.forecast)
app.command("liquidity")(planning_cli.liquidity)
app.add_typer(planning_cli.whatif_app, name="whatif")
app.add_typer(planning_cli.warning_app, name="warning")
console = Console()


_started: list[Any] = []  # the dependencies the command started with (hpf.bootstrap)


def _settings() -> Settings:
    """The settings of a command started through ``hpf.bootstrap``: key ring, bank, item handlers
    and event listeners installed; refused outside development without real keys."""
    from hpf import bootstrap
    from hpf.kernel.errors import HpfError

    try:
        deps = bootstrap.start(Settings.from_env())
    except HpfError as exc:
        console.print(f"[red]{exc.title}[/red] ({exc.code}): {exc.detail}")
        raise typer.Exit(2) from exc
    _started[:] = [deps]
    return deps.settings


def _bank() -> Any:
    """The bank adapter the command started with (``HPF_BANK_URL``, ``HPF_BANK_SECRET``)."""
    if not _started:
        _settings()
    return _started[0].bank


def _entry_groups() -> Any:
    """Reconciliation's credits posted under another entry, as the command started with them."""
    if not _started:
        _settings()
    return _started[0].entry_groups


@cache
def _engine_for(url: str) -> Any:
    from hpf.db.engine import make_engine
    from hpf.protection import keys, protect

    engine = make_engine(url)
    keys.verify_engine(engine, protect.ring())  # refuses keys other than the database's
    return engine


def _engine(settings: Settings) -> Any:
    return _engine_for(settings.database_url)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION and sync the shipped reference data."""
    from hpf.schema import upgrade

    settings = _settings()
    upgrade(_engine(settings), revision)
    console.print(f"database at {revision}: {settings.database_url}")


@app.command("check")
def check() -> None:
    """Verify the ledger: entries balance, balances equal postings, 201 equals Σ members."""
    from hpf.accounts.service import account_numbers_of
    from hpf.check import check_center
    from hpf.db.engine import read_transaction

    with read_transaction(_engine(_settings())) as conn:
        findings = check_center(conn)
        if not findings:
            console.print("[green]ledger OK[/green]: every entry balances, every balance equals its postings")
            return
        first = findings[0]
        account = first.subject or ""
        if account.startswith("member "):
            member_id = int(account.split()[1])
            account += f" (account {account_numbers_of(conn, [member_id]).get(member_id, '?')})"
    console.print(f"[red]ledger BROKEN[/red] at {account}: {first.message_en} [{first.code}]")
    console.print(f"{len(findings)} finding(s) in all")
    raise typer.Exit(1)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def _reporter(bar: Progress) -> Any:
    tasks: dict[str, TaskID] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return progress


def _context(settings: Settings, actor: str) -> Any:
    from hpf.app import make_clock
    from hpf.kernel.context import Context

    return Context(
        actor=actor,
        clock=make_clock(settings, _engine(settings)),
        center_code=settings.center_code,
        source="cli",
    )


@app.command("simulate")
def simulate(
    months: Annotated[int, typer.Option(min=1, max=600)] = 12,
    seed: int = 7,
    plant_defects: Annotated[
        int, typer.Option(min=0, max=10_000, help="after the months, plant N known defects of every kind")
    ] = 0,
    answer_key: Annotated[
        Path | None,
        typer.Option(help="where to write the planted defects' key (JSON lines), outside the database"),
    ] = None,
    warehouse: Annotated[
        bool, typer.Option(help="build the data warehouse after each month-end, as the nightly job does")
    ] = True,
) -> None:
    """Live N months of the center: hires, leavers, lists, receipts, month-ends, interest; the
    audit pack at each month-end; then, if asked, planted defects and their answer key."""
    from dataclasses import asdict

    from hpf.db.calendar import stored_business_date
    from hpf.db.engine import read_transaction
    from hpf.sim.defects import plant, write_key
    from hpf.sim.simulator import simulate as run
    from hpf.warehouse.build import default_path

    if plant_defects and answer_key is None:
        console.print("[red]植入缺陷须用 --answer-key 指定答案文件[/red]")
        raise typer.Exit(2)
    settings = _settings()
    engine = _engine(settings)
    report_key = None
    if settings.hub_url:  # a center linked to a hub reports each month (decision 0039)
        from hpf.supervision.service import pseudonym_key

        report_key = pseudonym_key(settings)
    with _progress_bar() as bar:
        summary = run(
            engine,
            settings.center_code,
            months=months,
            seed=seed,
            progress=_reporter(bar),
            warehouse=default_path(settings.database_url) if warehouse else None,
            report_key=report_key,
        )
    console.print(asdict(summary))
    console.print(f"电子稽查：各月末疑点数 {summary.inspection_findings}")
    console.print(f"贷款风险预警：各月末新预警贷款数 {summary.early_warnings}")
    if plant_defects and answer_key is not None:
        with read_transaction(engine) as conn:
            today = stored_business_date(conn)
        assert today is not None  # the simulation set it
        planted = plant(engine, count=plant_defects, today=today, seed=seed)
        lines = write_key(answer_key, planted)
        console.print(f"已植入缺陷 {lines} 处，答案写入 {answer_key}")


@inspection_app.command("scan")
def inspection_scan(
    as_json: Annotated[bool, typer.Option("--json", help="one finding a line, JSON")] = False,
    actor: str = "cli",
) -> None:
    """Run the audit rule pack over the whole center as of the business date; store the run,
    its findings and the cases new findings open."""
    import json

    from hpf.inspection.rules import rules
    from hpf.inspection.service import scan

    settings = _settings()
    ctx = _context(settings, actor)
    summary = scan(_engine(settings), at=ctx.clock.today(), ctx=ctx)
    if as_json:
        for finding in summary.findings:
            typer.echo(json.dumps(finding.to_json(), ensure_ascii=False, default=str))
        return
    for rule in rules():
        console.print(f"{rule.id:<34} {summary.by_rule.get(rule.id, 0):>8}  {rule.title_zh}")
    console.print(
        f"稽查批次 #{summary.run_id}（{summary.business_date}）：疑点 {len(summary.findings)} 条，"
        f"新立案件 {summary.new_cases} 件，用时 {summary.seconds} 秒"
    )


@warehouse_app.command("build")
def warehouse_build(
    month: Annotated[
        str | None,
        typer.Option(help="rebuild this month only (YYYY-MM); default: every complete month not yet built"),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option(help="the warehouse file (default HPF_WAREHOUSE_PATH, or beside the database)"),
    ] = None,
) -> None:
    """Build the warehouse by month: the first run takes all history, later runs the new months."""
    from hpf.warehouse.build import build, default_path

    settings = _settings()
    ctx = _context(settings, "cli")
    target = path or default_path(settings.database_url)
    summary = build(_engine(settings), target, through=ctx.clock.today(), month=month)
    months = (
        f"{summary.months[0]}–{summary.months[-1]}（{len(summary.months)} 个月）"
        if summary.months
        else "无新月份"
    )
    console.print(f"数据仓库 {target}：入仓 {months}，截至 {summary.as_of or '—'}，用时 {summary.seconds} 秒")
    for table, count in summary.rows.items():
        console.print(f"  {table:<24} {count:>12,}")


@data_app.command("export")
def data_export(
    month: Annotated[str, typer.Option(help="the month, YYYY-MM: data as of its last day")],
    standard: Annotated[
        bool, typer.Option("--standard", help="in the tables and field names of JGJ/T 320")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="the folder to write (default: export-<month>)")] = None,
) -> None:
    """Write the center's data as of a month-end in the standard's tables: Parquet, CSV, manifest.json."""
    from hpf.data.export import export_standard, manifest_text, record_export
    from hpf.kernel.errors import HpfError

    if not standard:
        console.print("[red]请指定 --standard：目前只支持按基础数据标准（JGJ/T 320）导出[/red]")
        raise typer.Exit(2)
    settings = _settings()
    engine = _engine(settings)
    target = out or Path(f"export-{month}")
    try:
        manifest = export_standard(engine, month, target, center_code=settings.center_code)
    except HpfError as exc:
        console.print(f"[red]{exc.title}[/red]")
        raise typer.Exit(2) from None
    record_export(engine, _context(settings, "cli"), manifest, target)
    console.print(manifest_text(manifest), end="")
    console.print(f"已导出 {month} 月末数据至 {target}（manifest.json 记载各文件行数与 SHA-256）")


@data_app.command("scan")
def data_scan(
    json_lines: Annotated[
        bool, typer.Option("--json", help='one finding a line: {"rule": …, "object": …, …}')
    ] = False,
    rule: Annotated[str | None, typer.Option(help="re-scan only this rule (e.g. Q-CON-ID-BIRTH)")] = None,
    workers: Annotated[
        int, typer.Option(min=0, max=32, help="processes revealing the ID numbers (0: one per CPU)")
    ] = 0,
) -> None:
    """Run the data quality rules over the whole center (数据质量检查): store the run, its findings and scores."""
    import json

    from hpf.db.engine import read_transaction
    from hpf.kernel.errors import HpfError
    from hpf.quality import service as quality
    from hpf.quality.rules import Dimension, rule_of

    settings = _settings()
    engine = _engine(settings)
    ctx = _context(settings, "cli")
    try:
        summary = quality.scan(
            engine,
            at=ctx.clock.today(),
            actor="cli",
            only=rule,
            ctx=ctx,
            workers=workers or os.cpu_count() or 1,
        )
    except HpfError as exc:
        console.print(f"[red]{exc.title}[/red]")
        raise typer.Exit(2) from None
    if json_lines:
        known = quality.rules()
        with read_transaction(engine) as conn:
            for rule_id, obj, detail in quality.current_findings(conn, summary.run_id):
                found = rule_of(rule_id, known)
                line = {"rule": rule_id, "object": obj, "detail": detail}
                if found is not None:
                    line |= {"dimension": found.dimension.value, "table": found.table}
                    line |= {"severity": found.severity.value, "object_kind": found.object}
                typer.echo(json.dumps(line, ensure_ascii=False))
        return
    console.print(f"数据质量检查 第{summary.run_id}次（{summary.at.isoformat()}），用时 {summary.seconds} 秒")
    for dimension, (checked, failing) in sorted(summary.by("dimension").items()):
        score = quality.score_of(checked, failing)
        console.print(
            f"  {Dimension(dimension).label_zh}：检查 {checked} 项，不符 {failing} 项，得分 {score}"
        )
    known = quality.rules()
    for r in summary.results:
        title = rule_of(r.rule_id, known)
        name = title.title_zh if title else r.rule_id
        console.print(f"    {r.rule_id:<28} {name}：不符 {r.failing}/{r.checked}（{r.seconds:.2f} 秒）")
    console.print(f"新发现 {summary.new} 项，复扫通过 {summary.passed} 项，重新出现 {summary.reopened} 项")


@interest_app.command("settle")
def interest_settle(
    year: Annotated[int, typer.Option(help="settle the interest year ending 30 June of YEAR")],
    chunk_size: Annotated[int, typer.Option(help="member ids per interest entry")] = 50_000,
    actor: str = "cli",
) -> None:
    """Annual settlement (年度结息) for every account; restartable and idempotent."""
    from datetime import date

    from hpf.interest.service import settle_year_with_policy

    settings = _settings()
    with _progress_bar() as bar:
        summary = settle_year_with_policy(
            _engine(settings), _context(settings, actor), date(year, 6, 30), chunk_size=chunk_size,
            progress=_reporter(bar),
        )  # fmt: skip
    console.print(summary.shown())


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the SM3 hash chain of the audit log; exit 1 naming the first altered, inserted or deleted row."""
    from hpf.audit.trail import verify_database

    findings = verify_database(_engine(_settings()))
    if not findings:
        console.print("[green]audit log OK[/green]: every row matches its hash and the chain is whole")
        return
    first = findings[0]
    console.print(f"[red]{first.message_zh}[/red] at {first.subject}: {first.message_en} [{first.code}]")
    raise typer.Exit(1)


@keys_app.command("generate")
def keys_generate(key_id: str = typer.Argument(..., help="the new key's id, e.g. k2026")) -> None:
    """Print fresh key material as an HPF_KEYS entry (32 random bytes, base64)."""
    import base64
    import secrets

    from hpf.protection.crypto import KeyRing

    material = secrets.token_bytes(32)
    KeyRing.from_material({key_id: material})  # checks the id
    console.print(f"{key_id}:{base64.b64encode(material).decode()}", soft_wrap=True)


@keys_app.command("check")
def keys_check() -> None:
    """Show the ring's keys and how many stored values are not under the active key yet."""
    from hpf.db.engine import read_transaction
    from hpf.protection import keys, protect

    settings = _settings()
    ring = protect.ring()
    with read_transaction(_engine(settings)) as conn:
        stale = keys.stale_tokens(conn, ring)
    console.print(
        f"keys {', '.join(ring.key_ids)}; active {ring.active_key_id}; blind index {ring.blind_key_id}"
    )
    for column, count in stale.items():
        console.print(f"  {column}: {count} value(s) under an older key")
    if any(stale.values()):
        console.print("run [bold]hpf keys rotate[/bold] to re-encrypt them")


@keys_app.command("rotate")
def keys_rotate(batch: int = typer.Option(10_000, min=1, help="rows per committed batch")) -> None:
    """Re-encrypt every protected column under the active key (restartable, batch by batch)."""
    from hpf.protection import keys, protect

    settings = _settings()
    ring = protect.ring()
    with _engine(settings).connect() as conn:
        done = keys.rotate_all(conn, ring, batch=batch)
    for item in done:
        console.print(f"{item.column}: {item.rows} value(s) re-encrypted under {ring.active_key_id}")


@withdrawals_app.command("pay")
def withdrawals_pay(limit: int = typer.Option(500, min=1, help="orders per run")) -> None:
    """The payment run: send every approved withdrawal's payout to the bank."""
    from hpf.withdrawals.service import send_reserved

    settings = _settings()
    counts = send_reserved(_engine(settings), _context(settings, "cli"), _bank(), limit=limit)
    console.print(", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "nothing to send")


@clock_app.command("show")
def clock_show() -> None:
    """Print the business date."""
    from hpf.app import make_clock

    settings = _settings()
    console.print(make_clock(settings, _engine(settings)).today().isoformat())


@clock_app.command("set")
def clock_set(day: str) -> None:
    """Set the stored business date (YYYY-MM-DD); it only moves forward."""
    from datetime import date

    from hpf.db.calendar import set_business_date, stored_business_date
    from hpf.db.engine import write_transaction

    new = date.fromisoformat(day)
    with write_transaction(_engine(_settings())) as conn:
        old = stored_business_date(conn)
        if old is not None and new < old:
            console.print(f"[red]the business date only moves forward (now {old})[/red]")
            raise typer.Exit(2)
        set_business_date(conn, new)
    console.print(f"business date {new}")


@app.command("month-end")
def month_end(
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    chunk_size: int = 10_000,
    workers: Annotated[
        int | None, typer.Option(help="chunks allocated at a time (default: 2 on PostgreSQL, 1 on SQLite)")
    ] = None,
    throttle_seconds: Annotated[
        float, typer.Option(help="pause between chunks (lighter daytime runs)")
    ] = 0.0,
    actor: str = "cli",
) -> None:
    """Month-end for the whole center: allocate every funded list, mark arrears (restartable)."""
    from hpf.contributions.month_end import run_month_end
    from hpf.kernel.records import fields_of

    settings = _settings()
    with _progress_bar() as bar:
        summary = run_month_end(
            _engine(settings), _context(settings, actor), month,
            chunk_size=chunk_size, workers=workers, throttle_seconds=throttle_seconds, progress=_reporter(bar),
        )  # fmt: skip
    console.print(fields_of(summary))


# The loan book's jobs join the loan calculator under `hpf loan` (they need this module's
# settings, engine and progress bar, so they are registered here).
def _run_reporting(job: Any) -> Any:
    from hpf.kernel.errors import HpfError

    try:
        return job()
    except HpfError as exc:
        console.print(f"[red]{exc.title}[/red] ({exc.code}): {exc.detail}")
        raise typer.Exit(2) from None


@loans_cli.app.command("month-end")
def loan_month_end(
    month: Annotated[str, typer.Option(help="YYYY-MM")],
    chunk_size: Annotated[int, typer.Option(help="loans per committed chunk")] = 50_000,
    throttle_seconds: Annotated[
        float, typer.Option(help="pause between chunks (lighter daytime runs)")
    ] = 0.0,
    actor: str = "cli",
) -> None:
    """Loan month-end: collect every installment due in MONTH (HPF account or bank), mark the rest overdue.

    With HPF_BANK_URL set the bank-debit loans are debited first (BDC105) and only what the bank
    paid is collected; without it bank debits are taken as collected.
    """
    from hpf.loans.book.jobs import run_loan_month_end
    from hpf.settlement import adapter

    settings = _settings()
    bank = _bank()
    with _progress_bar() as bar:
        summary = _run_reporting(
            lambda: run_loan_month_end(
                _engine(settings), _context(settings, actor), month,
                bank=None if isinstance(bank, adapter.UnconfiguredBank) else bank,
                chunk_size=chunk_size, throttle_seconds=throttle_seconds, progress=_reporter(bar),
            )
        )  # fmt: skip
    console.print(summary)


@loans_cli.app.command("daily")
def loan_daily(
    day: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    actor: str = "cli",
) -> None:
    """Daily overdue run: penalty interest, days past due, five-level class, dunning notices."""
    from datetime import date

    from hpf.loans.book.jobs import run_loan_daily

    settings = _settings()
    try:
        on = date.fromisoformat(day)
    except ValueError:
        console.print(f"[red]日期格式应为YYYY-MM-DD[/red] (loan.day_format): {day!r}")
        raise typer.Exit(2) from None
    console.print(_run_reporting(lambda: run_loan_daily(_engine(settings), _context(settings, actor), on)))


@loans_cli.app.command("reprice")
def loan_reprice(
    year: Annotated[int, typer.Option(help="re-price existing loans on 1 January of YEAR")],
    actor: str = "cli",
) -> None:
    """Re-price existing loans on 1 January (rate changes of the year before); idempotent per year."""
    from datetime import date

    from hpf.db.engine import write_transaction
    from hpf.loans.book.service import reprice

    settings = _settings()

    def job() -> Any:
        with write_transaction(_engine(settings)) as conn:
            return reprice(conn, _context(settings, actor), date(year, 1, 1))

    console.print(_run_reporting(job))


@loans_cli.app.command("train-scorecard")
def loan_train_scorecard(
    seed: Annotated[int, typer.Option(help="seed of the held-out split (training is reproducible)")] = 7,
    actor: str = "cli",
) -> None:
    """Train the loan default scorecard on the loan book as of the business date; it becomes the active card."""
    from hpf.db.engine import write_transaction
    from hpf.loans.scorecard.model import train

    settings = _settings()

    def job() -> Any:
        with write_transaction(_engine(settings)) as conn:
            return train(conn, _context(settings, actor), seed=seed)

    card = _run_reporting(job)
    console.print(
        f"scorecard {card.id} trained on {card.trained_on}: AUC (held-out) {card.auc}; "
        f"train {card.train_count} loans ({card.train_bads} bad), "
        f"held-out {card.test_count} ({card.test_bads} bad); bad rate {card.bad_rate}; "
        f"high risk at probability >= {card.high_risk_threshold:.4f}",
        soft_wrap=True,
    )


@ledger_app.command("close-period")
def close_period(period: str, actor: str = "cli") -> None:
    """Close accounting month PERIOD (YYYY-MM)."""
    from hpf.db.engine import write_transaction
    from hpf.ledger.service import close_period as close

    settings = _settings()
    with write_transaction(_engine(settings)) as conn:
        close(conn, _context(settings, actor), period)
    console.print(f"period {period} closed")


@user_app.command("create")
def user_create(
    login: Annotated[str, typer.Option(help="3 to 32 characters: a letter, then letters, digits, . _ -")],
    roles: Annotated[
        str, typer.Option(help="comma-separated: teller,reviewer,finance,auditor,risk,supervisor,admin")
    ],
    name: Annotated[str, typer.Option(help="display name (姓名)")] = "",
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="asked for when omitted"),
    ] = "",
    totp_required: Annotated[bool, typer.Option(help="TOTP even where the roles leave it optional")] = False,
    resident_id: Annotated[
        str, typer.Option(help="the staff member's own ID number (kept as its blind index: 电子稽查)")
    ] = "",
) -> None:
    """Create a staff sign-in (argon2id password; TOTP is enrolled at the first sign-in)."""
    from hpf.db.engine import write_transaction
    from hpf.identity import identity
    from hpf.kernel.errors import HpfError

    settings = _settings()
    chosen = [r.strip() for r in roles.split(",") if r.strip()]
    try:
        with write_transaction(_engine(settings)) as conn:
            who = identity.create_staff(
                conn, _context(settings, "cli"), login, name or login, chosen, password,
                totp_required=totp_required, resident_id=resident_id or None,
            )  # fmt: skip
    except HpfError as exc:
        console.print(f"[red]{exc.title}[/red] ({exc.code}: {exc.detail})")
        raise typer.Exit(2) from None
    needs = identity.totp_mandatory(who.roles, totp_required)
    console.print(
        f"created {who.login} ({', '.join(sorted(r.value for r in who.roles))}); "
        + ("TOTP is enrolled at the first sign-in" if needs else "TOTP optional")
    )


@user_app.command("register-id")
def user_register_id(
    login: str,
    resident_id: Annotated[str, typer.Option(prompt=True, help="the staff member's own ID number")],
) -> None:
    """Record whose ID number a staff login belongs to (人事登记), kept only as its blind index: the
    audit pack (``hpf inspection scan``) finds staff handling their own or relatives' accounts."""
    from hpf.db.engine import write_transaction
    from hpf.identity import identity
    from hpf.kernel.errors import HpfError

    settings = _settings()
    try:
        with write_transaction(_engine(settings)) as conn:
            identity.register_staff_identity(conn, _context(settings, "cli"), login, resident_id)
    except HpfError as exc:
        console.print(f"[red]{exc.title}[/red] ({exc.code}: {exc.detail})")
        raise typer.Exit(2) from None
    console.print(f"{login.strip().lower()}: ID number registered (blind index only)")


@user_app.command("totp-code")
def user_totp_code(login: str) -> None:
    """Development only: the current TOTP code of a demo login (instead of an authenticator app)."""
    from sqlalchemy import select

    from hpf.db.engine import read_transaction
    from hpf.identity import identity, totp
    from hpf.protection.protect import reveal

    settings = _settings()
    if settings.env != "development":
        console.print("[red]only in development (HPF_ENV=development)[/red]")
        raise typer.Exit(2)
    with read_transaction(_engine(settings)) as conn:
        token = conn.scalar(
            select(identity.principal.c.totp_secret_enc).where(
                identity.principal.c.login == login.strip().lower()
            )
        )
        secret = reveal("principal", "totp_secret", token)
    if not secret:
        console.print(f"[red]{login} has no TOTP secret[/red]")
        raise typer.Exit(1)
    console.print(totp.totp(secret, _context(settings, "cli").clock.now()))


def _demo_users(settings: Settings) -> None:
    """Development: make sure the demo sign-ins exist and show them."""
    from sqlalchemy import inspect

    from hpf.db.engine import write_transaction
    from hpf.sim.demo_users import DEMO_PASSWORD, ensure_demo_users

    if settings.env != "development":
        return
    engine = _engine(settings)
    if not inspect(engine).has_table("principal"):
        console.print("[yellow]no sign-in tables yet: run `hpf db upgrade`[/yellow]")
        return
    with write_transaction(engine) as conn:
        logins = ensure_demo_users(conn, _context(settings, "demo"))
    console.print(f"demo sign-ins (development only), password [bold]{DEMO_PASSWORD}[/bold]:")
    for d in logins:
        second = f"TOTP secret {d.totp_secret}" if d.totp_secret else (
            "SMS code printed on this console" if d.portal == "/self/login" else "password only")  # fmt: skip
        console.print(f"  {d.portal:12} {d.login:20} {d.roles:9} {d.name}  — {second}", soft_wrap=True)
    console.print("  current TOTP code: `hpf user totp-code LOGIN`")


@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    role: Annotated[str, typer.Option(help="center, or hub (the same as hpf hub serve)")] = "center",
    workers: Annotated[
        int, typer.Option(help="server processes (each with HPF_MAX_REQUESTS requests at once)")
    ] = 1,
) -> None:
    """Serve the web application (pages and /api/v1)."""
    import uvicorn

    from hpf.app import served_app

    if role == "hub":
        from hpf.cli.hub import hub_serve

        hub_serve(host=host, port=port)
        return
    if role != "center":
        console.print("[red]the role is center or hub[/red]")
        raise typer.Exit(2)
    settings = _settings()
    _demo_users(settings)
    _install_whatif_runner(settings)
    console.print(f"{settings.center_name}: http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    if workers == 1:
        uvicorn.run(served_app(), host=host, port=port, log_level="warning")
        return
    # Each worker process builds its own app from the same environment (and its own pool, audit
    # sink and writer turn; on SQLite the processes take turns to write: hpf.db.engine).
    uvicorn.run(
        "hpf.app:served_app", factory=True, workers=workers, host=host, port=port, log_level="warning"
    )


def _install_whatif_runner(settings: Settings) -> None:
    """A what-if asked for on the page runs in this server's process (decision 0038)."""
    from hpf.planning.whatif import install_runner
    from hpf.sim.planning import whatif_runner

    install_runner(whatif_runner(settings.center_code))


@app.command("demo")
def demo(
    seed: int = 42,
    employers: int = 500,
    members: int = 20_000,
    history_months: Annotated[int, typer.Option(help="months of simulated history before today")] = 24,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the app afterwards")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
    fresh: Annotated[bool, typer.Option(help="delete an existing SQLite demo database first")] = False,
) -> None:
    """Build a synthetic demo center (deterministic by --seed) with months of history, then serve it.

    A demo runs in development mode (HPF_ENV=development when HPF_ENV is unset): development
    keys, demo sign-ins, SMS codes printed on the console. Never for real data.
    """
    from datetime import date

    from hpf.contributions.rules import add_months, month_of
    from hpf.db.calendar import set_business_date
    from hpf.db.engine import write_transaction
    from hpf.kernel.clock import SystemClock
    from hpf.kernel.errors import HpfError
    from hpf.schema import upgrade
    from hpf.sim.generator import build_demo_center
    from hpf.sim.simulator import simulate as run_simulation
    from hpf.warehouse.build import default_path

    os.environ.setdefault("HPF_ENV", "development")  # a demo: development keys and sign-ins
    settings = _settings()
    warehouse = default_path(settings.database_url)
    if fresh:
        _remove_sqlite(settings.database_url)
        warehouse.unlink(missing_ok=True)  # the old center's warehouse
    engine = _engine(settings)
    upgrade(engine)
    start = add_months(month_of(SystemClock().today()), -history_months)
    try:
        with write_transaction(engine) as conn:
            set_business_date(conn, date(int(start[:4]), int(start[5:]), 1))
        with _progress_bar() as bar:
            summary = build_demo_center(
                engine, _context(settings, "demo"), seed=seed, employers=employers, members=members,
                progress=_reporter(bar),
            )  # fmt: skip
        console.print(
            f"演示中心已生成（用时 {summary.seconds:.1f} 秒）：单位 {summary.employers:,} 家，"
            f"职工 {summary.members:,} 人，期初余额合计 {_yuan(summary.total_balance_fen)} 元",
            highlight=False,
        )
        if history_months:
            with _progress_bar() as bar:
                lived = run_simulation(
                    engine, settings.center_code, months=history_months, seed=seed, progress=_reporter(bar),
                    warehouse=warehouse,
                )  # fmt: skip
            for line in demo_summary_lines(lived, host=host, port=port):
                console.print(line, highlight=False, soft_wrap=True)
    except HpfError as exc:
        if exc.code != "demo.not_empty":
            raise
        console.print("demo center already built; serving it (use --fresh to rebuild)")
    if serve_after:
        serve(host=host, port=port)  # shows the demo sign-ins
    else:
        _demo_users(settings)


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}" if fen >= 0 else "-" + _yuan(-fen)


def demo_summary_lines(lived: Any, *, host: str = "127.0.0.1", port: int = 8000) -> list[str]:
    """What ``hpf demo`` says of the months it simulated: figures a person reads, in Chinese."""
    w, loans = lived.withdrawals, lived.loans
    if lived.scorecard_auc is None:
        card = "未训练（违约样本不足）"
    else:
        card = f"已训练，AUC {float(lived.scorecard_auc):.3f}"
    site = f"http://{host}:{port}"
    return [
        f"已模拟 {lived.months} 个月，业务日期现为 {lived.last_business_date}",
        f"  人员变动：新增职工 {lived.hires:,} 人，离职封存 {lived.leavers:,} 人，单位间转移 {lived.transfers:,} 人",
        f"  单位缴存：清册 {lived.lists:,} 份，到账 {lived.receipts:,} 笔"
        f"（迟缴 {lived.late:,} 次，未缴 {lived.missing:,} 次，少缴 {lived.partial:,} 笔）；年度结息 {lived.settlements} 次",
        f"  提取申请 {w.applied:,} 笔：直接办结 {w.straight_through:,}，经人工审核 {w.reviewed:,}，"
        f"不予提取 {w.refused:,}；已支付 {w.paid:,} 笔，银行退回 {w.payout_failed:,} 笔",
        f"  贷款申请 {loans.applied:,} 笔：批准 {loans.approved:,}，不予批准 {loans.refused:,}；"
        f"部分提前还款 {loans.prepaid:,}，结清 {loans.paid_off:,}，逾期后还清 {loans.recovered:,}，"
        f"陷入困境 {loans.hardships:,}，委托扣款失败 {loans.debits_failed:,}",
        f"  贷款评分卡：{card}",
        "  留待处理：提取与贷款审核队列、待复核的冲账与政策调整、未分摊的到账、待支付的付款",
        f"登录：工作人员 {site}/login ，职工与单位 {site}/self/login （演示账号见下）",
    ]


def _remove_sqlite(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        console.print("[red]--fresh only deletes SQLite files[/red]")
        raise typer.Exit(2)
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)


def main() -> None:  # pragma: no cover
    app()
