"""A small center for authorisation tests: two employers, their members, lists, an entry, an
application of member A, and one principal per role (the member and employer principals own
employer E's first member and E).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from factories import employer_payload, member_payload
from hpf.access.permissions import Principal, Role
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.accounts.service import Employer, Member
from hpf.app import create_app
from hpf.contributions import service as contributions
from hpf.contributions.rules import Kind, ListRow
from hpf.contributions.service import Remittance
from hpf.db.engine import make_engine, write_transaction
from hpf.identity import identity
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.schema import upgrade
from hpf.services import service as services
from hpf.settings import Settings
from signing_in import FAST_PASSWORDS, PASSWORD

BUSINESS_DATE = date(2025, 3, 15)
STAFF = (Role.TELLER, Role.REVIEWER, Role.FINANCE, Role.AUDITOR, Role.RISK, Role.SUPERVISOR, Role.ADMIN)


def list_rows(members: list[Member]) -> list[ListRow]:
    """Correct rows at 12% / 12% (the test employers' rates), rounded half up to fen."""
    rows = []
    for n, m in enumerate(members, start=1):
        part = (m.base_fen * 12 + 50) // 100
        rows.append(ListRow(n, m.account_no, m.name, m.base_fen, part, part))
    return rows


@dataclass
class AuthCenter:
    app: FastAPI
    engine: Engine
    clock: FixedClock
    employer: Employer  # E
    other_employer: Employer  # F
    member: Member  # A, of E: the member principal's account
    colleague: Member  # C, of E
    stranger: Member  # B, of F
    remittance: Remittance  # a list of E
    other_remittance: Remittance  # a list of F
    entry_id: int
    principals: dict[Role, Principal] = field(default_factory=dict)
    application: services.Application | None = None  # member A's, submitted online
    material_id: int = 0

    def client(self, **kw: Any) -> TestClient:
        return TestClient(self.app, **kw)


def build_auth_center(engine: Engine, *, center_code: str = "990001") -> AuthCenter:
    clock = FixedClock(date(2025, 1, 2))
    ctx = Context(actor="setup", clock=clock, center_code=center_code, source="test")
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1, contact_phone="13800138001"))
        other = accounts.register_employer(conn, ctx, employer_payload(2, contact_phone="13800138002"))
        a = accounts.open_member(
            conn, ctx, emp.account_no, member_payload(1, name="张三", phone="13900139001")
        )
        c = accounts.open_member(
            conn, ctx, emp.account_no, member_payload(2, name="李四", phone="13900139002")
        )
        b = accounts.open_member(
            conn, ctx, other.account_no, member_payload(3, name="王五", phone="13900139003")
        )
    clock.set(BUSINESS_DATE)
    with write_transaction(engine) as conn:
        rem = contributions.submit_list(
            conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month="2025-01", rows=list_rows([a, c]),
            source="api", idempotency_key="e-2025-01",
        )  # fmt: skip
        other_rem = contributions.submit_list(
            conn, ctx, other.account_no, kind=Kind.REMITTANCE, month="2025-01", rows=list_rows([b]),
            source="api", idempotency_key="f-2025-01",
        )  # fmt: skip
        entry_id = ledger.post(
            conn,
            JournalEntry(
                "01", "T1", "t1", BUSINESS_DATE, BUSINESS_DATE,
                (Line("101", Side.DEBIT, 10_000),
                 Line("201", Side.CREDIT, 10_000, member_id=a.id, part=BalancePart.CURRENT)),
            ),
            clock,
        )  # fmt: skip
        principals: dict[Role, Principal] = {}
        for role in STAFF:
            principals[role] = identity.create_staff(
                conn, ctx, f"{role.value}01", f"{role.value}员", [role], PASSWORD, passwords=FAST_PASSWORDS
            )
        principals[Role.MEMBER] = identity.create_member_login(
            conn, ctx, a.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
        )
        principals[Role.EMPLOYER] = identity.create_employer_login(
            conn, ctx, emp.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
        )
        principals[Role.PARTNER] = identity.create_partner(
            conn, ctx, "partner01", "共享部门", PASSWORD, passwords=FAST_PASSWORDS
        )
        application = services.submit(
            conn, ctx, principals[Role.MEMBER], "AC-CHANGE", {"field": "phone", "value": "13900139009"}
        )
        material = services.add_material(
            conn,
            ctx,
            principals[Role.MEMBER],
            application.id,
            "M-ID",
            "id.png",
            b"\x89PNG\r\n\x1a\n" + bytes(64),
        )
    settings = Settings(env="development", database_url=str(engine.url), center_code=center_code)
    app = create_app(settings, engine=engine, clock=clock, passwords=FAST_PASSWORDS)
    return AuthCenter(
        app,
        engine,
        clock,
        emp,
        other,
        a,
        c,
        b,
        rem,
        other_rem,
        entry_id,
        principals,
        application,
        material.id,
    )


@contextmanager
def sqlite_auth_center(directory: Path) -> Iterator[AuthCenter]:
    """The authorisation center on a migrated SQLite file in ``directory`` (module fixtures)."""
    engine = make_engine(f"sqlite:///{directory / 'hpf.sqlite3'}")
    upgrade(engine)
    try:
        yield build_auth_center(engine)
    finally:
        engine.dispose()
