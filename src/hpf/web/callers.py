"""Who is calling: the audit log's role of a principal, the source address, the request's context."""

from __future__ import annotations

from fastapi import Request

from hpf.access.permissions import Principal
from hpf.kernel.context import Context


def role_of(principal: Principal) -> str:
    """The audit log's role: the principal's roles, or its kind when it has none."""
    return ",".join(sorted(r.value for r in principal.roles))[:40] or principal.kind


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_context(request: Request, principal: Principal) -> Context:
    channel = "api" if request.url.path.startswith("/api/") else "page"
    state = request.app.state
    return Context(principal.login, state.clock, state.settings.center_code, source=channel)
