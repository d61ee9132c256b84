"""The simulator's withdrawal applications: members ask for their money, as at a real counter.

Each month a few members apply (at the counter, through the same application engine and
withdrawal rules as everyone): mostly rent, purchase and loan repayment, some illness,
building, retirement, leaving, disability, death (by an heir) and "other". Most pass every rule
and are approved straight through; some are refused by a rule (a purchase contract too old, rent
asked too soon) or raise a risk flag and wait for a reviewer, who approves or refuses them at
month-end (a second staff login: maker-checker); "other" always goes to the reviewer. The
payment run then pays every reserved payout at the (fake) bank, which refuses a few: those
applications fail and the money goes back to the member.

Which member applies, for what and how much, is drawn from the simulator's seeded random
stream, so a run is repeatable.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from hpf.access.permissions import Principal, Role
from hpf.accounts import queries as accounts_queries
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.identifiers import luhn_check_digit
from hpf.ledger.service import member_balances
from hpf.services import catalog
from hpf.services import service as applications
from hpf.services.queries import under_review
from hpf.settlement.adapter import BankAdapter
from hpf.settlement.fakebank import FakeBank
from hpf.settlement.queries import order_nos
from hpf.settlement.rules import OrderState
from hpf.withdrawals import handler as withdrawal_handler
from hpf.withdrawals.rules import Reason
from hpf.withdrawals.service import eligibility, send_reserved

APPLY_SHARE = 0.005  # of active members, applying in a month
FAILING_PAYOUTS = 0.04  # payouts the bank refuses (wrong name on the card, closed card)
REVIEW_REFUSALS = 0.15  # risk-flagged applications a reviewer refuses
TELLER, REVIEWER = "sim-teller", "sim-reviewer"
FINANCE, ADMIN = "sim-finance", "sim-admin"
FOR_REVIEW = 2  # "other" withdrawals left for the reviewer when the simulation ends

# (item, weight): how often members apply for each reason.
ITEM_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("WD-RENT", 40), ("WD-PURCHASE", 15), ("WD-REPAY-ONCE", 8), ("WD-REPAY-MONTHLY", 8),
    ("WD-ILLNESS", 5), ("WD-BUILD", 4), ("WD-RETIRE", 5), ("WD-LEAVE", 5), ("WD-DISABILITY", 2),
    ("WD-DEATH", 2), ("WD-OTHER", 6),
)  # fmt: skip
PDF = b"%PDF-1.4\n% OpenHPF simulated material\n"


def file_at_counter(
    conn: Connection, ctx: Context, teller: Principal, code: str, account_no: str, payload: dict[str, Any],
    key: str, applicant_kind: str = "member",
) -> str | None:  # fmt: skip
    """A teller files an application of ``code`` for a member with every required material and
    submits it; the state the application was decided to (``approved`` straight through, or
    ``under_review``), or None when the key was filed already (a rerun)."""
    row = applications.submit(
        conn, ctx, teller, code, payload, applicant_kind=applicant_kind, member_account_no=account_no,
        idempotency_key=key,
    )  # fmt: skip
    if row.state != "submitted":
        return None
    for material in catalog.item_at(conn, code, ctx.clock.today())["materials"]:
        if material["required"]:
            applications.add_material(
                conn, ctx, teller, row.id, material["code"], f"{material['code']}.pdf", PDF
            )
    return applications.complete_submission(conn, ctx, teller, row.id).state


@dataclass
class WithdrawalSummary:
    applied: int = 0
    straight_through: int = 0
    reviewed: int = 0
    refused: int = 0
    paid: int = 0
    payout_failed: int = 0


def _principals(conn: Connection, ctx: Context, people: tuple[tuple[str, str, Role], ...]) -> list[Principal]:
    """The simulator's staff of ``people`` (login, name, role), created once with passwords no
    one knows."""
    found = {
        row.login: row.id
        for row in conn.execute(
            select(identity.principal.c.login, identity.principal.c.id).where(
                identity.principal.c.login.in_([login for login, _, _ in people])
            )
        )
    }
    out = []
    for login, name, role in people:
        if login in found:
            out.append(identity.get_principal(conn, int(found[login])))
        else:
            out.append(identity.create_staff(conn, ctx, login, name, [role], secrets.token_urlsafe(24)))
    return out


def staff(conn: Connection, ctx: Context) -> tuple[Principal, Principal]:
    """The simulator's teller and reviewer."""
    teller, reviewer = _principals(
        conn, ctx, ((TELLER, "模拟柜员", Role.TELLER), (REVIEWER, "模拟复核", Role.REVIEWER))
    )
    return teller, reviewer


