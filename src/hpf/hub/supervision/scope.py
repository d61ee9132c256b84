"""Who supervises what (decision 0040): a hub supervisor's scope is the nation or one province;
each sees and acts on the centers of their scope only (tiers: center → province → nation)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from hpf.hub import registry
from hpf.hub.staff import NATION
from hpf.hub.tables import hub_staff
from hpf.kernel.errors import HpfError


def forbidden(code: str, title: str, detail: str) -> HpfError:
    return HpfError(code, title, detail, status=403)


@dataclass(frozen=True)
class Supervisor:
    login: str
    name: str
    role: str
    scope: str  # nation | a province

    @property
    def national(self) -> bool:
        return self.scope == NATION

    def covers(self, province: str) -> bool:
        return self.national or self.scope == province

    @property
    def scope_zh(self) -> str:
        return "全国" if self.national else self.scope


def supervisor_of(conn: Connection, login: str) -> Supervisor:
    """The active supervisor signed in as ``login``; anyone else is refused."""
    s = hub_staff.c
    row = conn.execute(
        select(s.login, s.name, s.role, s.scope).where(s.login == login, s.active.is_(True))
    ).first()
    if row is None or row.role != "supervisor":
        raise forbidden(
            "supervision.not_supervisor", "仅监督员可办理", f"{login} is not an active supervisor"
        )
    return Supervisor(row.login, row.name, row.role, row.scope)


def centers_in_scope(conn: Connection, who: Supervisor) -> list[registry.Center]:
    return [c for c in registry.centers(conn) if who.covers(c.province)]


def require_covers(conn: Connection, who: Supervisor, center: str) -> registry.Center:
    found = registry.center_of(conn, center)
    if found is None or not who.covers(found.province):
        raise forbidden(
            "supervision.out_of_scope", "该中心不在您的监督范围内", f"{center} is outside {who.login}'s scope"
        )
    return found
