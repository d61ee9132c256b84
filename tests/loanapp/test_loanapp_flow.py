"""A loan application end to end: submitted at the counter, never straight through, approved by
another person, the contract made and the disbursement reserved (Dr 121), paid by the payment run
at the (fake) bank, the loan active and the application executed, ``hpf check`` clean at every
step; a bank refusal, a rejection and a failure before sending leave no money moved."""

from __future__ import annotations

from typing import Any

import pytest
from loanapp_support import CERTIFICATE, PDF, REQUIRED_MATERIALS, TODAY, build_center, payload, submit
from sqlalchemy import func, select

from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity.identity import Forbidden
from hpf.kernel.errors import IllegalTransition
from hpf.kernel.findings import Verdict
from hpf.ledger.tables import journal_entry
from hpf.loans.application import handler as la
from hpf.loans.book import service as loans
from hpf.loans.book.tables import loan
from hpf.loans.scorecard.features import FEATURES
from hpf.services import service as applications
from hpf.services.handlers import Evaluation
from hpf.services.tables import application
from hpf.settlement import service as settlement
from hpf.settlement.owners import PayoutOutcome
from hpf.settlement.tables import payment_order
from settlement_support import CARD, subject

AMOUNT = 40_320_000  # 15 × A's balance binds (see test_loanapp_limits)


def _approve(center, app_id: int, who: str = "reviewer01") -> dict[str, Any]:
    with write_transaction(center.engine) as conn:
        return applications.approve(conn, center.ctx, center.people[who], app_id, "核准")


def _findings(engine) -> list[object]:
    with read_transaction(engine) as conn:
        return check_center(conn)


