"""The business simulator: ``hpf simulate --months N`` lives N months of a center in seconds.

Each month, on the stored business date: some employers hire and some staff leave (sealed) or
move to another employer (internal transfer); employers send their lists and the bank reports
their payments — most on time, a few late (catching up with two lists the next month), a few
not at all (arrears), a few short (partial receipts topped up later); then month-end runs,
and on 30 June the annual interest settlement. Everything goes through the same use cases as
a real center, so the simulated history is one the ledger check accepts. From the 20th a few
members apply for withdrawals of every reason (``hpf.sim.withdrawals``); after month-end a
reviewer decides the flagged ones and the payment run pays them at a fake bank held in memory
(or the bank given), which refuses a few. Members also apply for housing loans, which are
reviewed, disbursed, collected at month-end, fall overdue, recover, prepay and are re-priced on
1 January (``hpf.sim.loans``); at the end the default scorecard is trained on that history.
At each month-end the electronic audit's rule pack runs (``hpf.inspection.service.scan``): the
summary keeps each month's count of findings; so do the borrowers' early-warning rules
(``hpf.planning.warning.scan``), with each month's count of loans newly warned.

It stops mid-stream, as a center's working day does, with work in every queue
(``_World.leave_work``): on the last day a few employers have paid the new month early (receipts
not yet allocated), members have filed withdrawals (the straight-through ones reserved for the
next payment run, the flagged ones under review) and loan applications (under review), and two
maker-checker requests wait for a second person: the reversal of a bank notice recorded twice,
and next July's base cap. ``hpf simulate`` run again picks them all up.

Deterministic for a seed and a starting database. Employers' behaviour is a fixed trait per
employer (from its id and the seed), so "the late payer" stays late across months.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from hpf.accounts import queries as accounts_queries
from hpf.accounts import service as accounts
from hpf.approvals import service as approvals
from hpf.contributions import service as contributions
from hpf.contributions.month_end import run_month_end
from hpf.contributions.queries import remittances_subquery
from hpf.contributions.rules import Kind, ListRow, add_months, due_month, month_end, month_of
from hpf.db.calendar import set_business_date, stored_business_date
from hpf.db.engine import read_transaction, write_transaction
from hpf.inspection.service import scan as inspection_scan
from hpf.interest.service import settle_year_with_policy
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.identifiers import resident_id_check_digit
from hpf.kernel.records import fields_of
from hpf.ledger import service as ledger
from hpf.planning.liquidity import record_alerts
from hpf.planning.service import liquidity_view
from hpf.planning.warning import scan as early_warning_scan
from hpf.policy.rules import contribution_parts
from hpf.policy.service import policy_at
from hpf.settlement.adapter import BankAdapter
from hpf.settlement.fakebank import FakeBank, in_process
from hpf.settlement.service import send_reserved
from hpf.sim import names
from hpf.sim.loans import LoanActor, LoanSummary
from hpf.sim.withdrawals import WithdrawalActor, WithdrawalSummary, makers, staff
from hpf.supervision.service import report_month
from hpf.transfers.link import installed as installed_link
from hpf.warehouse.build import build as build_warehouse

Progress = Callable[[str, int, int], None]

APPLY_DAY = 20  # withdrawal applications are filed from this day of the month
PAYDAY = 10  # the day of the month the simulated employers pay (their 发薪日 in practice varies)
LATE_SHARE = 0.04  # employers that often pay a month late
DELINQUENT_SHARE = 0.01  # employers that stop paying
PARTIAL_SHARE = 0.01  # payments that arrive short
HIRING_SHARE = 0.08  # employers hiring in a month
LEAVING_SHARE = 0.004  # staff leaving in a month (sealed)
REHIRE_SHARE = 0.15  # sealed staff who join another employer in a month


@dataclass
class SimulationSummary:
    months: int = 0
    hires: int = 0
    leavers: int = 0
    transfers: int = 0
    lists: int = 0
    receipts: int = 0
    late: int = 0
    missing: int = 0
    partial: int = 0
    settlements: int = 0
    withdrawals: WithdrawalSummary = field(default_factory=WithdrawalSummary)
    loans: LoanSummary = field(default_factory=LoanSummary)
    inspection_findings: list[int] = field(default_factory=list)  # the audit pack's, each month-end
    early_warnings: list[int] = field(default_factory=list)  # loans newly warned, each month-end
    scorecard_auc: Decimal | None = None  # the default scorecard trained at the end, if the book allows
    last_business_date: str = ""
    reports: int = 0  # months reported to the hub (decision 0039)
    liquidity_alerts: int = 0  # liquidity alerts stored at the month-ends (decision 0038)


def simulate(
    engine: Engine,
    center_code: str,
    *,
    months: int,
    seed: int = 7,
    progress: Progress | None = None,
    bank: tuple[BankAdapter, FakeBank] | None = None,
    warehouse: Path | None = None,
    report_key: bytes | None = None,
) -> SimulationSummary:
    """Run ``months`` months from the stored business date; leaves it at the next month's first day.

    Payouts go to ``bank`` (the adapter and the fake bank behind it, whose faults the simulator
    arms), by default a fake bank in this process. With ``warehouse`` (a DuckDB file), the
    center's warehouse is built after each month-end, as the nightly job does (``hpf.warehouse``).
    With ``report_key`` (the national reporting
    key) and a hub link installed, each month is reported to the hub the day after its month-end
    (``hpf.supervision.service.report_month``, decision 0039).
    """
    with read_transaction(engine) as conn:
        start = stored_business_date(conn)
    if start is None:
        raise HpfError("sim.no_business_date", "未设置业务日期", "set a business date first (hpf clock set)")
    clock = FixedClock(start)
    ctx = Context(actor="sim", clock=clock, center_code=center_code, source="sim")
    if bank is None:
        fake = FakeBank(today=start)
        bank = (in_process(fake, center_code=center_code, secret=secrets.token_bytes(32)), fake)
    summary = SimulationSummary()
    world = _World(engine, ctx, random.Random(seed), seed, bank, summary)
    world.warehouse = warehouse
    world.report_key = report_key
    for n in range(months):
        world.live_month()
        summary.months += 1
        if progress:
            progress("months", n + 1, months)
    if months:
        world.leave_work()
    card = world.loans.train()
    summary.scorecard_auc = card.auc if card else None
    summary.last_business_date = clock.today().isoformat()
    return summary


class _World:
    report_key: bytes | None = None

    def __init__(
        self,
        engine: Engine,
        ctx: Context,
        rng: random.Random,
        seed: int,
        bank: tuple[BankAdapter, FakeBank],
        summary: SimulationSummary,
    ) -> None:
        self.engine, self.ctx, self.rng, self.seed, self.summary = engine, ctx, rng, seed, summary
        self.warehouse: Path | None = None
        with write_transaction(engine) as conn:
            people = staff(conn, ctx)
        self.withdrawals = WithdrawalActor(engine, ctx, rng, people, *bank)
        self.loans = LoanActor(engine, ctx, rng, people, self._drain, *bank)
        self.bank, self.fake = bank
        self.clock: FixedClock = ctx.clock  # type: ignore[assignment]
        self.surnames = [s for s, _ in names.SURNAMES]
        self.surname_weights = [w for _, w in names.SURNAMES]
        self.regions = [r for r, _ in names.ID_REGIONS]
        self.region_weights = [w for _, w in names.ID_REGIONS]

    def _drain(self, member_id: int, account_no: str) -> None:
        self.withdrawals.drain(member_id, account_no, self.summary.withdrawals)

    def _move_to(self, day: date) -> None:
        if day > self.clock.today():
            self.clock.set(day)
            with write_transaction(self.engine) as conn:
                set_business_date(conn, day)
            self.fake.today = day  # the bank's business day follows the center's

    def _trait(self, employer_id: int) -> float:
        """A fixed number in [0, 1) per employer: its payment behaviour."""
        return random.Random(employer_id * 7919 + self.seed).random()

    # ------------------------------------------------------------------------------- a month

    def live_month(self) -> None:
        summary = self.summary
        month = month_of(self.clock.today())
        if month[5:] == "01":
            self.loans.new_year(date(int(month[:4]), 1, 1))
        self._move_to(date(int(month[:4]), int(month[5:]), PAYDAY))
        with write_transaction(self.engine) as conn:
            self._staff_changes(conn, summary)
        with write_transaction(self.engine) as conn:
            self._payments(conn, month, summary)
        self._move_to(date(int(month[:4]), int(month[5:]), APPLY_DAY))
        self.withdrawals.file(summary.withdrawals)
        self.loans.file(summary.loans)
        self._move_to(month_end(month))
        run_month_end(self.engine, self.ctx, month)
        self.withdrawals.review(summary.withdrawals)
        self.loans.review(summary.loans)
        send_reserved(self.engine, self.ctx, self.bank, owner_kind="loan")  # the sellers are paid
        self.withdrawals.pay(summary.withdrawals)
        self.loans.month_end(month, month_end(month), summary.loans)
        if month[5:] == "06":
            settle_year_with_policy(self.engine, self.ctx, month_end(month))
            summary.settlements += 1
        summary.inspection_findings.append(
            len(inspection_scan(self.engine, at=month_end(month), ctx=self.ctx).findings)
        )
        with write_transaction(self.engine) as conn:  # early warning, liquidity alerts (decision 0038)
            summary.early_warnings.append(sum(early_warning_scan(conn, month_end(month)).values()))
            view = liquidity_view(conn, month_end(month))  # the day's alerts, as `hpf liquidity` stores
            summary.liquidity_alerts += record_alerts(conn, self.ctx, view.indicators)
        if self.warehouse is not None:  # the nightly build after the month-end
            build_warehouse(self.engine, self.warehouse, through=month_end(month))
        self._move_to(month_end(month) + timedelta(days=1))
        self._report(month)

    def _report(self, month: str) -> None:
        """The month's supervision report to the hub, when there is a hub and the key (0039)."""
        if self.report_key is None or installed_link().link is None:
            return
        with write_transaction(self.engine) as conn:
            report_month(conn, self.ctx, month, key=self.report_key)
        self.summary.reports += 1

    # ----------------------------------------------------------------- the last day's queues

    def leave_work(self) -> None:
        """Work left in every queue for a reviewer, finance and an administrator to try."""
        summary = self.summary
        month = month_of(self.clock.today())
        with write_transaction(self.engine) as conn:
            self._early_payments(conn, month, summary)
        self.withdrawals.file(summary.withdrawals)  # decided straight through, or waiting for review
        self.withdrawals.file_for_review(summary.withdrawals)
        self.loans.file(summary.loans)  # loans are always reviewed
        with write_transaction(self.engine) as conn:
            self._requests(conn, month)

    def _early_payments(self, conn: Any, month: str, summary: SimulationSummary) -> None:
        """A few punctual employers pay the new month on its first day: receipts and lists that
        wait for the month-end allocation."""
        employers = [e._asdict() for e in accounts_queries.employers_in_states(conn, ("01",))]
        due = [e for e in employers if due_month(e["paid_through"], e["opened_on"]) == month
               and self._trait(e["id"]) >= DELINQUENT_SHARE + LATE_SHARE]  # fmt: skip
        if not due:
            return
        for emp in self.rng.sample(due, max(1, len(due) // 10)):
            self._pay(conn, emp, month, summary)

    def _requests(self, conn: Any, month: str) -> None:
        """Two changes made by hand, each waiting for a second person (maker-checker)."""
        ctx, today = self.ctx, self.clock.today()
        finance, admin = makers(conn, ctx)
        remittance, employer = remittances_subquery(), accounts_queries.employer_refs_subquery()
        paid = conn.execute(
            select(remittance.c.employer_id, remittance.c.total_fen, employer.c.account_no)
            .join(employer, employer.c.id == remittance.c.employer_id)
            .where(remittance.c.state == "posted", employer.c.state == "01")
            .order_by(remittance.c.id.desc())
            .limit(1)
        ).first()  # fmt: skip
        if paid is not None:  # a bank notice keyed in twice: finance asks to reverse the second
            try:
                with conn.begin_nested():
                    twice = contributions.record_receipt(
                        conn, ctx, paid.account_no, int(paid.total_fen),
                        f"SIMDUP{paid.employer_id:07d}{month.replace('-', '')}", today,
                    )  # fmt: skip
                    reason = "银行到账通知重复录入"
                    approvals.submit(
                        conn, ctx, finance, approvals.LEDGER_REVERSAL,
                        {"entry_id": twice.entry_id, "reason": reason},
                        f"冲销记账凭证 #{twice.entry_id}：{reason}", idempotency_key=f"sim-reversal:{month}",
                    )  # fmt: skip
            except HpfError:
                pass
        july = date(today.year if today.month < 7 else today.year + 1, 7, 1)
        cap = policy_at(conn, today).base_cap_fen
        reason = "按上年度职工月平均工资调整缴存基数上限"
        try:
            with conn.begin_nested():
                approvals.submit(
                    conn, ctx, admin, approvals.POLICY_CHANGE,
                    {"key": "base_cap_fen", "effective_from": july.isoformat(),
                     "value": cap * 105 // 10_000 * 100, "reason": reason},
                    lambda change: f"{change['label_zh']}调整为{change['shown']}，{change['effective_from']}起生效：{reason}",
                    idempotency_key=f"sim-policy:{month}",
                )  # fmt: skip
        except HpfError:  # already scheduled for that day
            pass

    # ---------------------------------------------------------------------- staff changes

    def _staff_changes(self, conn: Any, summary: SimulationSummary) -> None:
        rng, ctx = self.rng, self.ctx
        open_employers = [
            (e.id, e.account_no) for e in accounts_queries.employers_in_states(conn, ("01", "02"))
        ]
        if not open_employers:
            return
        policy = policy_at(conn, ctx.clock.today())
        for _, account_no in open_employers:
            if rng.random() < HIRING_SHARE:
                for _ in range(1 + int(rng.random() * 3)):
                    person = self._person(conn, policy.base_floor_fen, policy.base_cap_fen)
                    accounts.open_member(conn, ctx, account_no, person)
                    summary.hires += 1
        member = accounts_queries.member_refs_subquery()
        active = conn.scalars(
            select(member.c.account_no).where(member.c.state == "01").order_by(member.c.id)
        ).all()
        for account_no in rng.sample(active, int(len(active) * LEAVING_SHARE)):
            accounts.seal_member(conn, ctx, account_no, "离职")
            summary.leavers += 1
        sealed = conn.scalars(
            select(member.c.account_no).where(member.c.state == "02").order_by(member.c.id)
        ).all()
        for account_no in rng.sample(sealed, int(len(sealed) * REHIRE_SHARE)):
            _, target = open_employers[int(rng.random() * len(open_employers))]
            try:
                accounts.transfer_member(conn, ctx, account_no, target, "入职新单位（内部转移）")
                summary.transfers += 1
            except HpfError:  # the same employer drawn again: no move this month
                continue

    def _person(self, conn: Any, floor_fen: int, cap_fen: int) -> dict[str, object]:
        rng = self.rng
        male = rng.random() < 0.52
        pool = names.MALE_GIVEN if male else names.FEMALE_GIVEN
        given = "".join(rng.choice(pool) for _ in range(1 if rng.random() < 0.22 else 2))
        name = rng.choices(self.surnames, self.surname_weights)[0] + given
        while True:
            birth = self.clock.today() - timedelta(days=int(365.25 * (20 + rng.random() * 25)))
            order = int(rng.random() * 500) * 2 + (1 if male else 0)
            first17 = f"{rng.choices(self.regions, self.region_weights)[0]}{birth:%Y%m%d}{order:03d}"
            resident_id = first17 + resident_id_check_digit(first17)
            if not accounts_queries.resident_id_taken(conn, resident_id):
                break
        wage = int(rng.lognormvariate(8.8, 0.45)) * 100
        return {"resident_id": resident_id, "name": name, "base_fen": min(max(wage, floor_fen), cap_fen)}

    # --------------------------------------------------------------------------- payments

    def _payments(self, conn: Any, month: str, summary: SimulationSummary) -> None:
        rng = self.rng
        # Deferred employers (缓缴) do not pay; sealed and closed ones have no active staff.
        employers = [e._asdict() for e in accounts_queries.employers_in_states(conn, ("01", "02"))]
        remittance = remittances_subquery()
        pending = {
            (r.employer_id): r for r in conn.execute(
                select(remittance.c.employer_id, remittance.c.id, remittance.c.total_fen)
                .where(remittance.c.state == "pending", remittance.c.kind == Kind.REMITTANCE.value)
            )
        }  # fmt: skip
        for emp in employers:
            trait = self._trait(emp["id"])
            if trait < DELINQUENT_SHARE:
                summary.missing += 1
                continue
            if emp["id"] in pending:  # last month's payment arrived short: the bank tops it up
                if contributions.get_remittance(conn, pending[emp["id"]].id).held:
                    continue  # a listed employer's list waits for the center's review (decision 0042)
                self._top_up(conn, emp, pending[emp["id"]])
                emp = fields_of(accounts.get_employer(conn, emp["account_no"]))
            due = due_month(emp["paid_through"], emp["opened_on"])
            if due > month:
                continue
            if trait < DELINQUENT_SHARE + LATE_SHARE and rng.random() < 0.5:
                summary.late += 1
                continue
            # Pay the due month; an employer behind pays a second month, allocated at once.
            for _ in range(2 if due < month else 1):
                paid = self._pay(conn, emp, due, summary)
                if not paid:
                    break
                emp = {**emp, "paid_through": due}
                due = add_months(due, 1)
                if due > month:
                    break

    def _pay(self, conn: Any, emp: dict[str, Any], month: str, summary: SimulationSummary) -> bool:
        ctx, rng = self.ctx, self.rng
        policy = policy_at(conn, month_end(month))
        staff = accounts.active_members(conn, emp["id"])
        if not staff:
            return False
        rows = []
        for n, m in enumerate(staff, start=1):
            er, mr = contribution_parts(m.base_fen, emp["employer_rate"], emp["member_rate"], policy)
            rows.append(ListRow(n, m.account_no, m.name, m.base_fen, er, mr))
        rem = contributions.submit_list(
            conn, ctx, emp["account_no"], kind=Kind.REMITTANCE, month=month, rows=rows, source="sim",
            idempotency_key=f"sim:{emp['account_no']}:{month}",
        )  # fmt: skip
        summary.lists += 1
        amount = rem.total_fen
        if rng.random() < PARTIAL_SHARE:
            amount -= 1 + int(rng.random() * amount // 2)
            summary.partial += 1
        contributions.record_receipt(
            conn,
            ctx,
            emp["account_no"],
            amount,
            f"SIM{emp['id']:07d}{month.replace('-', '')}",
            ctx.clock.today(),
        )
        self._arrives(amount, emp)
        summary.receipts += 1
        if amount < rem.total_fen or rem.held:  # a listed employer's list waits for its review
            return False
        if month < month_of(ctx.clock.today()):  # catching up: allocate now so the next month may follow
            contributions.allocate(conn, ctx, rem.id)
        return True

    def _top_up(self, conn: Any, emp: dict[str, Any], pending: Any) -> None:
        short = pending.total_fen - ledger.employer_balance_of(conn, emp["id"])
        if short > 0:
            ref = f"SIMTOP{pending.id:09d}"
            contributions.record_receipt(
                conn, self.ctx, emp["account_no"], short, ref, self.ctx.clock.today()
            )
            self._arrives(short, emp)
        contributions.allocate(conn, self.ctx, pending.id)

    def _arrives(self, amount: int, emp: dict[str, Any]) -> None:
        """The employer's money reaches the center's account at the (fake) bank, which pays from it."""
        self.fake.credit(amount, f"SIM{emp['id']:010d}", str(emp["account_no"]), "住房公积金汇缴")
