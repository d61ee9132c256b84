"""The electronic audit's planted defects: one planter per rule of ``hpf.inspection``'s pack.

Terms a service would refuse (a rate above the cap, a base under the floor) are legacy stock,
loaded through ``hpf.accounts.bulk``'s stock loaders. Behaviours go through the services as
people would do them: a member's base raised at the counter and a withdrawal filed the same day;
two strangers' claims paid to one card or on one contract, let through by a reviewer; an account
sealed years ago (the seal dated then) drained by a leave-the-city claim; two rent claims of
one year, the first filed months ago; a bank notice reversed by hand without a second person;
the registry's release of a mortgage still owed; a second contract for a borrower who holds one.

Each defect is tried in a savepoint: one the services refuse (a member who may not claim) is
rolled back and another candidate tried, so a planter plants ``count`` or as many as it could.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from hpf.access.permissions import Principal, Role
from hpf.accounts import bulk as accounts_bulk
from hpf.accounts import queries as accounts_queries
from hpf.accounts import service as accounts
from hpf.contributions import service as contributions
from hpf.contributions.rules import add_months, month_of
from hpf.identity import identity
from hpf.inspection.rules import rule_of
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.identifiers import luhn_check_digit
from hpf.ledger import queries as ledger_queries
from hpf.ledger import service as ledger
from hpf.loans.book import service as loans
from hpf.loans.calculator.schedule import Method
from hpf.loans.queries import active_loans_subquery
from hpf.policy.queries import policy_at, withdrawal_policy_at
from hpf.services import catalog
from hpf.services import service as applications
from hpf.sim.defects import PlantedDefect, Planter
from hpf.sim.withdrawals import FINANCE, PDF, staff

ACTOR = "sim-defects"
LIVE = ("01",)  # employers and members in state 正常


def _ctx(day: date, actor: str = ACTOR) -> Context:
    return Context(actor=actor, clock=FixedClock(day), center_code="", source="sim")


def _attempt(
    conn: Connection, rng: random.Random, candidates: Sequence[Any], count: int,
    plant_one: Callable[[Any], str | None], kind: str,
) -> list[PlantedDefect]:  # fmt: skip
    """Try candidates in a random order until ``count`` defects are planted; each in a savepoint."""
    planted: list[PlantedDefect] = []
    for candidate in rng.sample(list(candidates), len(candidates)):
        if len(planted) >= count:
            break
        try:
            with conn.begin_nested():
                obj = plant_one(candidate)
                if obj is None:
                    raise _Skip
        except (HpfError, _Skip):
            continue
        planted.append(PlantedDefect(kind, obj))
    return planted


class _Skip(Exception):
    """A candidate that did not take the defect (rolled back)."""


def _card(rng: random.Random) -> str:
    first18 = "621700" + "".join(str(rng.randrange(10)) for _ in range(12))
    return first18 + luhn_check_digit(first18)


def members_with_balance(
    conn: Connection, *, min_balance: int = 0, opened_before: date | None = None
) -> list[Any]:
    """Members in state 正常 with at least ``min_balance`` fen, by id."""
    m = accounts_queries.member_refs_subquery("m")
    b = ledger_queries.member_balances_subquery("b")
    stmt = (
        select(m.c.id, m.c.account_no, m.c.base_fen, (b.c.carried_fen + b.c.current_fen).label("balance"))
        .join(b, b.c.member_id == m.c.id)
        .where(m.c.state.in_(LIVE), b.c.carried_fen + b.c.current_fen >= min_balance)
        .order_by(m.c.id)
    )
    if opened_before is not None:
        stmt = stmt.where(m.c.opened_on < opened_before)
    return list(conn.execute(stmt))


def file_claim(
    conn: Connection, ctx: Context, people: tuple[Principal, Principal], code: str, account_no: str,
    payload: dict[str, Any],
) -> int | None:  # fmt: skip
    """A teller files ``code`` for a member with its materials; a reviewer lets a flagged one
    through. The application's id when it was approved, else None."""
    teller, reviewer = people
    row = applications.submit(conn, ctx, teller, code, payload, applicant_kind="member", member_account_no=account_no,
                              idempotency_key=f"{ACTOR}:{code}:{account_no}:{ctx.clock.today():%Y%m%d}")  # fmt: skip
    for material in catalog.item_at(conn, code, ctx.clock.today())["materials"]:
        if material["required"]:
            applications.add_material(
                conn, ctx, teller, row.id, material["code"], f"{material['code']}.pdf", PDF
            )
    decided = applications.complete_submission(conn, ctx, teller, row.id)
    if decided.state == "under_review":
        decided = applications.approve(conn, ctx, reviewer, row.id, "材料齐全，同意提取")
    return int(row.id) if decided.state == "approved" else None