def _count(engine, table) -> int:
    with read_transaction(engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def test_applied_reviewed_approved_disbursed_and_executed(engine, bank):
    center = build_center(engine)
    submitted = submit(center, payload(co_borrower_account_nos=""))
    assert submitted.state == "under_review" and submitted.due_on is not None  # not straight through
    assert [f["code"] for f in submitted.evaluation["risk_flags"]] == ["review.loan"]
    assert submitted.evaluation["eligible"] and submitted.amount_fen == AMOUNT
    with read_transaction(engine) as conn:
        stored = conn.scalar(select(application.c.payload).where(application.c.id == submitted.id))
    assert stored["payee_card"] != CARD and stored["certificate_no"] != CERTIFICATE  # secrets kept apart
    assert _count(engine, loan) == 0 and _count(engine, payment_order) == 0  # nothing before a decision

    with pytest.raises(Forbidden) as same:  # maker-checker: whoever accepted it cannot approve it
        _approve(center, submitted.id, who="teller01")
    assert same.value.code == "application.same_person"

    approved = _approve(center, submitted.id)
    out = approved.outputs
    assert approved.state == "approved" and out["executed"] is False
    assert out["amount_fen"] == AMOUNT and out["term_months"] == 360 and out["annual_rate"] == "0.0285"
    assert set(out["features"]) == set(FEATURES) and out["features"]["co_borrowers"] == 0.0
    assert out["contract_no"].startswith("9900012025") and out["payment_order_no"].startswith("990001P")
    with read_transaction(engine) as conn:
        contract = loans.loan_view(conn, out["loan_id"])
        order = settlement.get_order(conn, out["payment_order_id"])
        assert subject(conn, "121") == AMOUNT  # reserved: Dr 121 / Cr 21903
    assert contract.state == "approved" and contract.certificate_no == CERTIFICATE
    assert (contract.principal_fen, contract.first_due_date.isoformat()) == (AMOUNT, "2025-04-30")
    assert order.state == "reserved" and order.owner_kind == "loan" and order.payee_account_no == CARD
    assert order.reserve_entry_id == out["ledger_entry_ids"][0]
    assert _findings(engine) == []  # in flight: 121 is matched by the reserved disbursement

    assert settlement.send_reserved(engine, center.ctx, bank) == {"paid": 1}
    with read_transaction(engine) as conn:
        active = loans.loan_view(conn, out["loan_id"])
        final = applications.get(conn, submitted.id)
        assert subject(conn, "121") == AMOUNT and subject(conn, "21903") == 0
    assert active.state == "active" and active.disbursed_on == TODAY
    assert active.outstanding_principal_fen == AMOUNT
    assert active.disbursement_entry_id == order.reserve_entry_id  # the entry that debits 121
    assert final.state == "executed" and final.outputs["disbursed_on"] == TODAY.isoformat()
    assert _findings(engine) == []
    assert settlement.send_reserved(engine, center.ctx, bank) == {}  # paid once

    # replays change nothing: the bank's answer told again, the approval's work done again
    entries = _count(engine, journal_entry)
    with write_transaction(engine) as conn:
        la.disbursement_settled(conn, center.ctx, PayoutOutcome(
            order.id, order.order_no, "loan", str(out["loan_id"]), "paid", AMOUNT, TODAY))  # fmt: skip
        again = la.HANDLER.on_approved(
            conn, center.ctx, applications.with_secrets(conn, final), Evaluation(verdict=Verdict())
        )
    assert (again["loan_id"], again["payment_order_id"]) == (out["loan_id"], out["payment_order_id"])
    assert _count(engine, journal_entry) == entries and _count(engine, payment_order) == 1
    with read_transaction(engine) as conn:
        assert applications.get(conn, submitted.id).state == "executed"
        assert [e.kind for e in loans.events(conn, out["loan_id"])] == ["created", "activated"]
    with pytest.raises(IllegalTransition):
        _approve(center, submitted.id, who="reviewer02")
    assert _findings(engine) == []

    # the household now has a loan: a second application is refused, the certificate is taken
    second = submit(center, payload(), member="a", key="k2")
    failed = {r["code"] for r in second.evaluation["rules"] if not r["passed"]}
    assert failed == {"loan.outstanding_loan", "loan.certificate_free"}


def test_co_borrowers_enter_the_contract(engine, bank):
    center = build_center(engine)
    c = center.members["c"]
    submitted = submit(center, payload(co_borrower_account_nos=c.account_no, requested_fen=50_000_000))
    approved = _approve(center, submitted.id)
    assert (
        approved.outputs["amount_fen"] == 50_000_000 and approved.outputs["features"]["co_borrowers"] == 1.0
    )
    with read_transaction(engine) as conn:
        assert loans.loan_view(conn, approved.outputs["loan_id"]).co_borrower_ids == (c.id,)


def test_the_bank_refuses_so_the_money_comes_back_and_the_contract_is_void(engine, fake, bank):
    center = build_center(engine)
    submitted = submit(center, payload())
    out = _approve(center, submitted.id).outputs
    fake.arm("fail")
    assert settlement.send_reserved(engine, center.ctx, bank) == {"failed": 1}
    with read_transaction(engine) as conn:
        final = applications.get(conn, submitted.id)
        contract = loans.loan_view(conn, out["loan_id"])
        kinds = [e.kind for e in loans.events(conn, out["loan_id"])]
        why = applications.transitions(conn, submitted.id)[-1].reason
        assert subject(conn, "121") == 0 and subject(conn, "21903") == 0  # the reservation reversed
    assert final.state == "failed" and why == "贷款发放失败：E2001 收款账户户名不符"
    assert contract.state == "approved" and contract.disbursed_on is None
    assert kinds == ["created", "disbursement_failed"]
    assert _findings(engine) == []
    # a failed outcome told again changes nothing
    with write_transaction(engine) as conn:
        order = settlement.get_order(conn, out["payment_order_id"])
        la.disbursement_settled(conn, center.ctx, PayoutOutcome(
            order.id, order.order_no, "loan", str(out["loan_id"]), "failed", AMOUNT, TODAY))  # fmt: skip
        assert [e.kind for e in loans.events(conn, out["loan_id"])] == kinds
    # the void contract neither counts as a loan nor holds the certificate: the member may apply again
    again = submit(center, payload(), key="k2")
    assert again.evaluation["eligible"], again.evaluation["rules"]


def test_rejected_reserves_nothing(engine):
    center = build_center(engine)
    submitted = submit(center, payload())
    with write_transaction(engine) as conn:
        ended = applications.reject(conn, center.ctx, center.people["reviewer01"], submitted.id, "材料不实")
    assert ended.state == "rejected"
    assert _count(engine, loan) == 0 and _count(engine, payment_order) == 0
    with read_transaction(engine) as conn:
        assert subject(conn, "121") == 0


def test_failed_before_sending_gives_the_reservation_back(engine, bank):
    center = build_center(engine)
    submitted = submit(center, payload())
    out = _approve(center, submitted.id).outputs
    with write_transaction(engine) as conn:
        applications.mark_failed(conn, center.ctx, submitted.id, "借款人放弃贷款")
    with read_transaction(engine) as conn:
        order = settlement.get_order(conn, out["payment_order_id"])
        assert subject(conn, "121") == 0
        assert loans.loan_view(conn, out["loan_id"]).state == "approved"
    assert order.state == "failed" and order.failure_code == "cancelled"
    assert settlement.send_reserved(engine, center.ctx, bank) == {}
    assert _findings(engine) == []


def test_applied_online_by_the_member_still_goes_to_review(engine):
    center = build_center(engine)
    member = center.people["a"]
    with write_transaction(engine) as conn:
        app = applications.submit(conn, center.ctx, member, "LN-APPLY", payload(), idempotency_key="m1")
        for code in REQUIRED_MATERIALS:
            applications.add_material(conn, center.ctx, member, app.id, code, f"{code}.pdf", PDF)
        done = applications.complete_submission(conn, center.ctx, member, app.id)
    assert done.state == "under_review" and done.accepted_by == "system"
    assert done.due_on.isoformat() == "2025-04-07"  # 15 working days from 14 March (4 April: 清明)
