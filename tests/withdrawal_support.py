"""A small center where a member qualifies for a rent withdrawal, built through the real use cases.

Employer E (opened 2 January 2025) remits January, February and March 2025 for 张三 (base
8,000.00 yuan, 12% + 12%): each list is submitted, paid at the bank and allocated, so 张三 has
three months of continuous deposit (the rent rule's minimum) and 5,760.00 yuan on 15 April 2025.
李四 (of E) has an online sign-in too; a teller and a reviewer work at the counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine

from factories import employer_payload, member_payload
from hpf.access.permissions import Principal, Role
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.accounts.service import Employer, Member
from hpf.contributions import service as contributions
from hpf.contributions.rules import Kind, ListRow
from hpf.db.engine import write_transaction
from hpf.identity import identity
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from signing_in import FAST_PASSWORDS, PASSWORD

OPENED = date(2025, 1, 2)
TODAY = date(2025, 4, 15)
MONTHS = ("2025-01", "2025-02", "2025-03")
BASE_FEN = 800_000
MONTHLY_FEN = 2 * (BASE_FEN * 12 + 50) // 100  # 12% + 12%, rounded half up: 1,920.00 yuan
ZHANG_PHONE = "13900139001"


@dataclass
class RentCenter:
    engine: Engine
    clock: FixedClock
    ctx: Context
    employer: Employer
    member: Member  # 张三: qualifies for rent
    colleague: Member  # 李四
    people: dict[str, Principal] = field(default_factory=dict)  # zhang, li, teller01, reviewer01


def _rows(members: list[Member]) -> list[ListRow]:
    part = (BASE_FEN * 12 + 50) // 100
    return [ListRow(n, m.account_no, m.name, BASE_FEN, part, part) for n, m in enumerate(members, 1)]


def build_rent_center(engine: Engine, today: date = TODAY) -> RentCenter:
    clock = FixedClock(OPENED)
    ctx = Context(actor="setup", clock=clock, center_code="990001", source="test")
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1, contact_phone="13800138001"))
        zhang = accounts.open_member(
            conn, ctx, emp.account_no, member_payload(1, name="张三", phone=ZHANG_PHONE, base_fen=BASE_FEN)
        )
        li = accounts.open_member(
            conn,
            ctx,
            emp.account_no,
            member_payload(2, name="李四", phone="13900139002", base_fen=BASE_FEN),
        )
        people = {
            "zhang": identity.create_member_login(
                conn, ctx, zhang.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            ),
            "li": identity.create_member_login(
                conn, ctx, li.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            ),
        }
        for login, role in (("teller01", Role.TELLER), ("reviewer01", Role.REVIEWER)):
            people[login] = identity.create_staff(
                conn, ctx, login, login, [role], PASSWORD, passwords=FAST_PASSWORDS
            )
    for n, month in enumerate(MONTHS):
        clock.set(date(2025, 2 + n, 10))  # remitted on the 10th of the next month
        with write_transaction(engine) as conn:
            rem = contributions.submit_list(
                conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month=month, rows=_rows([zhang, li]),
                source="api", idempotency_key=f"e-{month}",
            )  # fmt: skip
            contributions.record_receipt(
                conn, ctx, emp.account_no, rem.total_fen, f"BANK-{month}", clock.today()
            )
            contributions.allocate(conn, ctx, rem.id)
    clock.set(today)
    return RentCenter(engine, clock, ctx, emp, zhang, li, people)