def _payee(rng: random.Random, card: str | None = None) -> dict[str, Any]:
    return {"payee_name": "本人", "payee_card": card or _card(rng), "payee_bank": "中国建设银行"}


# --------------------------------------------------------------------- stock terms (bulk)


def _rates(over: bool) -> Planter:
    kind = "A-RATE-OVER-CAP" if over else "A-RATE-UNDER-FLOOR"

    def planter(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
        p = policy_at(conn, today)
        candidates = [
            e for e in accounts_queries.employers_in_states(conn, LIVE)
            if p.employer_rate_min <= e.employer_rate <= p.employer_rate_max
            and p.member_rate_min <= e.member_rate <= p.member_rate_max
        ]  # fmt: skip
        step = Decimal("0.01") * (1 + rng.randrange(3))
        er = p.employer_rate_max + step if over else p.employer_rate_min - step
        mr = p.member_rate_max + step if over else p.member_rate_min - step

        def one(e: Any) -> str | None:
            accounts_bulk.load_legacy_employer(conn, e.account_no, {"employer_rate": er, "member_rate": mr})
            return str(e.account_no)

        return _attempt(conn, rng, candidates, count, one, kind)

    return planter


def _bases(over: bool) -> Planter:
    kind = "A-BASE-OVER-CAP" if over else "A-BASE-UNDER-FLOOR"

    def planter(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
        p = policy_at(conn, today)
        candidates = [
            m for m in members_with_balance(conn) if p.base_floor_fen <= m.base_fen <= p.base_cap_fen
        ]

        def one(m: Any) -> str | None:
            base = (
                p.base_cap_fen + 100 * rng.randint(1, 5000)
                if over
                else p.base_floor_fen - 100 * rng.randint(1, 500)
            )
            if base <= 0:
                return None
            accounts_bulk.load_legacy_member(conn, m.account_no, {"base_fen": base})
            return str(m.account_no)

        return _attempt(conn, rng, candidates, count, one, kind)

    return planter


# ---------------------------------------------------------------------- behaviours (services)


def base_raised_before_withdrawal(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """The base raised by half at the counter, then an illness claim filed the same day."""
    ctx, p = _ctx(today), policy_at(conn, today)
    people = staff(conn, ctx)
    candidates = [
        m for m in members_with_balance(conn, min_balance=100_000) if m.base_fen * 3 // 2 <= p.base_cap_fen
    ]

    def one(m: Any) -> str | None:
        accounts.change_member(conn, ctx, m.account_no, {"base_fen": m.base_fen * 3 // 2}, "工资调整")
        payload = {**_payee(rng), "cost_fen": rng.randint(500_000, 5_000_000)}
        found = file_claim(conn, ctx, people, "WD-ILLNESS", m.account_no, payload)
        return None if found is None else str(found)

    return _attempt(conn, rng, candidates, count, one, "A-BASE-RAISED-BEFORE-WITHDRAWAL")


def rent_over_yearly_limit(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """Two rent claims of one natural year: the first (a year's rent) months ago, the second as
    soon as the interval allows. Both days lie in one year: this year if it has room, else last."""
    wp = withdrawal_policy_at(conn, today)
    interval = wp.rent_interval_months
    second = today if today.month > interval else date(today.year - 1, 12, 1)
    first_month = add_months(month_of(second), -interval)
    first = date(int(first_month[:4]), int(first_month[5:]), 1)
    need = wp.rent_monthly_cap_fen * (12 + interval)
    opened_before = date(first.year - 1, first.month, 1)
    candidates = members_with_balance(conn, min_balance=need, opened_before=opened_before)

    def one(m: Any) -> str | None:
        rent = {"rent_monthly_fen": wp.rent_monthly_cap_fen + 100_000}
        for day in (first, second):
            ctx = _ctx(day)
            if (
                file_claim(conn, ctx, staff(conn, ctx), "WD-RENT", m.account_no, {**_payee(rng), **rent})
                is None
            ):
                return None
        return str(m.account_no)

    return _attempt(conn, rng, candidates, count, one, "A-RENT-OVER-YEARLY-LIMIT")


def _shared(kind: str) -> Planter:
    """Two strangers' claims on one payee card (illness) or on one purchase contract."""

    def planter(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
        ctx = _ctx(today)
        people = staff(conn, ctx)
        members = members_with_balance(conn, min_balance=100_000)
        pairs = [(members[i], members[i + 1]) for i in range(0, len(members) - 1, 2)]

        def one(pair: tuple[Any, Any]) -> str | None:
            found: int | None = None
            if kind == "A-SAME-PAYEE-CARD":
                card = _card(rng)
                for m in pair:
                    payload = {**_payee(rng, card), "cost_fen": rng.randint(500_000, 5_000_000)}
                    found = file_claim(conn, ctx, people, "WD-ILLNESS", m.account_no, payload)
                    if found is None:
                        return None
            else:
                contract = f"备案{today:%Y}{rng.randrange(10**8):08d}"
                signed = (today - timedelta(days=rng.randint(10, 90))).isoformat()
                for m in pair:
                    payload = {**_payee(rng), "document_no": contract, "document_date": signed,
                               "cost_fen": 80_000_000 + rng.randrange(40_000_000)}  # fmt: skip
                    found = file_claim(conn, ctx, people, "WD-PURCHASE", m.account_no, payload)
                    if found is None:
                        return None
            return None if found is None else str(found)

        return _attempt(conn, rng, pairs, count, one, kind)

    return planter


def withdrawal_long_sealed(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """An account sealed long ago (the seal dated then) and a leave-the-city claim today."""
    ctx = _ctx(today)
    people = staff(conn, ctx)
    months = rule_of("A-WITHDRAW-LONG-SEALED").params["months"] + 2
    sealed_month = add_months(month_of(today), -months)
    sealed_on = date(int(sealed_month[:4]), int(sealed_month[5:]), 15)
    candidates = members_with_balance(conn, min_balance=1, opened_before=sealed_on)

    def one(m: Any) -> str | None:
        accounts.seal_member(conn, _ctx(sealed_on), m.account_no, "离职")
        payload = {**_payee(rng), "labour_ended": True, "emigrated": False}
        found = file_claim(conn, ctx, people, "WD-LEAVE", m.account_no, payload)
        return None if found is None else str(found)

    return _attempt(conn, rng, candidates, count, one, "A-WITHDRAW-LONG-SEALED")


def staff_own_account(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """A teller whose own account it is takes a claim at the counter (the staff register has
    the teller's ID number)."""
    ctx = _ctx(today)
    reviewer = staff(conn, ctx)[1]

    def one(m: Any) -> str | None:
        resident_id = accounts.get_member(conn, m.account_no).resident_id
        own = identity.create_staff(conn, ctx, f"sim-own-{m.id}", "模拟柜员", [Role.TELLER],
                                    secrets.token_urlsafe(24), resident_id=resident_id)  # fmt: skip
        payload = {**_payee(rng), "cost_fen": rng.randint(500_000, 3_000_000)}
        found = file_claim(conn, ctx, (own, reviewer), "WD-ILLNESS", m.account_no, payload)
        return None if found is None else str(found)

    return _attempt(
        conn, rng, members_with_balance(conn, min_balance=100_000), count, one, "A-STAFF-OWN-ACCOUNT"
    )


def manual_entry_without_approval(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """A bank notice keyed in, then reversed by finance's own hand: no maker-checker request."""
    ctx = _ctx(today)
    employers = accounts_queries.employers_in_states(conn, LIVE)

    def one(e: Any) -> str | None:
        ref = f"PLANT{e.id:07d}{rng.randrange(10**8):08d}"
        got = contributions.record_receipt(
            conn, ctx, e.account_no, rng.randint(10_000, 5_000_000), ref, today
        )
        entry = ledger.reverse(conn, got.entry_id, reason="到账通知录入错误", actor=FINANCE, clock=ctx.clock)
        return str(entry)

    return _attempt(conn, rng, employers, count, one, "A-MANUAL-ENTRY-NO-APPROVAL")


def _active_loans(conn: Connection) -> list[int]:
    active = active_loans_subquery("a")
    return [int(i) for i in conn.scalars(select(active.c.id).order_by(active.c.id))]


def collateral_released_unsettled(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """The registry reports the mortgage of a loan still owed as released (解除抵押)."""
    ctx = _ctx(today)

    def one(loan_id: int) -> str | None:
        certificate = loans.loan_view(conn, loan_id).certificate_no
        if certificate is None:
            return None
        notice = loans.CollateralNotice(f"PLANT-REL-{loan_id}", certificate, "release", today)
        stored = loans.ingest_collateral_events(conn, ctx, [notice], source="registry")["stored"]
        return str(loan_id) if stored else None

    return _attempt(conn, rng, _active_loans(conn), count, one, "A-COLLATERAL-RELEASED-UNSETTLED")


STOCK_APPLICATION = 10**12  # stock contracts carry no application of this system: ids above it


def borrower_multiple_loans(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """A second contract for a borrower who holds an active loan, loaded as legacy stock."""
    ctx = _ctx(today)

    def one(loan_id: int) -> str | None:
        held = loans.loan_view(conn, loan_id)
        terms = loans.LoanTerms(
            application_id=STOCK_APPLICATION + loan_id, borrower_id=held.borrower_id,
            principal_fen=held.principal_fen // 2, annual_rate=held.annual_rate, term_months=held.term_months,
            method=Method.EQUAL_INSTALLMENT if held.method == "01" else Method.EQUAL_PRINCIPAL,
            contract_date=today, first_due_date=today + timedelta(days=31),
            repayment_source=loans.RepaymentSource(held.repayment_source), house_nature=held.house_nature,
            second_home=True, house_price_fen=held.house_price_fen, floor_area=held.floor_area,
            guarantee_type="01", certificate_no=f"存量{loan_id:010d}",
        )  # fmt: skip
        return str(loans.create_loan(conn, ctx, terms))

    return _attempt(conn, rng, _active_loans(conn), count, one, "A-BORROWER-MULTIPLE-LOANS")


PLANTERS: dict[str, Planter] = {
    "A-RATE-OVER-CAP": _rates(over=True),
    "A-RATE-UNDER-FLOOR": _rates(over=False),
    "A-BASE-OVER-CAP": _bases(over=True),
    "A-BASE-UNDER-FLOOR": _bases(over=False),
    "A-BASE-RAISED-BEFORE-WITHDRAWAL": base_raised_before_withdrawal,
    "A-RENT-OVER-YEARLY-LIMIT": rent_over_yearly_limit,
    "A-SAME-PAYEE-CARD": _shared("A-SAME-PAYEE-CARD"),
    "A-SAME-CONTRACT": _shared("A-SAME-CONTRACT"),
    "A-WITHDRAW-LONG-SEALED": withdrawal_long_sealed,
    "A-STAFF-OWN-ACCOUNT": staff_own_account,
    "A-MANUAL-ENTRY-NO-APPROVAL": manual_entry_without_approval,
    "A-COLLATERAL-RELEASED-UNSETTLED": collateral_released_unsettled,
    "A-BORROWER-MULTIPLE-LOANS": borrower_multiple_loans,
}
