"""``hpf settlement …`` (reconcile a day, resolve open orders) and ``hpf fakebank serve``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

settlement_app = typer.Typer(help="Bank settlement (资金结算)", no_args_is_help=True)
fakebank_app = typer.Typer(help="The fake bank (development and tests)", no_args_is_help=True)


def _root() -> Any:
    from hpf import cli  # the composition root's helpers (settings, key ring, engine, context)

    return cli


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not YYYY-MM-DD") from None


@settlement_app.command("reconcile")
def reconcile(day: Annotated[str, typer.Option(help="the bank's business day, YYYY-MM-DD")]) -> None:
    """Fetch the day's statement (BDC113), reconcile it with the ledger; exit 1 on any difference."""
    from hpf.kernel.errors import HpfError
    from hpf.settlement import adapter, reconciliation
    from hpf.settlement.rules import DIFFERENCE_ZH, DifferenceKind

    root = _root()
    settings = root._settings()
    on = _day(day)
    try:
        run = reconciliation.fetch_and_reconcile(
            root._engine(settings), root._context(settings, "cli"), on, root._bank(), root._entry_groups()
        )
    except (HpfError, adapter.BankNoAnswer) as exc:
        root.console.print(f"[red]reconciliation failed[/red]: {exc}")
        raise typer.Exit(2) from exc
    root.console.print(
        f"{on}: {run.bank_lines} bank line(s), out {run.bank_out_fen} fen, in {run.bank_in_fen} fen; "
        f"{run.differences} difference(s)"
    )
    for d in run.items:
        kind = DifferenceKind(d.kind)
        root.console.print(
            f"  {kind.value:16} {DIFFERENCE_ZH[kind]:8} {d.ref:24} bank {d.bank_fen} fen, "
            f"ledger {d.ledger_fen} fen" + (f", order {d.order_id} {d.order_state}" if d.order_id else ""),
            soft_wrap=True,
        )
    if run.differences:
        raise typer.Exit(1)


@settlement_app.command("pay")
def pay(
    kind: Annotated[str | None, typer.Option(help="only this owner kind: withdrawal, loan")] = None,
    limit: int = typer.Option(500, min=1, help="orders per run"),
    batch: int = typer.Option(0, min=0, max=1000, help="orders per BDC103 batch (0: one BDC101 each)"),
) -> None:
    """The payment run: send every reserved payout (withdrawals, loan disbursements) to the bank."""
    from hpf.settlement import service

    root = _root()
    settings = root._settings()
    counts = service.send_reserved(
        root._engine(settings), root._context(settings, "cli"), root._bank(),
        owner_kind=kind, limit=limit, batch=batch,
    )  # fmt: skip
    root.console.print(", ".join(f"{state}: {n}" for state, n in sorted(counts.items())) or "nothing to send")


@settlement_app.command("resolve")
def resolve(limit: int = typer.Option(1000, min=1, help="orders to ask about")) -> None:
    """Ask the bank (BDC110) about every sent or unknown order and apply the answers."""
    from hpf.settlement import service

    root = _root()
    settings = root._settings()
    counts = service.resolve_open(
        root._engine(settings), root._context(settings, "cli"), root._bank(), limit=limit
    )
    root.console.print(
        ", ".join(f"{state}: {n}" for state, n in sorted(counts.items())) or "nothing to resolve"
    )


@fakebank_app.command("serve")
def fakebank_serve(
    port: int = 8900,
    host: str = "127.0.0.1",
    notify_url: Annotated[
        str | None,
        typer.Option(
            help="the center's notice endpoint, e.g. http://127.0.0.1:8000/api/v1/settlement/notices"
        ),
    ] = None,
    account: Annotated[str, typer.Option(help="the center's account at this bank")] = "955880000000000001",
    day: Annotated[
        str | None, typer.Option(help="the bank's business date (default: today in China)")
    ] = None,
    delay: Annotated[float, typer.Option(help="seconds a 'timeout' fault waits before answering")] = 2.0,
) -> None:
    """Serve the fake bank; the shared key comes from HPF_BANK_SECRET (unsigned if unset)."""
    import os

    import uvicorn

    from hpf.settlement.adapter import bank_secret
    from hpf.settlement.fakebank import FakeBank, create_fake_bank

    bank = FakeBank(
        center_account=account, secret=bank_secret(os.environ.get("HPF_BANK_SECRET")),
        today=_day(day) if day else None, delay=delay,
    )  # fmt: skip
    typer.echo(f"fake bank on http://{host}:{port}/ (account {account})", err=True)
    uvicorn.run(create_fake_bank(bank, notify_url=notify_url), host=host, port=port, log_level="warning")
