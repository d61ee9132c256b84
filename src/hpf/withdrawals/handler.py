"""Withdrawals as catalog items (``WD-*``): the handler the application engine calls.

``evaluate`` turns the application's payload into a :class:`~hpf.withdrawals.service.WithdrawalForm`,
decides it (rules, amount, calculation sheet) under the center's policy in force on the
application's business date (``submitted_on``) and runs the risk checks; ``on_approved`` reserves
the money through settlement (the payout itself is sent after the approving transaction commits:
``hpf.withdrawals.service.send_reserved``); the payout's outcome marks the application executed
or failed (``payout_settled`` records ``withdrawal.paid``/``released``; :func:`tell_application`
listens to it); ``on_ended`` gives back a reservation that was never sent. "Other" withdrawals
always go to a reviewer. The handler and the listener are wired in ``hpf.bootstrap``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, select

from hpf.events import Event
from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput
from hpf.kernel.findings import Finding, Verdict
from hpf.kernel.network import Question
from hpf.services import service as applications
from hpf.services.handlers import Evaluation, Outputs, SheetLine
from hpf.services.payload import Fields
from hpf.services.service import Application
from hpf.settlement import service as settlement
from hpf.withdrawals import service
from hpf.withdrawals.rules import Reason, family_resident_ids
from hpf.withdrawals.service import WithdrawalForm
from hpf.withdrawals.tables import withdrawal

ITEMS: dict[str, tuple[Reason, bool]] = {
    "WD-PURCHASE": (Reason.PURCHASE, False),
    "WD-BUILD": (Reason.BUILD, False),
    "WD-RETIRE": (Reason.RETIREMENT, False),
    "WD-DISABILITY": (Reason.DISABILITY, False),
    "WD-LEAVE": (Reason.LEAVING, False),
    "WD-REPAY-ONCE": (Reason.LOAN_REPAYMENT, False),
    "WD-REPAY-MONTHLY": (Reason.LOAN_REPAYMENT, True),
    "WD-RENT": (Reason.RENT, False),
    "WD-DEATH": (Reason.DEATH, False),
    "WD-ILLNESS": (Reason.ILLNESS, False),
    "WD-OTHER": (Reason.OTHER, False),
}
REVIEW_OTHER = Finding.risk(
    "review.other_reason", "其他情形提取须由工作人员审核", "reason 99 is never straight-through"
)


def form_of(item_code: str, payload: Mapping[str, Any]) -> WithdrawalForm:
    """The application's payload as a withdrawal form; a bad field refuses the submission."""
    reason, monthly = ITEMS[item_code]
    f = Fields(payload, "withdrawal.payload")
    family = family_resident_ids(payload.get("family_resident_ids") or [])
    return WithdrawalForm(
        reason=reason,
        payee_name=f.text("payee_name", required=True) or "",
        payee_card=f.text("payee_card", required=True, max_len=30) or "",
        payee_bank=f.text("payee_bank", required=True) or "",
        requested_fen=f.fen("requested_fen"),
        document_date=f.day("document_date"),
        document_no=f.text("document_no", max_len=64),
        cost_fen=f.fen("cost_fen"),
        rent_monthly_fen=f.fen("rent_monthly_fen"),
        installment_fen=f.fen("installment_fen"),
        monthly_repayment=monthly,
        labour_ended=bool(payload.get("labour_ended")),
        emigrated=bool(payload.get("emigrated")),
        applicant_is_heir=bool(payload.get("applicant_is_heir")),
        family_resident_ids=family,
    )


def applied_on(application: Application) -> date:
    """The application's business date (``submitted_on``): the day whose policy decides it."""
    return application.submitted_on


def _member_of(application: Application) -> int:
    """The member a withdrawal is about (every withdrawal item's applicant is a member)."""
    if application.member_id is None:
        raise InvalidInput(
            "withdrawal.member_required", "请填写职工个人账号", "a withdrawal is about a member"
        )
    return application.member_id


