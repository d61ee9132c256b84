"""What a process must be given when it starts, and the refusal when it was not.

The key ring, the item handlers and the event listeners are built once by the composition root
(``hpf.bootstrap``) and handed to the modules that use them. A module asked for one before the
process was started through it refuses loudly: nothing falls back to a default silently (a
development key ring in production, an application without its rules in the review queue).
"""

from __future__ import annotations

from hpf.kernel.errors import HpfError


def not_wired(what: str) -> HpfError:
    """The refusal of a module used by a process that did not start through ``hpf.bootstrap``."""
    return HpfError(
        "wiring.missing",
        "系统未完成启动配置",
        f"no {what} installed: a process starts through hpf.bootstrap (start or build + install)",
        status=500,
    )
