"""``hpf hub …`` (the hub role: serve, its database, keys, registry, staff, delivery) and
``hpf transfers …`` (a center's side of the hub: its keys, the delivery worker by hand, BDC909
lookups and BDC904 status queries)."""

from __future__ import annotations

import getpass
import os
from typing import Annotated, Any

import typer

hub_app = typer.Typer(
    help="The hub (转移接续平台): registry of centers, message routing", no_args_is_help=True
)
transfers_app = typer.Typer(
    help="This center's link to the hub: keys, delivery, lookups", no_args_is_help=True
)


def _root() -> Any:
    from hpf import cli

    return cli


def _refuse(exc: Exception) -> typer.Exit:
    from hpf.kernel.errors import HpfError

    if isinstance(exc, HpfError):
        _root().console.print(f"[red]{exc.title}[/red] ({exc.code}): {exc.detail}")
    return typer.Exit(2)


def _hub_settings() -> Any:
    from hpf.hub.settings import HubSettings

    return HubSettings.from_env()


def _hub_engine(settings: Any) -> Any:
    from hpf.db.engine import make_engine
    from hpf.hub.schema import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)  # the hub migrates its own database (hpf.hub.migrations) before any command
    return engine


def _public_keys(text: str) -> Any:
    from hpf.kernel.errors import HpfError
    from hpf.messages.keys import PublicKeys

    sign, _, encrypt = text.partition(":")
    try:
        return PublicKeys(sign=sign.strip().lower(), encrypt=encrypt.strip().lower())
    except HpfError as exc:
        raise typer.BadParameter(
            "expected '<signing key hex>:<encryption key hex>' (hpf transfers keygen)"
        ) from exc


def _keygen(out: str) -> None:
    from hpf.messages.keys import KeyPair

    if os.path.exists(out):
        _root().console.print(f"[red]{out} exists[/red]: keys are never overwritten")
        raise typer.Exit(2)
    keys = KeyPair.generate()
    keys.write(out)
    public = keys.public()
    typer.echo(f"{public.sign}:{public.encrypt}")


@hub_app.command("keygen")
def hub_keygen(out: Annotated[str, typer.Option(help="the key file to write (chmod 600)")]) -> None:
    """Make the hub's SM2 key pairs; print its public keys (the centers' HPF_HUB_PUBLIC_KEYS)."""
    _keygen(out)


@hub_app.command("upgrade")
def hub_upgrade() -> None:
    """Apply the hub's migrations to its database (HPF_DATABASE_URL)."""
    settings = _hub_settings()
    _hub_engine(settings)
    _root().console.print(f"hub database at head: {settings.database_url}")


@hub_app.command("serve")
def hub_serve(host: str = "127.0.0.1", port: int = 8100) -> None:
    """Serve the hub: the message endpoint, the BDC909 lookup API, the admin page, and the
    delivery worker."""
    import uvicorn

    from hpf.hub.app import create_hub_app
    from hpf.web import heap

    settings = _hub_settings()
    try:
        app = create_hub_app(settings, engine=_hub_engine(settings))
    except Exception as exc:
        raise _refuse(exc) from exc
    _root().console.print(f"{settings.hub_name} ({settings.hub_code}): http://{host}:{port}/")
    heap.settle()
    uvicorn.run(app, host=host, port=port, log_level="warning")


@hub_app.command("register-center")
def hub_register_center(
    code: Annotated[str, typer.Option(help="6-digit center code")],
    name: Annotated[str, typer.Option(help="中心名称")],
    province: Annotated[str, typer.Option(help="省份")],
    endpoint: Annotated[str, typer.Option(help="the center's base URL, e.g. http://127.0.0.1:8001")],
    public_keys: Annotated[str, typer.Option(help="'<signing hex>:<encryption hex>' (hpf transfers keygen)")],
    actor: str = "cli",
) -> None:
    """Register a center (active) in the hub's registry."""
    from datetime import UTC, datetime

    from hpf.db.engine import write_transaction
    from hpf.hub import registry
    from hpf.kernel.errors import HpfError

    settings = _hub_settings()
    keys = _public_keys(public_keys)
    try:
        with write_transaction(_hub_engine(settings)) as conn:
            center = registry.register(
                conn, code=code, name=name, province=province, endpoint=endpoint, keys=keys,
                actor=actor, now=datetime.now(UTC), hub_code=settings.hub_code,
            )  # fmt: skip
    except HpfError as exc:
        raise _refuse(exc) from exc
    _root().console.print(f"registered {center.code} {center.name} ({center.province}) at {center.endpoint}")


