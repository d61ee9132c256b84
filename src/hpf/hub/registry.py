"""The registry of centers: who may send and receive through the hub, and their public keys.

A center is registered by hub staff (``hpf hub register-center``) with its 6-digit code, name,
province, endpoint (base URL) and its two public SM2 keys; its state is ``active`` or
``suspended`` (a suspended center's messages are refused, and none are routed to it). The
registry is what the BDC909 center-code lookup answers from, as a message and as an API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from hpf.hub.tables import hub_center
from hpf.kernel.errors import Conflict, NotFound, invalid
from hpf.messages.bodies import CenterInfo
from hpf.messages.keys import PublicKeys

STATES = ("active", "suspended")
STATE_ZH = {"active": "正常", "suspended": "暂停"}
_CODE = re.compile(r"\d{6}")
_URL = re.compile(r"https?://[^\s/]+(:\d+)?(/[^\s]*)?")


@dataclass(frozen=True)
class Center:
    code: str
    name: str
    province: str
    endpoint: str
    sign_key: str
    encrypt_key: str
    state: str
    registered_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.state == "active"

    def info(self) -> CenterInfo:
        """What the BDC909 lookup tells of it (not its endpoint: only the hub calls centers)."""
        return CenterInfo(
            code=self.code,
            name=self.name,
            province=self.province,
            state=self.state,  # type: ignore[arg-type]
            sign_key=self.sign_key,
            encrypt_key=self.encrypt_key,
        )


def _center(row: object) -> Center:
    m = row._mapping  # type: ignore[attr-defined]
    return Center(**{name: m[name] for name in Center.__dataclass_fields__})


def center_of(conn: Connection, code: str) -> Center | None:
    row = conn.execute(select(hub_center).where(hub_center.c.code == code)).first()
    return _center(row) if row is not None else None


def centers(conn: Connection) -> list[Center]:
    return [_center(r) for r in conn.execute(select(hub_center).order_by(hub_center.c.code))]


def lookup(conn: Connection, codes: list[str]) -> tuple[list[Center], list[str]]:
    """BDC909: the registered centers among ``codes``, and the codes not registered."""
    wanted = list(dict.fromkeys(codes))
    rows = conn.execute(select(hub_center).where(hub_center.c.code.in_(wanted))).all() if wanted else []
    found = {c.code: c for c in map(_center, rows)}
    return [found[c] for c in dict.fromkeys(codes) if c in found], [
        c for c in dict.fromkeys(codes) if c not in found
    ]


def register(
    conn: Connection,
    *,
    code: str,
    name: str,
    province: str,
    endpoint: str,
    keys: PublicKeys,
    actor: str,
    now: datetime,
    hub_code: str,
) -> Center:
    """Register a center (active), or refuse a bad field or a code already registered."""
    problems = []
    if not _CODE.fullmatch(code) or code == hub_code:
        problems.append(
            invalid("hub.center_code", "中心代码应为6位数字且不同于平台代码", f"bad center code {code!r}")
        )
    if not name.strip() or len(name) > 100:
        problems.append(invalid("hub.center_name", "中心名称不能为空且不超过100字", "bad name"))
    if not province.strip() or len(province) > 20:
        problems.append(invalid("hub.center_province", "省份不能为空且不超过20字", "bad province"))
    if not _URL.fullmatch(endpoint) or len(endpoint) > 300:
        problems.append(
            invalid("hub.center_endpoint", "接入地址应为 http(s) 地址", f"bad endpoint {endpoint!r}")
        )
    if problems:
        raise problems[0]
    if center_of(conn, code) is not None:
        raise Conflict("hub.center_exists", "该中心代码已登记", f"the center {code} is already registered")
    conn.execute(
        insert(hub_center).values(
            code=code,
            name=name.strip(),
            province=province.strip(),
            endpoint=endpoint.rstrip("/"),
            sign_key=keys.sign,
            encrypt_key=keys.encrypt,
            state="active",
            registered_at=now,
            updated_at=now,
            updated_by=actor[:64],
        )
    )
    registered = center_of(conn, code)
    assert registered is not None
    return registered


def set_state(conn: Connection, code: str, state: str, *, actor: str, now: datetime) -> Center:
    """Suspend or re-activate a center."""
    if state not in STATES:
        raise invalid("hub.center_state", "中心状态只能是正常或暂停", f"state must be one of {STATES}")
    done = conn.execute(
        update(hub_center)
        .where(hub_center.c.code == code)
        .values(state=state, updated_at=now, updated_by=actor[:64])
    ).rowcount
    if not done:
        raise NotFound("hub.center_unknown", "中心代码未登记", f"no center {code} is registered")
    found = center_of(conn, code)
    assert found is not None
    return found
