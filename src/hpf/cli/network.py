"""``hpf network …``: a hub and three centers as a network of cities (issue 14 item 5, decision
0035) — ``hpf network demo`` builds, lives and serves it; ``hpf network bank`` is its fake bank."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

network_app = typer.Typer(help="A network of three cities and a hub (demo)", no_args_is_help=True)


@network_app.command("demo")
def network_demo(
    data_dir: Annotated[Path, typer.Option(help="where the databases, keys and logs go")] = Path(
        "hpf-network"
    ),
    members: Annotated[int, typer.Option(min=30, max=200_000, help="members of each city")] = 600,
    months: Annotated[int, typer.Option(min=1, max=60, help="months to live")] = 4,
    seed: int = 7,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="keep serving afterwards")] = True,
    base_port: Annotated[
        int, typer.Option(help="the hub's port; the centers on the next three, the bank on the fifth")
    ] = 8100,
    host: str = "127.0.0.1",
) -> None:
    """Build a hub and three centers (杭州, 深圳, 成都: each its own database and process), live
    months in which people move between the cities and transfer (转移接续) through the hub and
    the bank, then serve them all — or, with --no-serve, run every center's `hpf check` and the
    hub's `hpf hub reconcile` and exit 1 if any finds a difference. Development keys only."""
    from hpf.sim import network

    layout = network.Layout(data_dir.resolve(), network.Ports.from_base(base_port), host)

    started = time.monotonic()

    def say(text: str) -> None:
        typer.echo(f"[{time.monotonic() - started:6.1f}s] {text}")

    network.prepare(layout, members=members, seed=seed, say=say)
    processes = network.Processes(layout, layout.data_dir)
    try:
        processes.start_all()
        say(f"平台 {layout.hub_url} ；银行 {layout.url(layout.ports.bank)}")
        for city in network.CITIES:
            say(f"{city.code} {city.name}（{city.province}）{layout.center_url(city.code)}")
        lived = network.live(layout, months=months, members=members, seed=seed, say=say)
        say(
            f"共模拟 {lived.months} 个月：迁移 {lived.moved} 人，申请 {lived.applied} 笔（转入地不予受理 "
            f"{lived.rejected} 笔），转出审核通过 "
            f"{lived.approved} 笔、不予转出 {lived.refused} 笔，办结 {lived.completed} 笔，"
            f"转移金额 {lived.moved_fen / 100:,.2f} 元；未办结 {len(lived.unfinished)} 笔；"
            f"向平台报送监管数据 {lived.reports} 份（中心·月）"
        )
        if not serve:
            processes.stop()
            failed = network.run_checks(layout, say)
            if failed or lived.unfinished:
                raise typer.Exit(1)
            return
        from hpf.sim.demo_users import DEMO_PASSWORD

        say(
            f"演示登录（开发模式）：工作人员 admin、teller、reviewer、finance、auditor，口令 {DEMO_PASSWORD}；"
            f"动态口令密钥与职工、单位登录见 {layout.data_dir}/<中心代码>.log"
        )
        say("Ctrl-C 停止全部进程")

        def stop(_signum: int, _frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)  # a TERM stops the network as Ctrl-C does
        processes.wait()
    except KeyboardInterrupt:
        pass
    finally:
        processes.stop()


@network_app.command("bank")
def network_bank(
    config: Annotated[Path, typer.Option(help="the network's network.json (hpf network demo writes it)")],
    port: int = 8104,
    host: str = "127.0.0.1",
) -> None:
    """Serve the network's fake bank: each center's fund account under /<center code>."""
    import json

    import uvicorn

    from hpf.sim.network import bank_app

    uvicorn.run(bank_app(json.loads(config.read_text())), host=host, port=port, log_level="warning")
