"""A small center for loan-application tests: members who have remitted for months, staff.

Contributions go through the real flow (list, bank receipt, allocation), so balances and the
continuous-deposit months come from the same tables a decision reads in production.

- ``a``: born 1990, base 8,000 yuan, 14 months (2024-01 … 2025-02) — the usual borrower;
- ``c``: A's colleague, same history — a co-borrower;
- ``rich``: base 30,000 yuan (the policy's cap), 14 months;
- ``old``: born 1962 (63 in 2025), base 8,000, 14 months;
- ``senior``: born 1959 (66 in 2025), base 8,000, 14 months;
- ``new``: of another employer opened in December 2024: 3 months only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine

from factories import employer_payload, make_resident_id, member_payload
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
from hpf.services import service as applications
from settlement_support import CARD
from signing_in import FAST_PASSWORDS, PASSWORD

TODAY = date(2025, 3, 14)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.7\n" + b"x" * 200
REQUIRED_MATERIALS = ("M-ID", "M-CONTRACT", "M-DOWNPAYMENT", "M-INCOME", "M-MARRIAGE", "M-SELLER")
CERTIFICATE = "鲁(2025)济南市不动产证明第0001234号"


@dataclass
class Center:
    engine: Engine
    clock: FixedClock
    ctx: Context
    members: dict[str, Member]
    people: dict[str, Principal] = field(default_factory=dict)


def _months(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def remit(conn, ctx: Context, employer: Employer, members: list[Member], months: list[str]) -> None:
    """Each month's list at 12% + 12%, the bank receipt, the allocation: as an employer does."""
    for month in months:
        rows = []
        for n, m in enumerate(members, start=1):
            part = int((Decimal(m.base_fen) * Decimal("0.12")).quantize(Decimal(1), ROUND_HALF_UP))
            rows.append(ListRow(n, m.account_no, m.name, m.base_fen, part, part))
        listed = contributions.submit_list(
            conn, ctx, employer.account_no, kind=Kind.REMITTANCE, month=month, rows=rows,
            source="api", idempotency_key=f"{employer.account_no}-{month}",
        )  # fmt: skip
        contributions.record_receipt(
            conn,
            ctx,
            employer.account_no,
            listed.total_fen,
            f"R{employer.id}{month}",
            ctx.clock.today(),
        )
        contributions.allocate(conn, ctx, listed.id)


def build_center(engine: Engine) -> Center:
    clock = FixedClock(date(2024, 1, 2))
    ctx = Context(actor="setup", clock=clock, center_code="990001", source="test")
    members: dict[str, Member] = {}
    people: dict[str, Principal] = {}
    with write_transaction(engine) as conn:
        e = accounts.register_employer(conn, ctx, employer_payload(1))
        for seq, (key, birth, base) in enumerate(
            (("a", "19900307", 800_000), ("c", "19910512", 800_000), ("rich", "19850101", 3_000_000),
             ("old", "19620101", 800_000), ("senior", "19590101", 800_000)),
            start=1,
        ):  # fmt: skip
            members[key] = accounts.open_member(
                conn, ctx, e.account_no,
                member_payload(seq, resident_id=make_resident_id(seq, birth=birth), base_fen=base, name=f"职工{key}"),
            )  # fmt: skip
        clock.set(date(2024, 12, 2))
        f = accounts.register_employer(conn, ctx, employer_payload(2))
        members["new"] = accounts.open_member(
            conn, ctx, f.account_no, member_payload(9, name="职工new", base_fen=800_000)
        )
        clock.set(date(2025, 3, 10))
        remit(
            conn,
            ctx,
            e,
            [members[k] for k in ("a", "c", "rich", "old", "senior")],
            _months("2024-01", "2025-02"),
        )
        remit(conn, ctx, f, [members["new"]], _months("2024-12", "2025-02"))
        people["a"] = identity.create_member_login(
            conn, ctx, members["a"].id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
        )
        for login, role in (
            ("teller01", Role.TELLER),
            ("reviewer01", Role.REVIEWER),
            ("reviewer02", Role.REVIEWER),
        ):
            people[login] = identity.create_staff(
                conn, ctx, login, login, [role], PASSWORD, passwords=FAST_PASSWORDS
            )
    clock.set(TODAY)
    return Center(engine, clock, ctx, members, people)


def payload(**changes: object) -> dict[str, object]:
    """A first home, new, 1,000,000 yuan, 30 years, mortgage, paid to the developer's account."""
    base: dict[str, object] = {
        "house_price_fen": 100_000_000,
        "floor_area": "89.50",
        "house_nature": "01",
        "second_home": False,
        "term_months": 360,
        "method": "equal-installment",
        "repayment_source": "hpf_account",
        "guarantee_type": "01",
        "certificate_no": CERTIFICATE,
        "payee_name": "济南示范置业有限公司",
        "payee_card": CARD,
        "payee_bank": "中国工商银行济南分行",
        "payee_bank_code": "102451000010",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def application_of(
    center: Center, who: str, data: dict[str, object], app_id: int | None = None
) -> dict[str, Any]:
    """What the engine hands a handler (no stored application needed for a preview)."""
    return {"id": app_id, "item_code": "LN-APPLY", "member_id": center.members[who].id, "payload": data}


def submit(
    center: Center, data: dict[str, object], member: str = "a", key: str = "k1"
) -> applications.Application:
    """A teller files the application for ``member`` with every required material and submits it."""
    teller = center.people["teller01"]
    with write_transaction(center.engine) as conn:
        app = applications.submit(
            conn, center.ctx, teller, "LN-APPLY", data,
            member_account_no=center.members[member].account_no, idempotency_key=key,
        )  # fmt: skip
        for code in REQUIRED_MATERIALS:
            applications.add_material(conn, center.ctx, teller, app.id, code, f"{code}.pdf", PDF)
        return applications.complete_submission(conn, center.ctx, teller, app.id)