def makers(conn: Connection, ctx: Context) -> tuple[Principal, Principal]:
    """The simulator's finance officer and administrator, who ask for changes made by hand."""
    finance, admin = _principals(
        conn, ctx, ((FINANCE, "模拟财务", Role.FINANCE), (ADMIN, "模拟管理员", Role.ADMIN))
    )
    return finance, admin


def _card(rng: random.Random) -> str:
    first18 = "622202" + "".join(str(rng.randrange(10)) for _ in range(12))
    return first18 + luhn_check_digit(first18)


class WithdrawalActor:
    """Files, reviews and pays the month's withdrawal applications of a simulated center."""

    def __init__(
        self, engine: Engine, ctx: Context, rng: random.Random, staff: tuple[Principal, Principal],
        bank: BankAdapter, fake: FakeBank,
    ) -> None:  # fmt: skip
        self.engine, self.ctx, self.rng, self.bank, self.fake = engine, ctx, rng, bank, fake
        self.teller, self.reviewer = staff

    def file(self, summary: WithdrawalSummary) -> None:
        """This month's applicants apply, each in their own transaction."""
        today = self.ctx.clock.today()
        with read_transaction(self.engine) as conn:
            active = accounts_queries.count_members(conn, ("01", "02"))
            count = max(1, int(active * APPLY_SHARE))
            # A uniform sample by id, drawn in SQL (the member table may hold millions).
            top = accounts_queries.max_member_id(conn)
            picks = sorted({self.rng.randint(1, top) for _ in range(count * 2)}) if top else []
            member = accounts_queries.member_refs_subquery()
            people = conn.execute(
                select(member.c.id, member.c.account_no, member.c.state).where(
                    member.c.id.in_(picks), member.c.state.in_(("01", "02"))
                )
            ).all()[:count]
        codes = [c for c, _ in ITEM_WEIGHTS]
        weights = [w for _, w in ITEM_WEIGHTS]
        for person in people:
            code = self.rng.choices(codes, weights)[0]
            with write_transaction(self.engine) as conn:
                payload = self._payload(conn, code, int(person.id), person.state, today)
                if payload is None:
                    continue
                try:
                    self._apply(conn, code, person.account_no, payload, summary)
                except HpfError:  # a payload the rules cannot read: the counter turns it away
                    continue

    def file_for_review(self, summary: WithdrawalSummary) -> None:
        """A few "other" withdrawals (always reviewed by a person), left in the review queue."""
        today = self.ctx.clock.today()
        member = accounts_queries.member_refs_subquery()
        with read_transaction(self.engine) as conn:
            people = conn.execute(
                select(member.c.id, member.c.account_no, member.c.state)
                .where(member.c.state == "01")
                .order_by(member.c.id)
                .limit(200)
            ).all()
        filed = 0
        for person in self.rng.sample(people, len(people)):
            if filed >= FOR_REVIEW:
                break
            with write_transaction(self.engine) as conn:
                payload = self._payload(conn, "WD-OTHER", int(person.id), person.state, today)
                if payload is None:
                    continue
                before = summary.applied
                try:
                    self._apply(conn, "WD-OTHER", person.account_no, payload, summary)
                except HpfError:
                    continue
                filed += summary.applied - before

    def _payload(
        self, conn: Connection, code: str, member_id: int, state: str, today: date
    ) -> dict[str, Any] | None:
        rng = self.rng
        reason = withdrawal_handler.ITEMS[code][0]
        overview = {o.reason: o for o in eligibility(conn, member_id, today)}
        seen = overview.get(reason)
        if seen is None or (seen.up_to_fen <= 0 and reason is not Reason.RENT):
            return None
        base: dict[str, Any] = {"payee_name": "本人", "payee_card": _card(rng), "payee_bank": "中国工商银行"}
        up_to = max(seen.up_to_fen, 1)
        if reason is Reason.RENT:
            base["rent_monthly_fen"] = rng.choice((80_000, 120_000, 150_000, 250_000))
        elif reason in (Reason.PURCHASE, Reason.BUILD):
            stale = rng.random() < 0.1  # a contract older than the window: refused by the rule
            base["document_date"] = (
                today - timedelta(days=500 if stale else rng.randint(5, 200))
            ).isoformat()
            base["document_no"] = f"SIM-{code}-{member_id}-{today:%Y%m}"
            base["cost_fen"] = up_to + rng.randint(0, 50_000_000)
        elif reason is Reason.LOAN_REPAYMENT:
            if code == "WD-REPAY-MONTHLY":
                base["installment_fen"] = rng.choice((150_000, 200_000, 300_000))
            else:
                base["cost_fen"] = up_to + rng.randint(0, 20_000_000)
            base["document_no"] = f"SIM-LOAN-{member_id}"
        elif reason is Reason.ILLNESS:
            base["cost_fen"] = rng.randint(500_000, 10_000_000)
        elif reason in (Reason.RETIREMENT, Reason.DISABILITY, Reason.DEATH):
            base["document_date"] = (today - timedelta(days=rng.randint(1, 60))).isoformat()
            base["labour_ended"] = True
            base["applicant_is_heir"] = reason is Reason.DEATH
        elif reason is Reason.LEAVING:
            base["labour_ended"] = True
            base["emigrated"] = state != "02" or rng.random() < 0.2  # else: sealed long enough?
        elif reason is Reason.OTHER:
            base["requested_fen"] = min(up_to, rng.randint(100_000, 2_000_000))
            base["document_no"] = f"SIM-OTHER-{member_id}-{today:%Y%m}"
        return base

    def _apply(self, conn: Connection, code: str, account_no: str, payload: dict[str, Any],
               summary: WithdrawalSummary) -> None:  # fmt: skip
        today = self.ctx.clock.today()
        kind = "heir" if code == "WD-DEATH" else "member"
        key = f"sim:{account_no}:{code}:{today:%Y%m}"
        state = file_at_counter(conn, self.ctx, self.teller, code, account_no, payload, key, kind)
        if state is None:
            return
        summary.applied += 1
        if state == "approved":
            summary.straight_through += 1

    def drain(self, member_id: int, account_no: str, summary: WithdrawalSummary) -> None:
        """A serious illness takes the member's savings: a WD-ILLNESS claim for the whole balance."""
        with write_transaction(self.engine) as conn:
            balance = sum(member_balances(conn, [member_id]).get(member_id, (0, 0)))
            if balance <= 0:
                return
            payload = {"payee_name": "本人", "payee_card": _card(self.rng), "payee_bank": "中国工商银行",
                       "cost_fen": balance + self.rng.randrange(0, 5_000_000)}  # fmt: skip
            try:
                self._apply(conn, "WD-ILLNESS", account_no, payload, summary)
            except HpfError:
                return

    def review(self, summary: WithdrawalSummary) -> None:
        """The reviewer clears the queue: refuses what a rule refuses, decides the flagged ones."""
        with read_transaction(self.engine) as conn:
            waiting = under_review(conn, item_prefix="WD-", applicant_login=TELLER)
        for app_id, evaluation in waiting:
            failed = [r for r in (evaluation or {}).get("rules", []) if not r["passed"]]
            with write_transaction(self.engine) as conn:
                if failed:
                    applications.reject(conn, self.ctx, self.reviewer, int(app_id), failed[0]["title_zh"])
                    summary.refused += 1
                elif self.rng.random() < REVIEW_REFUSALS:
                    applications.reject(
                        conn, self.ctx, self.reviewer, int(app_id), "经核查，证明材料与申请情形不符"
                    )
                    summary.refused += 1
                else:
                    applications.approve(
                        conn, self.ctx, self.reviewer, int(app_id), "经核查材料真实，准予提取"
                    )
                summary.reviewed += 1

    def pay(self, summary: WithdrawalSummary) -> None:
        """The payment run at the bank; a few payouts are refused there and come back."""
        with read_transaction(self.engine) as conn:
            waiting = order_nos(conn, owner_kind="withdrawal", state=OrderState.RESERVED)
        for order_no in waiting:  # the bank will refuse these (a name that does not match the card)
            if self.rng.random() < FAILING_PAYOUTS:
                self.fake.arm("fail", order_no)
        counts = send_reserved(self.engine, self.ctx, self.bank)
        summary.paid += counts.get("paid", 0)
        summary.payout_failed += counts.get("failed", 0)
