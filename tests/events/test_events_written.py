"""Every state change of a business object writes one business event, in its transaction.

A table of the center's state-changing use cases, each run on a small center built through the
real use cases (``withdrawal_support``), with the events each writes — exactly these, once each,
in this order. A request that is refused after it changed something writes none: its whole
transaction rolls back, events included.

Integration tier: SQLite and PostgreSQL; the payout through the in-process fake bank.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select

from factories import employer_payload, member_payload
from hpf import events
from hpf.access.permissions import Role
from hpf.accounts import service as accounts
from hpf.accounts.rules import CloseKind
from hpf.app import create_app
from hpf.approvals import service as approvals
from hpf.contributions import service as contributions
from hpf.contributions.month_end import run_month_end
from hpf.contributions.rules import Kind, ListRow
from hpf.contributions.tables import remittance
from hpf.db.engine import read_transaction, write_transaction
from hpf.events.tables import business_event
from hpf.identity import identity
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import JournalEntry, Line
from hpf.loans.book import service as loans
from hpf.loans.calculator.schedule import Method
from hpf.policy.service import policy_at
from hpf.services import catalog
from hpf.services import service as applications
from hpf.settings import Settings
from hpf.settlement.service import send_reserved
from services_support import JPG, PDF, PNG
from settlement_support import CARD
from signing_in import FAST_PASSWORDS, PASSWORD, use_session
from withdrawal_support import BASE_FEN, RentCenter, build_rent_center

FILES = {"image/png": PNG, "application/pdf": PDF, "image/jpeg": JPG}


def _last(engine) -> int:
    with read_transaction(engine) as conn:
        return int(conn.scalar(select(func.coalesce(func.max(business_event.c.id), 0))) or 0)


def _since(engine, last: int) -> list[str]:
    with read_transaction(engine) as conn:
        return [e.type for e in events.events_since(conn, last)]


def written(center: RentCenter, change: Callable[[Connection], Any]) -> tuple[list[str], Any]:
    """The events ``change`` writes in one transaction, and what it returned."""
    last = _last(center.engine)
    with write_transaction(center.engine) as conn:
        result = change(conn)
    return _since(center.engine, last), result


def _staff(center: RentCenter) -> None:
    with write_transaction(center.engine) as conn:
        for login, role in (("admin01", Role.ADMIN), ("admin02", Role.ADMIN),
                            ("finance01", Role.FINANCE), ("finance02", Role.FINANCE)):  # fmt: skip
            center.people[login] = identity.create_staff(
                conn, center.ctx, login, login, [role], PASSWORD, passwords=FAST_PASSWORDS
            )


def test_each_change_writes_its_events_once(engine, bank):
    c = build_rent_center(engine)
    _staff(c)
    ctx, emp_no = c.ctx, c.employer.account_no

    # -- accounts
    def types(change: Callable[[Connection], Any]) -> list[str]:
        return written(c, change)[0]

    _, wang = written(c, lambda conn: accounts.open_member(conn, ctx, emp_no, member_payload(3, name="王五")))
    _, other = written(c, lambda conn: accounts.register_employer(conn, ctx, employer_payload(2)))
    no = wang.account_no
    with read_transaction(c.engine) as conn:
        opened = [e.type for e in events.events_since(conn, 0, ["member.opened", "employer.opened"])]
    assert opened[-2:] == ["member.opened", "employer.opened"]
    steps: list[tuple[Callable[[Connection], Any], str]] = [
        (lambda conn: accounts.change_member(conn, ctx, no, {"phone": "13700137003"}, "换号"), "member.changed"),
        (lambda conn: accounts.seal_member(conn, ctx, no, "离职"), "member.sealed"),
        (lambda conn: accounts.unseal_member(conn, ctx, no, "复职"), "member.unsealed"),
        (lambda conn: accounts.freeze_member(conn, ctx, no, "司法冻结"), "member.frozen"),
        (lambda conn: accounts.unfreeze_member(conn, ctx, no, "解除冻结"), "member.unfrozen"),
        (lambda conn: accounts.transfer_member(conn, ctx, no, other.account_no, "调动"), "member.transferred"),
        (lambda conn: accounts.close_member(conn, ctx, no, CloseKind.WITHDRAWN, "销户"), "member.closed"),
        (lambda conn: accounts.change_employer(conn, ctx, emp_no, {"payday": 15}, "改发薪日"), "employer.changed"),
    ]  # fmt: skip
    for change, expected in steps:
        assert types(change) == [expected]

    # -- contributions
    part = BASE_FEN * 12 // 100
    rows = [ListRow(n, m.account_no, m.name, BASE_FEN, part, part) for n, m in enumerate((c.member, c.colleague), 1)]  # fmt: skip
    kw: dict[str, Any] = {"kind": Kind.REMITTANCE, "month": "2025-04", "rows": rows, "source": "api"}
    submitted, april = written(c, lambda conn: contributions.submit_list(conn, ctx, emp_no, **kw, idempotency_key="e-04"))  # fmt: skip
    assert submitted == ["remittance.submitted"]
    today = ctx.clock.today()
    assert types(lambda conn: contributions.record_receipt(conn, ctx, emp_no, april.total_fen, "B-04", today)) == [
        "receipt.recorded"
    ]  # fmt: skip
    with read_transaction(c.engine) as conn:
        march = conn.scalar(select(remittance.c.id).where(remittance.c.month == "2025-03"))

    def correct(conn: Connection) -> None:
        to = c.colleague.account_no
        contributions.correct_wrong_payment(conn, ctx, march, c.member.account_no, 100, "错记", "fix-1", to_account_no=to)  # fmt: skip

    assert types(correct) == ["remittance.corrected"]
    assert types(correct) == []  # the same request again changes nothing

    def adjust(conn: Connection) -> None:
        bases = {c.member.account_no: BASE_FEN + 100}
        contributions.adjust_base_and_rates(conn, ctx, emp_no, employer_rate="0.12", member_rate="0.12", bases=bases, reason="调基")  # fmt: skip

    assert types(adjust) == ["employer.adjusted"]

    # -- a withdrawal: straight through, then paid by the payment run
    payload = {"rent_monthly_fen": 150_000, "requested_fen": 300_000, "payee_name": "张三", "payee_card": CARD,
               "payee_bank": "中国工商银行济南分行"}  # fmt: skip
    zhang = c.people["zhang"]
    submitted, app = written(c, lambda conn: applications.submit(conn, ctx, zhang, "WD-RENT", payload))
    assert submitted == ["application.submitted"]
    with read_transaction(c.engine) as conn:
        needed = [
            m for m in catalog.item_at(conn, "WD-RENT", ctx.clock.today())["materials"] if m["required"]
        ]
    for m in needed:

        def add(conn: Connection, code: str = m["code"]) -> None:
            applications.add_material(conn, ctx, zhang, app.id, code, "f.pdf", PDF)

        assert types(add) == ["application.material_added"]
    assert types(lambda conn: applications.complete_submission(conn, ctx, zhang, app.id)) == [
        "application.accepted", "application.under_review", "application.approved",
        "payment_order.reserved", "withdrawal.reserved",
    ]  # fmt: skip
    last = _last(c.engine)
    assert send_reserved(c.engine, ctx, bank) == {"paid": 1}
    assert _since(c.engine, last) == [
        "payment_order.sent",  # committed before the bank is called
        "payment_order.paid", "withdrawal.paid", "application.executed",  # the answer, one transaction
    ]  # fmt: skip
    assert types(lambda conn: applications.rate(conn, ctx, zhang, app.id, 5, "好")) == ["application.rated"]

    # -- maker-checker: a policy change approved, a reversal approved, one rejected
    admin01, admin02 = c.people["admin01"], c.people["admin02"]
    with read_transaction(c.engine) as conn:
        cap = policy_at(conn, ctx.clock.today()).base_cap_fen
    change = {"key": "base_cap_fen", "effective_from": "2025-07-01", "value": cap * 105 // 10_000 * 100,
              "reason": "按上年度职工月平均工资调整"}  # fmt: skip
    asked_for, asked = written(c, lambda conn: approvals.submit(conn, ctx, admin01, approvals.POLICY_CHANGE, change, "调整上限"))  # fmt: skip
    assert asked_for == ["approval.submitted"]  # the trial's events rolled back with it
    assert types(lambda conn: approvals.approve(conn, ctx, admin02, asked.id)) == [
        "approval.approved", "policy_value.scheduled"
    ]  # fmt: skip
    _, extra = written(c, lambda conn: contributions.record_receipt(conn, ctx, emp_no, 500, "B-DUP", today))
    f1, f2 = c.people["finance01"], c.people["finance02"]
    refund = {"employer_account_no": emp_no, "amount_fen": 1, "reason": "多缴"}
    _, asked = written(
        c, lambda conn: approvals.submit(conn, ctx, f1, approvals.FUNDS_REFUND, refund, "退款")
    )
    assert types(lambda conn: approvals.reject(conn, ctx, f2, asked.id, "不退")) == ["approval.rejected"]
    reversal = {"entry_id": extra.entry_id, "reason": "重复录入"}
    _, asked = written(c, lambda conn: approvals.submit(conn, ctx, f1, approvals.LEDGER_REVERSAL, reversal, "冲销"))  # fmt: skip
    assert types(lambda conn: approvals.approve(conn, ctx, f2, asked.id)) == [
        "approval.approved", "journal_entry.reversed"
    ]  # fmt: skip

    # -- a loan made, disbursed, repaid
    terms = loans.LoanTerms(
        application_id=900_001, borrower_id=c.member.id, principal_fen=12_000_000, annual_rate=Decimal("0.026"),
        term_months=12, method=Method.EQUAL_INSTALLMENT, contract_date=today, first_due_date=date(2025, 5, 31),
        repayment_source=loans.RepaymentSource.HPF_ACCOUNT, house_nature="01", second_home=False,
        house_price_fen=100_000_000, floor_area=Decimal("89.50"), guarantee_type="01",
        certificate_no="鲁(2025)济南市不动产证明第0900001号", appraisal_fen=98_000_000,
    )  # fmt: skip
    made, loan_id = written(c, lambda conn: loans.create_loan(conn, ctx, terms))
    assert made == ["loan.created"]

    def disburse(conn: Connection) -> None:
        entry = ledger.post(conn, JournalEntry("01", f"LOAN-{loan_id}", f"disburse:{loan_id}", today, today, (
            Line("121", Side.DEBIT, 12_000_000), Line("101", Side.CREDIT, 12_000_000)), memo="贷款发放"), ctx.clock)  # fmt: skip
        loans.activate(conn, ctx, loan_id, today, entry)

    assert types(disburse) == ["loan.activated"]  # no settlement order: no application told

    # -- the month-end: a set-based event per list allocated, one for the run
    c.clock.set(date(2025, 4, 30))
    last = _last(c.engine)
    assert run_month_end(c.engine, ctx, "2025-04").lists_allocated == 1
    assert _since(c.engine, last) == ["remittance.allocated", "batch_job.finished"]
    assert types(lambda conn: ledger.close_period(conn, ctx, "2025-03")) == ["ledger_period.closed"]
    assert types(lambda conn: ledger.close_period(conn, ctx, "2025-03")) == []  # closed already

    c.clock.set(date(2025, 5, 31))
    with read_transaction(c.engine) as conn:
        first = loans.installments(conn, loan_id)[0]
    installment = first.principal_fen + first.interest_fen

    def repay(conn: Connection) -> None:
        loans.repay(conn, ctx, loan_id, installment, loans.PaymentSource.BANK, "r-1")

    assert types(repay) == ["loan.repaid"]
    assert types(repay) == []  # replayed: the first answer, nothing written


def test_a_refused_request_writes_no_event(engine):
    """The form is refused (a material is missing) after the application was stored and its
    first material added: the request's transaction rolls back, with its events."""
    c = build_rent_center(engine)
    settings = Settings(env="development", database_url=str(c.engine.url), center_code="990001")
    app = create_app(settings, engine=c.engine, clock=c.clock, passwords=FAST_PASSWORDS)
    last = _last(c.engine)
    with TestClient(app) as client:
        use_session(client, c.people["zhang"])
        refused = client.post(
            f"/members/{c.member.account_no}/withdrawals/WD-RENT/apply",
            data={"payee_name": "张三", "payee_card": CARD, "payee_bank": "中国工商银行济南分行", "rent_monthly_fen": "1500"},
            files={"m_M-ID": ("id.png", PNG, "image/png")},
            follow_redirects=False,
        )  # fmt: skip
        assert refused.status_code == 422 and "申请材料不全" in refused.text
        assert _since(c.engine, last) == []
        done = client.post(
            f"/members/{c.member.account_no}/withdrawals/WD-RENT/apply",
            data={"payee_name": "张三", "payee_card": CARD, "payee_bank": "中国工商银行济南分行", "rent_monthly_fen": "1500"},
            files={"m_M-ID": ("id.png", PNG, "image/png"), "m_M-LEASE": ("lease.pdf", PDF, "application/pdf"),
                   "m_M-BANK": ("card.jpg", JPG, "image/jpeg")},
            follow_redirects=False,
        )  # fmt: skip
        assert done.status_code == 303
    written_types = _since(c.engine, last)
    assert written_types[0] == "application.submitted" and "application.approved" in written_types
