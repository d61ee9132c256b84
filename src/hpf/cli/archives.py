"""``hpf archive``: export an application's sealed archive package, verify archives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(help="Business archives (业务档案)", no_args_is_help=True)
console = Console()


def _engine() -> Any:
    from hpf.cli import _engine as engine_of
    from hpf.cli import _settings

    return engine_of(_settings())


@app.command("export")
def export(
    application_id: Annotated[int, typer.Argument(help="the application's id")],
    out: Annotated[Path, typer.Option("--out", help="the zip file to write")],
) -> None:
    """Write the sealed archive of an ended application as a zip package."""
    from hpf.db.engine import read_transaction
    from hpf.kernel.errors import HpfError
    from hpf.services import archives

    try:
        with read_transaction(_engine()) as conn:
            data = archives.export_package(conn, application_id)
    except HpfError as exc:
        console.print(f"[red]{exc.title}[/red] ({exc.code}): {exc.detail}")
        raise typer.Exit(1) from exc
    out.write_bytes(data)
    console.print(f"archive of application {application_id} written to {out} ({len(data)} bytes)")


@app.command("verify")
def verify(
    package: Annotated[Path | None, typer.Argument(help="a package to check instead of the database")] = None,
    against_db: Annotated[
        bool, typer.Option("--db", help="also compare the package's seal with the database")
    ] = False,
) -> None:
    """Check every sealed archive in the database, or one package; exit 1 naming the first failure."""
    from hpf.db.engine import read_transaction
    from hpf.services import archives

    if package is not None:
        data = package.read_bytes()
        if against_db:
            with read_transaction(_engine()) as conn:
                findings = archives.verify_package(data, conn=conn)
        else:
            findings = archives.verify_package(data)
        what = str(package)
    else:
        with read_transaction(_engine()) as conn:
            findings = archives.verify_stored(conn)
        what = "every sealed archive"
    if findings:
        console.print(f"[red]archive check failed[/red]: {findings[0]}")
        for extra in findings[1:]:
            console.print(f"  also: {extra}")
        raise typer.Exit(1)
    console.print(f"ok: {what}")