@hub_app.command("set-center-state")
def hub_set_center_state(
    code: str, state: Annotated[str, typer.Argument(help="active | suspended")], actor: str = "cli"
) -> None:
    """Suspend a center (its messages are refused, none are routed to it) or re-activate it."""
    from datetime import UTC, datetime

    from hpf.db.engine import write_transaction
    from hpf.hub import registry
    from hpf.kernel.errors import HpfError

    try:
        with write_transaction(_hub_engine(_hub_settings())) as conn:
            center = registry.set_state(conn, code, state, actor=actor, now=datetime.now(UTC))
    except HpfError as exc:
        raise _refuse(exc) from exc
    _root().console.print(f"{center.code} {center.name}: {center.state}")


@hub_app.command("centers")
def hub_centers() -> None:
    """List the registered centers."""
    from hpf.db.engine import read_transaction
    from hpf.hub import registry

    with read_transaction(_hub_engine(_hub_settings())) as conn:
        for c in registry.centers(conn):
            typer.echo(f"{c.code}\t{c.state}\t{c.province}\t{c.name}\t{c.endpoint}")


@hub_app.command("add-staff")
def hub_add_staff(
    login: str,
    name: Annotated[str, typer.Option(help="姓名")],
    role: Annotated[str, typer.Option(help="admin or supervisor (decision 0040)")] = "admin",
    scope: Annotated[str, typer.Option(help="a supervisor's scope: nation or a province")] = "nation",
) -> None:
    """Create a hub staff sign-in (the password from HPF_HUB_STAFF_PASSWORD or asked for)."""
    from datetime import UTC, datetime

    from hpf.db.engine import write_transaction
    from hpf.hub import staff
    from hpf.identity.passwords import Passwords
    from hpf.kernel.errors import HpfError

    password = os.environ.get("HPF_HUB_STAFF_PASSWORD") or getpass.getpass("password: ")
    try:
        with write_transaction(_hub_engine(_hub_settings())) as conn:
            staff.add_staff(
                conn, login=login, name=name, password=password, passwords=Passwords(), now=datetime.now(UTC),
                role=role, scope=scope,
            )  # fmt: skip
    except HpfError as exc:
        raise _refuse(exc) from exc
    _root().console.print(f"hub staff {login} created")


@hub_app.command("deliver")
def hub_deliver(
    until_idle: Annotated[bool, typer.Option(help="repeat rounds while messages were sent")] = True,
) -> None:
    """Run the hub's delivery worker by hand: send what is due (forwarded messages, answers)."""
    from datetime import UTC, datetime

    from hpf.hub import service
    from hpf.hub.app import hub_keys
    from hpf.messages.transport import http_poster

    settings = _hub_settings()
    engine = _hub_engine(settings)
    try:
        hub = service.Hub(settings.hub_code, hub_keys(settings), settings.window_seconds)
    except Exception as exc:
        raise _refuse(exc) from exc
    post = http_poster()
    total = service.Round()
    while True:
        done = service.deliver_due(engine, hub, post, lambda: datetime.now(UTC))
        total = service.Round(
            total.delivered + done.delivered, total.refused + done.refused, total.retried + done.retried
        )
        if not until_idle or not done.delivered:
            break
    _root().console.print(f"delivered {total.delivered}, refused {total.refused}, to retry {total.retried}")


