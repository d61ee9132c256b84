"""A small center for service tests: two employers, three members, their sign-ins, staff
(two tellers, two reviewers, two administrators), and a test handler for withdrawal items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine

from factories import employer_payload, member_payload
from hpf.access.permissions import Principal, Role
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.accounts.service import Employer, Member
from hpf.db.engine import write_transaction
from hpf.identity import identity
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.findings import Finding, Verdict
from hpf.services.handlers import Evaluation, SheetLine
from hpf.services.service import Application
from signing_in import FAST_PASSWORDS, PASSWORD

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.7\n" + b"x" * 200
JPG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


@dataclass
class Center:
    engine: Engine
    clock: FixedClock
    ctx: Context
    member: Member  # A, of employer E
    colleague: Member  # C, of E
    stranger: Member  # B, of employer F
    employer: Employer
    other_employer: Employer
    people: dict[str, Principal] = field(default_factory=dict)


def build_center(engine: Engine, today: date = date(2025, 3, 14)) -> Center:
    clock = FixedClock(date(2025, 1, 2))
    ctx = Context(actor="setup", clock=clock, center_code="990001", source="test")
    with write_transaction(engine) as conn:
        e = accounts.register_employer(conn, ctx, employer_payload(1, contact_phone="13800138001"))
        f = accounts.register_employer(conn, ctx, employer_payload(2, contact_phone="13800138002"))
        a = accounts.open_member(conn, ctx, e.account_no, member_payload(1, name="张三", phone="13900139001"))
        c = accounts.open_member(conn, ctx, e.account_no, member_payload(2, name="李四", phone="13900139002"))
        b = accounts.open_member(conn, ctx, f.account_no, member_payload(3, name="王五", phone="13900139003"))
        people = {
            "a": identity.create_member_login(
                conn, ctx, a.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            ),
            "b": identity.create_member_login(
                conn, ctx, b.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            ),
            "c": identity.create_member_login(
                conn, ctx, c.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            ),
            "e": identity.create_employer_login(
                conn, ctx, e.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            ),
            "f": identity.create_employer_login(
                conn, ctx, f.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            ),
        }
        for login, role in (
            ("teller01", Role.TELLER), ("teller02", Role.TELLER), ("reviewer01", Role.REVIEWER),
            ("reviewer02", Role.REVIEWER), ("admin01", Role.ADMIN), ("admin02", Role.ADMIN),
        ):  # fmt: skip
            people[login] = identity.create_staff(
                conn, ctx, login, login, [role], PASSWORD, passwords=FAST_PASSWORDS
            )
    clock.set(today)
    return Center(engine, clock, ctx, a, c, b, e, f, people)


class FakeWithdrawals:
    """Rules from the payload: ``fail`` fails a rule, ``risky`` raises a flag, ``now`` finishes
    at approval; the amount is three months of ``rent_monthly_fen``. Records every call."""

    item_codes = ("WD-RENT", "WD-PURCHASE")

    def __init__(self) -> None:
        self.approved: list[int] = []
        self.ended: list[tuple[int, str]] = []
        self.reserved: dict[int, int] = {}

    def evaluate(self, conn: Connection, ctx: Context, application: Application) -> Evaluation:
        payload = application.payload
        if "rent_monthly_fen" not in payload:
            from hpf.kernel.errors import InvalidInput

            raise InvalidInput("withdrawal.rent_required", "请填写月租金", "rent_monthly_fen is missing")
        rent = int(payload["rent_monthly_fen"])
        rules = (
            Finding.rule("rent.deposit_months", True, "连续缴存满3个月"),
            Finding.rule("rent.no_home", not payload.get("fail"), "本人及配偶在本市无自有住房"),
        )
        flags = (Finding.risk("risk.frequent", "一年内多次提取"),) if payload.get("risky") else ()
        sheet = (SheetLine("月租金", f"{rent / 100:.2f}元"), SheetLine("可提取", f"{rent * 3 / 100:.2f}元"))
        return Evaluation(Verdict.of(rules, flags), rent * 3, sheet)

    def on_approved(
        self, conn: Connection, ctx: Context, application: Application, evaluation: Evaluation
    ) -> dict[str, Any]:
        self.approved.append(application.id)
        self.reserved[application.id] = evaluation.amount_fen or 0
        out: dict[str, Any] = {
            "reserved_fen": evaluation.amount_fen,
            "ledger_entry_ids": [900 + application.id],
        }
        if application.payload.get("now"):
            out["executed"] = True
        return out

    def on_ended(self, conn: Connection, ctx: Context, application: Application, state: str) -> None:
        self.ended.append((application.id, state))
        self.reserved.pop(application.id, None)
