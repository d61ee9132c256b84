"""The simulator's housing loans: members borrow, repay, prepay, fall behind and catch up.

Each month a few members apply for a loan at the counter (``LN-APPLY``, the same application
engine and loan rules as everyone): a home of a random price, the largest loan the rules allow
(or less), a term, a method, repayment from the HPF account or by bank debit, sometimes a
co-borrower. A reviewer (not the teller: maker-checker) takes the queue riskiest first (the
scorecard's order once one is trained), approves what the rules allow and refuses the rest; the
payment run pays the sellers. At month-end the loan month-end collects the installments (a
borrower whose HPF balance no longer covers one falls behind), the daily overdue run counts days
past due, penalty and classes; some borrowers in arrears pay everything back at the counter,
others stay behind; a few prepay part of their loan or pay it off.

Bank-debit borrowers give a debit card; the month-end debits it at the simulator's fake bank
(BDC105) and a few debits are refused there (``DEBIT_FAILURES``, insufficient funds on the
card), so those installments fall overdue like any unpaid one.

Some borrowers meet hardship: each month a borrower may lose the job (the account is sealed,
nothing comes in), a serious illness takes the savings (a WD-ILLNESS withdrawal of the whole
balance) and the debit card is empty with a probability that rises with the installment against
income and the loan against the home, and falls with savings (``hardship_odds``). Their
installments then go unpaid and they do not catch up: the defaults the scorecard learns from.
The rate is far above a real center's (whose non-performing loans are well under 1 %), so that
a demo center has enough defaults to train on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, select

from hpf.access.permissions import Principal
from hpf.accounts import queries as accounts_queries
from hpf.accounts import service as accounts
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.identifiers import luhn_check_digit
from hpf.loans.application import handler as loan_application
from hpf.loans.book import service as loans
from hpf.loans.book.jobs import run_loan_daily, run_loan_month_end
from hpf.loans.calculator.schedule import PrepaymentChoice
from hpf.loans.debit.service import seq_prefix
from hpf.loans.queries import active_loans_subquery
from hpf.loans.scorecard import model as scorecard
from hpf.services import service as applications
from hpf.settlement.adapter import BankAdapter
from hpf.settlement.fakebank import FakeBank
from hpf.sim.withdrawals import file_at_counter

LOAN_SHARE = 0.0015  # of active members, applying for a loan in a month
RECOVERY_SHARE = 0.45  # borrowers in arrears who pay everything back at a month-end
PREPAY_SHARE = 0.01  # active loans partly prepaid in a month
PAYOFF_SHARE = 0.003  # active loans paid off in a month
DEBIT_FAILURES = 0.01  # bank debits (委托扣款) refused in a month for want of money on the card

Drain = Callable[[int, str], None]  # (member id, account no): the member's savings are withdrawn


def hardship_odds(features: Mapping[str, float] | None) -> float:
    """The monthly probability that a borrower meets hardship (a logistic in the features)."""
    if not features:
        return 0.01
    t = (
        -5.2
        + 3.0 * features["payment_to_base"]
        + 4.0 * features["ltv"]
        - 6.0 * min(features["balance_to_principal"], 1.0)
    )
    return 1 / (1 + math.exp(-t))


def round_request(maximum_fen: int) -> int:
    """What a borrower asks for when they want the most: whole 10,000 yuan, or whole 1,000 yuan
    below that; 0 when the most is under 1,000 yuan (nothing worth asking)."""
    for unit in (1_000_000, 100_000):  # 10,000 and 1,000 yuan, in fen
        if maximum_fen >= unit:
            return maximum_fen // unit * unit
    return 0


@dataclass
class LoanSummary:
    applied: int = 0
    approved: int = 0
    refused: int = 0
    recovered: int = 0
    hardships: int = 0
    prepaid: int = 0
    paid_off: int = 0
    debits_failed: int = 0


class LoanActor:
    """Files, reviews and services the simulated center's housing loans."""

    def __init__(
        self,
        engine: Engine,
        ctx: Context,
        rng: random.Random,
        staff: tuple[Principal, Principal],
        drain: Drain,
        bank: BankAdapter,
        fake: FakeBank,
    ) -> None:
        self.engine, self.ctx, self.rng = engine, ctx, rng
        self.teller, self.reviewer = staff
        self.drain = drain
        self.bank, self.fake = bank, fake
        self._certificates = 0

    # --------------------------------------------------------------------------- applying

    def file(self, summary: LoanSummary) -> None:
        today = self.ctx.clock.today()
        with read_transaction(self.engine) as conn:
            active = accounts_queries.count_members(conn, ("01",))
            top = accounts_queries.max_member_id(conn)
            count = max(1, int(active * LOAN_SHARE))
            picks = sorted({self.rng.randint(1, top) for _ in range(count * 3)}) if top else []
            member = accounts_queries.member_refs_subquery()
            people = conn.execute(
                select(member.c.id, member.c.account_no, member.c.employer_id)
                .where(member.c.id.in_(picks), member.c.state == "01")
                .order_by(member.c.id)
            ).all()[:count]
        for person in people:
            with write_transaction(self.engine) as conn:
                payload = self._payload(conn, person, today)
                try:
                    self._apply(conn, person.account_no, payload, summary)
                except HpfError:  # a form the rules cannot read: turned away at the counter
                    continue

    def _payload(self, conn: Connection, person: Any, today: date) -> dict[str, Any]:
        rng = self.rng
        price = rng.randrange(60, 400) * 1_000_000  # 60万 to 400万 yuan, in fen
        new_home = rng.random() < 0.6
        self._certificates += 1
        card = "622848" + "".join(str(rng.randrange(10)) for _ in range(12))
        payload: dict[str, Any] = {
            "term_months": rng.choice((120, 180, 240, 300, 360, 360)),
            "method": "equal-principal" if rng.random() < 0.15 else "equal-installment",
            "repayment_source": "bank_debit" if rng.random() < 0.3 else "hpf_account",
            "house_nature": "01" if new_home else "02",
            "second_home": rng.random() < 0.1,
            "house_price_fen": price,
            "appraisal_fen": price - rng.randrange(0, 10) * price // 100,
            "floor_area": str(rng.randrange(50, 160)),
            "guarantee_type": "01",
            "certificate_no": f"示({today.year})示范市不动产证明第{person.id:07d}{self._certificates:03d}号",
            "payee_name": "示范市安居置业有限公司" if new_home else "售房人",
            "payee_card": card + luhn_check_digit(card),
            "payee_bank": "中国农业银行",
            "payee_corporate": new_home,
        }
        if payload["repayment_source"] == "bank_debit":  # the borrower's own card (no draw: same world)
            own = f"621700{person.id:012d}"
            payload["debit_card"] = own + luhn_check_digit(own)
        wants_most = rng.random() >= 0.3
        if not wants_most:  # a sum of their own (which may exceed what the rules allow)
            payload["requested_fen"] = rng.randrange(20, 80) * 1_000_000
        if rng.random() < 0.3:  # a colleague (spouse, in life) borrows too
            member = accounts_queries.member_refs_subquery()
            other = conn.scalar(
                select(member.c.account_no)
                .where(
                    member.c.employer_id == person.employer_id,
                    member.c.id != person.id,
                    member.c.state == "01",
                )
                .limit(1)
            )
            if other:
                payload["co_borrower_account_nos"] = [other]
        if wants_most:  # the most the rules allow the household, rounded down to what people ask for
            asked = round_request(self._maximum(conn, person.id, payload))
            if asked:
                payload["requested_fen"] = asked
        return payload

    def _maximum(self, conn: Connection, member_id: int, payload: dict[str, Any]) -> int:
        """The most the rules would lend on ``payload`` today (0 when they cannot say)."""
        try:
            found = loan_application.decide(
                conn, self.ctx, {"id": None, "member_id": member_id, "payload": payload}
            )
        except HpfError:
            return 0
        return int(found.limit.amount_fen)

    def _apply(
        self, conn: Connection, account_no: str, payload: dict[str, Any], summary: LoanSummary
    ) -> None:
        key = f"sim-loan:{account_no}:{self.ctx.clock.today():%Y%m}"
        if (
            file_at_counter(conn, self.ctx, self.teller, loan_application.ITEM, account_no, payload, key)
            is None
        ):
            return
        summary.applied += 1

    def review(self, summary: LoanSummary) -> None:
        """The reviewer takes the loan queue in the engine's order and decides every application."""
        with read_transaction(self.engine) as conn:
            waiting = [
                r for r in applications.review_queue(conn, self.ctx.clock.today(), limit=10_000)
                if r.item_code == loan_application.ITEM and r.applicant_login == self.teller.login
            ]  # fmt: skip
        for row in waiting:
            failed = [r for r in (row.evaluation or {}).get("rules", []) if not r["passed"]]
            with write_transaction(self.engine) as conn:
                try:
                    if failed:
                        applications.reject(conn, self.ctx, self.reviewer, row.id, failed[0]["title_zh"])
                        summary.refused += 1
                    else:
                        applications.approve(conn, self.ctx, self.reviewer, row.id, "经审核符合贷款条件")
                        summary.approved += 1
                except HpfError:  # facts moved since the evaluation: it waits for the next review
                    continue

    # ------------------------------------------------------------------------ servicing

    def month_end(self, month: str, day: date, summary: LoanSummary) -> None:
        """Collection, the overdue run, then borrowers catching up, prepaying, paying off."""
        self._refuse_some_debits(month)
        done = run_loan_month_end(self.engine, self.ctx, month, bank=self.bank)
        failed = done.get("debits_failed", 0)  # present when the run had a bank
        summary.debits_failed += failed if isinstance(failed, int) else 0
        run_loan_daily(self.engine, self.ctx, day)
        loan, member = active_loans_subquery(), accounts_queries.member_refs_subquery()
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(
                    loan.c.id, loan.c.overdue_principal_fen, loan.c.overdue_interest_fen,
                    loan.c.penalty_accrued_fen, loan.c.days_past_due, loan.c.repayment_source,
                    member.c.id.label("member_id"), member.c.account_no, member.c.state.label("member_state"),
                    loan.c.features,
                )
                .join(member, member.c.id == loan.c.borrower_id)
                .order_by(loan.c.id)
            ).all()  # fmt: skip
        for row in rows:
            in_hardship = row.member_state != "01"  # sealed: no income, no catching up
            struck = self.rng.random() < hardship_odds(row.features)
            if struck and not in_hardship:
                with write_transaction(self.engine) as conn:
                    accounts.seal_member(conn, self.ctx, row.account_no, "失业（模拟）")
                self.drain(int(row.member_id), row.account_no)
                summary.hardships += 1
                continue
            act = self._choose(row, in_hardship)
            if act is None:
                continue
            try:
                with write_transaction(self.engine) as conn:
                    act(conn, f"sim:{row.id}:{month}", summary)
            except HpfError:  # not allowed today (first installment not yet due, more than owed …)
                continue

    def _choose(self, row: Any, in_hardship: bool) -> Callable[[Connection, str, LoanSummary], None] | None:
        """What the borrower does this month-end, if anything (the draws, in a fixed order)."""
        rng, ctx = self.rng, self.ctx
        if row.days_past_due > 0:
            if in_hardship or rng.random() >= RECOVERY_SHARE:
                return None
            owed = row.overdue_principal_fen + row.overdue_interest_fen + row.penalty_accrued_fen

            def recover(conn: Connection, key: str, summary: LoanSummary) -> None:
                loans.repay(conn, ctx, row.id, owed, loans.PaymentSource.BANK, key)
                summary.recovered += 1

            return recover
        if in_hardship:
            return None
        draw = rng.random()
        if draw < PAYOFF_SHARE:

            def pay_off(conn: Connection, key: str, summary: LoanSummary) -> None:
                loans.payoff(conn, ctx, row.id, loans.PaymentSource.BANK, key)
                summary.paid_off += 1

            return pay_off
        if draw < PAYOFF_SHARE + PREPAY_SHARE:
            choice = rng.choice(list(PrepaymentChoice))
            amount = rng.randrange(2, 11) * 1_000_000  # 2万 to 10万 yuan, in fen

            def prepay(conn: Connection, key: str, summary: LoanSummary) -> None:
                loans.prepay(conn, ctx, row.id, amount, choice, loans.PaymentSource.BANK, key)
                summary.prepaid += 1

            return prepay
        return None

    def _refuse_some_debits(self, month: str) -> None:
        """Arm the fake bank to refuse a few of the month's debits (by their 业务流水号).

        Drawn from a generator of its own per (month, loan), so the rest of the world is the same.
        """
        loan, member = active_loans_subquery(), accounts_queries.member_refs_subquery()
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(loan.c.id, member.c.state)
                .join(member, member.c.id == loan.c.borrower_id)
                .where(loan.c.repayment_source == "bank_debit")
            ).all()
        prefix = seq_prefix(self.ctx, month)
        for loan_id, state in rows:
            # A borrower in hardship (sealed: no income) has nothing on the card.
            if state != "01" or random.Random(f"debit:{month}:{loan_id}").random() < DEBIT_FAILURES:
                self.fake.arm("fail", f"{prefix}{loan_id:010d}")

    def new_year(self, day: date) -> None:
        """1 January: existing loans move to the rate of their bucket (REFERENCE §4.4)."""
        with write_transaction(self.engine) as conn:
            loans.reprice(conn, self.ctx, day)

    def train(self) -> scorecard.Scorecard | None:
        """The scorecard, retrained on the history so far (None while too few loans went bad)."""
        try:
            with write_transaction(self.engine) as conn:
                return scorecard.train(conn, self.ctx)
        except HpfError:
            return None