@hub_app.command("reconcile")
def hub_reconcile(
    on: Annotated[
        str | None, typer.Option(help="today, YYYY-MM-DD (default: the latest business date reported)")
    ] = None,
    transit_days: Annotated[int, typer.Option(min=0, help="days money may be paid and not yet credited")] = 3,
) -> None:
    """Compare both sides of every transfer as the centers reported them (XC04, decision 0035);
    list each disagreement and exit 1 if there is any."""
    from datetime import date

    from hpf.db.engine import read_transaction
    from hpf.hub import transfer_reports

    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        raise typer.BadParameter(f"{on!r} is not YYYY-MM-DD") from None
    with read_transaction(_hub_engine(_hub_settings())) as conn:
        run = transfer_reports.reconcile(conn, on=day, transit_days=transit_days)
    console = _root().console
    console.print(
        f"转移接续对账（{run.on or '无报告'}）：联系函 {run.letters} 笔，双方均有报告 {run.both_sides} 笔；"
        f"转出地付出 {run.paid_fen} 分，转入地记入 {run.credited_fen} 分，在途 {run.in_transit_fen} 分；"
        f"差异 {len(run.differences)} 笔",
        highlight=False,
        soft_wrap=True,
    )
    for d in run.differences:
        console.print(
            f"  {d.letter_no} {d.kind:11} {d.kind_zh}：{d.detail_zh} "
            f"(out {d.out_center or '-'} {d.out_state or '-'}, in {d.in_center or '-'} {d.in_state or '-'})",
            highlight=False,
            soft_wrap=True,
        )
    if run.differences:
        raise typer.Exit(1)


@hub_app.command("supervise")
def hub_supervise(
    month: Annotated[str, typer.Option(help="the reported month, YYYY-MM")],
) -> None:
    """The month's reporting run (decision 0040): classify every center, raise and dispatch the
    problems the monitoring lines find; then flag the problems past their deadline."""
    import re
    from datetime import UTC, datetime, timedelta

    from hpf.db.engine import write_transaction
    from hpf.hub import service
    from hpf.hub.app import hub_keys
    from hpf.hub.supervision import problems, run

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise _refuse(ValueError("--month is YYYY-MM"))
    settings = _hub_settings()
    try:
        hub = service.Hub(settings.hub_code, hub_keys(settings), settings.window_seconds)
        now = datetime.now(UTC)
        today = (now + timedelta(hours=8)).date()
        with write_transaction(_hub_engine(settings)) as conn:
            done = run.reporting_run(conn, hub, month, today=today, now=now)
            late = problems.flag_overdue(conn, hub, today, now)
    except Exception as exc:
        raise _refuse(exc) from exc
    grades = ", ".join(f"{c}:{g}" for c, g in sorted(done.classified.items())) or "none"
    _root().console.print(
        f"{month}: policy v{done.policy_version}, classified {grades}; "
        f"problems dispatched {len(done.problems)}, flagged overdue {len(late)}"
    )


# -- a center's side ----------------------------------------------------------------------


@transfers_app.command("keygen")
def transfers_keygen(out: Annotated[str, typer.Option(help="the key file to write (chmod 600)")]) -> None:
    """Make this center's SM2 key pairs (HPF_MESSAGE_KEY_FILE); print the public keys for the
    hub's ``hpf hub register-center --public-keys``."""
    _keygen(out)


def _center() -> tuple[Any, Any, Any]:
    root = _root()
    settings = root._settings()
    return settings, root._engine(settings), root._context(settings, "cli")


@transfers_app.command("deliver")
def transfers_deliver(
    until_idle: Annotated[bool, typer.Option(help="repeat rounds while messages were sent")] = True,
) -> None:
    """Run the delivery worker by hand: send the outbox to the hub (retries with backoff)."""
    from hpf.kernel.errors import HpfError
    from hpf.messages.transport import http_poster
    from hpf.transfers import service

    _, engine, ctx = _center()
    post = http_poster()
    delivered = refused = retried = 0
    try:
        while True:
            done = service.deliver_due(engine, ctx, post)
            delivered, refused, retried = (
                delivered + done.delivered,
                refused + done.refused,
                retried + done.retried,
            )
            if not until_idle or not done.delivered:
                break
    except HpfError as exc:
        raise _refuse(exc) from exc
    _root().console.print(f"delivered {delivered}, refused {refused}, to retry {retried}")


@transfers_app.command("lookup")
def transfers_lookup(codes: list[str]) -> None:
    """Ask the hub about centers (BDC909); the answer fills the known centers."""
    from hpf.db.engine import write_transaction
    from hpf.kernel.errors import HpfError
    from hpf.transfers import service

    _, engine, ctx = _center()
    try:
        with write_transaction(engine) as conn:
            message_id = service.lookup_centers(conn, ctx, codes)
    except HpfError as exc:
        raise _refuse(exc) from exc
    typer.echo(str(message_id))