class WithdrawalHandler:
    item_codes = tuple(ITEMS)

    def network_questions(
        self,
        conn: Connection,
        ctx: Context,
        item_code: str,
        member_id: int | None,
        payload: Mapping[str, Any],
    ) -> tuple[Question, ...]:
        """What ``evaluate`` will ask the network, read before the write (decision 0043)."""
        if member_id is None or item_code not in ITEMS:
            return ()
        return service.network_questions(conn, member_id, ITEMS[item_code][0])

    def evaluate(self, conn: Connection, ctx: Context, application: Application) -> Evaluation:
        form = form_of(application.item_code, application.payload)
        assessment = service.assess(
            conn, ctx, _member_of(application), form, applied_on=applied_on(application)
        )
        decision = assessment.decision
        review = (REVIEW_OTHER,) if decision.manual_review else ()
        elsewhere = service.network_risks(conn, ctx, _member_of(application), form.reason)
        return Evaluation(
            verdict=Verdict.of(decision.verdict.findings, assessment.risks, elsewhere, review),
            amount_fen=decision.allowed_fen,
            sheet=tuple(SheetLine(s.label_zh, s.value) for s in decision.sheet),
            basis=assessment,
        )

    def still_holds(
        self, conn: Connection, ctx: Context, application: Application, evaluation: Evaluation
    ) -> bool:
        """Whether ``evaluation``, made before the write transaction, still holds in it (decision
        0046): the assessment's facts, policy and risks read again and compared; the network's
        answers were asked first and are the same."""
        if not isinstance(evaluation.basis, service.Assessment):
            return False
        form = form_of(application.item_code, application.payload)
        return service.still_holds(
            conn, ctx, _member_of(application), form, evaluation.basis, applied_on=applied_on(application)
        )

    def on_approved(
        self, conn: Connection, ctx: Context, application: Application, evaluation: Evaluation
    ) -> Outputs:
        form = form_of(application.item_code, application.payload)
        reserved = service.reserve(
            conn, ctx, application.id, _member_of(application), form,
            assessed=evaluation.basis, applied_on=applied_on(application),
        )  # fmt: skip
        order = reserved.order or settlement.get_order(conn, reserved.order_id)
        return {
            "withdrawal_id": reserved.id,
            "payment_order_id": order.id,
            "payment_order_no": order.order_no,
            "amount_fen": reserved.allowed_fen,
            "ledger_entry_ids": [order.reserve_entry_id],
            "executed": False,  # the bank's answer completes it
        }

    def on_ended(self, conn: Connection, ctx: Context, application: Application, state: str) -> None:
        found = conn.execute(
            select(withdrawal.c.order_id, withdrawal.c.state).where(
                withdrawal.c.application_id == application.id
            )
        ).first()
        if found is None or found.order_id is None or found.state != "reserved":
            return
        order = settlement.get_order(conn, int(found.order_id))
        if order.state == "reserved":  # never sent: give the money back now
            settlement.cancel(conn, ctx, int(found.order_id), f"申请已{state}")


PAYOUT_ENDED = ("withdrawal.paid", "withdrawal.released")  # what tell_application listens to


def tell_application(conn: Connection, ctx: Context, event: Event) -> None:
    """The withdrawal's payout ended: its application is executed, or failed (idempotent)."""
    p = event.payload
    if p.get("application_id") is None:
        return
    application_id = int(p["application_id"])
    current = applications.find(conn, application_id)
    if current is None or current.state != "approved":
        return  # told already (a replayed outcome), or ended meanwhile
    extra = {"payment_order_no": p["order_no"], "paid_on": p["settled_on"]}
    if event.type == "withdrawal.paid":
        applications.mark_executed(conn, ctx, application_id, extra)
    else:
        reason = p.get("failure_reason") or p.get("failure_code") or "银行付款失败"
        applications.mark_failed(conn, ctx, application_id, f"付款失败：{reason}"[:200], extra)


HANDLER = WithdrawalHandler()
