"""Who is acting, when, and for which center: passed to every use case."""

from __future__ import annotations

from dataclasses import dataclass

from hpf.kernel.clock import Clock


@dataclass(frozen=True)
class Context:
    actor: str
    clock: Clock
    center_code: str
    source: str = "api"  # api, page, cli, sim: where the command came from