@transfers_app.command("ask-status")
def transfers_ask_status(center: str, letter_no: str) -> None:
    """Ask another center where a contact letter's transfer stands (BDC904)."""
    from hpf.db.engine import write_transaction
    from hpf.kernel.errors import HpfError
    from hpf.transfers import service

    _, engine, ctx = _center()
    try:
        with write_transaction(engine) as conn:
            message_id = service.ask_status(conn, ctx, center, letter_no)
    except (HpfError, ValueError) as exc:
        raise _refuse(exc) from exc
    typer.echo(str(message_id))


@transfers_app.command("messages")
def transfers_messages() -> None:
    """The messages this center sent and received, oldest first."""
    from hpf.db.engine import read_transaction
    from hpf.transfers import service

    _, engine, _ = _center()
    with read_transaction(engine) as conn:
        for m in service.messages(conn):
            answered = f" answered by {m.answered_by}" if m.answered_by else ""
            typer.echo(
                f"{m.message_id}\t{m.direction}\t{m.type}\t{m.peer}\t{m.state}\t{m.attempts}{answered}"
            )


# -- co-investigation (decision 0031) -------------------------------------------------------

PURPOSE_WORDS = {"loan": "01", "withdrawal": "02", "transfer": "03", "staff": "04"}


def print_inquiry(asked: Any) -> None:
    """An inquiry's answer, one line a fact (Chinese, as staff read it)."""
    from hpf.kernel.money import format_yuan
    from hpf.kernel.network import PURPOSE_ZH

    echo = typer.echo
    echo(f"协查编号 {asked.message_id}（{PURPOSE_ZH[asked.purpose]}）")
    for index, person in enumerate(asked.answer):
        echo(f"第{index + 1}人：其他城市的账户 {len(person.accounts)} 个，贷款 {len(person.loans)} 笔")
        for a in person.accounts:
            dates = f"，开户 {a.opened_on}，缴至 {a.paid_through or '—'}" if a.opened_on else ""
            echo(f"  账户\t{a.center} {a.center_name}\t状态 {a.state}{dates}")
        for x in person.loans:
            facts = f"，合同日期 {x.contract_date}" if x.contract_date else ""
            if x.principal_fen is not None:
                facts += f"，贷款金额 {format_yuan(x.principal_fen)}元"
            if x.settled_on:
                facts += f"，结清日期 {x.settled_on}"
            owed = "未结清" if x.unsettled else "已结清" if x.state == "settled" else x.state
            role = "借款人" if x.role == "borrower" else "共同借款人"
            echo(f"  贷款\t{x.center} {x.center_name}\t{owed}（{role}）{facts}")


@transfers_app.command("inquire")
def transfers_inquire(
    id_number: Annotated[list[str], typer.Option("--id-number", help="居民身份证号码 (repeat: a household)")],
    purpose: Annotated[str, typer.Option(help="01 loan | 02 withdrawal | 03 transfer | 04 staff")],
    asked_by: Annotated[str, typer.Option(help="who asks (logged with the inquiry)")] = "cli",
) -> None:
    """Ask the hub what other centers hold of a person (信息协查, XC03): accounts and their
    states, unsettled loans, the 缴存使用证明 facts — as much as the purpose lets out. Logged
    here and at the hub; exits 1 when the hub does not answer."""
    from hpf.db.engine import write_transaction
    from hpf.kernel.errors import HpfError
    from hpf.kernel.identifiers import parse_resident_id
    from hpf.transfers import inquiry

    settings, engine, _ = _center()
    ctx = _root()._context(settings, asked_by)
    code = PURPOSE_WORDS.get(purpose.strip().lower(), purpose.strip())
    try:
        numbers = [parse_resident_id(n, field="id_number").number for n in id_number]
        with write_transaction(engine) as conn:
            asked = inquiry.inquire(conn, ctx, numbers, code, inquiry.current().post)
    except HpfError as exc:
        raise _refuse(exc) from exc
    if not asked.answered:
        _root().console.print(f"[red]全国信息协查未完成[/red]：{asked.error}")
        raise typer.Exit(1)
    print_inquiry(asked)
