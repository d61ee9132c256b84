"""HTTP API of settlement: the bank's arrival notices (SBDC100), and the staff's view of
payment orders and reconciliations.

``POST /api/v1/settlement/notices`` (and ``/notices/batch``, a group of them applied in one
transaction) is for the bank, a machine: it declares
``Perm.BANK_NOTIFY``, which only a body signed with the shared bank key passes
(``hpf.web.auth``). A repeated notice answers ``duplicate`` and changes nothing. Payee account
numbers leave masked (``6222********0123``); the staff see payee names, as elsewhere.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from hpf.access.permissions import Perm
from hpf.db.engine import read_transaction
from hpf.kernel.context import Context
from hpf.kernel.records import fields_of
from hpf.protection.masking import mask
from hpf.settlement import messages as m
from hpf.settlement import reconciliation, service
from hpf.settlement.rules import OrderState
from hpf.web.auth import requires
from hpf.web.bounds import CODE_MAX, Id, Offset, Text
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1/settlement", tags=["settlement"], route_class=HpfRoute)


class EventPublic(BaseModel):
    from_state: str | None
    to_state: str
    business_date: date
    actor: str
    source: str
    note: str


class OrderPublic(BaseModel):
    id: int
    order_no: str | None
    owner_kind: str
    owner_id: str
    business_type: str
    fund_business_type: str
    summary: str
    amount_fen: int
    payee_name: str
    payee_account_no: str = Field(description="masked: first and last four digits")
    payee_account_class: str
    payee_bank_name: str
    state: OrderState
    attempts: int
    batch_no: str | None
    bank_seq_no: str | None
    failure_code: str | None
    failure_reason: str | None
    created_on: date
    sent_on: date | None
    settled_on: date | None
    events: list[EventPublic] = []

    @classmethod
    def of(cls, order: service.PaymentOrder) -> OrderPublic:
        shown = {
            **fields_of(order),
            "payee_account_no": mask(order.payee_account_no, "bank_card"),
            "events": [fields_of(e) for e in order.events],
        }
        return cls(**shown)


class NoticeAnswer(BaseModel):
    notice_no: str
    outcome: str  # applied | no_effect | conflict | unmatched | duplicate
    order_id: int | None


class CancelRequest(BaseModel):
    reason: Text


class ReconcileRequest(BaseModel):
    day: date


class DifferencePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    ref: str
    bank_fen: int | None
    ledger_fen: int | None
    lines: int
    order_id: int | None
    order_state: str | None


class ReconciliationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    day: date
    acct_no: str
    actor: str
    bank_lines: int
    bank_out_fen: int
    bank_in_fen: int
    differences: int
    items: list[DifferencePublic]


@router.post(
    "/notices",
    summary="SBDC100 account change notice from the bank (signed with the shared key)",
    dependencies=[Depends(requires(Perm.BANK_NOTIFY))],
)
def notice(body: m.AccountChangeNotice, request: Request, conn: WriteDb) -> NoticeAnswer:
    ctx = Context(
        actor="bank", clock=request.app.state.clock, center_code=request.app.state.settings.center_code,
        source="bank",
    )  # fmt: skip
    return NoticeAnswer(**fields_of(service.apply_notice(conn, ctx, body)))


@router.post(
    "/notices/batch",
    summary="SBDC100 account change notices in a group (signed with the shared key), applied together",
    dependencies=[Depends(requires(Perm.BANK_NOTIFY))],
)
def notices(body: m.AccountChangeNotices, request: Request, conn: WriteDb) -> list[NoticeAnswer]:
    ctx = Context(
        actor="bank", clock=request.app.state.clock, center_code=request.app.state.settings.center_code,
        source="bank",
    )  # fmt: skip
    return [NoticeAnswer(**fields_of(o)) for o in service.apply_notices(conn, ctx, body.notices)]


@router.get(
    "/orders", summary="Payment orders, newest first", dependencies=[Depends(requires(Perm.SETTLEMENT_READ))]
)
def orders(
    conn: ReadDb,
    state: OrderState | None = None,
    owner_kind: str | None = Query(None, max_length=CODE_MAX),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> list[OrderPublic]:
    rows = service.list_orders(
        conn, state=state.value if state else None, owner_kind=owner_kind, limit=limit, offset=offset
    )
    return [OrderPublic.of(r) for r in rows]


@router.get(
    "/orders/{order_id}",
    summary="One payment order with its state history",
    dependencies=[Depends(requires(Perm.SETTLEMENT_READ))],
)
def order(order_id: Id, conn: ReadDb) -> OrderPublic:
    return OrderPublic.of(service.get_order(conn, order_id))


def _with_events(request: Request, order_id: int) -> OrderPublic:
    with read_transaction(request.app.state.engine) as conn:
        return OrderPublic.of(service.get_order(conn, order_id))


@router.post(
    "/orders/{order_id}/send",
    summary="Send a reserved order to the bank (BDC101) and apply the answer",
    dependencies=[Depends(requires(Perm.SETTLEMENT_OPERATE))],
)
def send(order_id: Id, request: Request, ctx: Ctx) -> OrderPublic:
    service.send(request.app.state.engine, ctx, order_id, request.app.state.bank)
    return _with_events(request, order_id)


@router.post(
    "/orders/{order_id}/resolve",
    summary="Ask the bank how a sent or unknown order ended (BDC110) and apply it",
    dependencies=[Depends(requires(Perm.SETTLEMENT_OPERATE))],
)
def resolve(order_id: Id, request: Request, ctx: Ctx) -> OrderPublic:
    service.resolve(request.app.state.engine, ctx, order_id, request.app.state.bank)
    return _with_events(request, order_id)


@router.post(
    "/orders/{order_id}/cancel",
    summary="Cancel a reserved order that was never sent: the money goes back",
    dependencies=[Depends(requires(Perm.SETTLEMENT_OPERATE))],
)
def cancel(order_id: Id, body: CancelRequest, conn: WriteDb, ctx: Ctx) -> OrderPublic:
    service.cancel(conn, ctx, order_id, body.reason)
    return OrderPublic.of(service.get_order(conn, order_id))


@router.post(
    "/reconciliations",
    summary="Fetch the day's statement (BDC113) and reconcile it with the ledger",
    dependencies=[Depends(requires(Perm.SETTLEMENT_OPERATE))],
)
def reconcile(body: ReconcileRequest, request: Request, ctx: Ctx) -> ReconciliationPublic:
    state = request.app.state
    run = reconciliation.fetch_and_reconcile(state.engine, ctx, body.day, state.bank, state.entry_groups)
    return ReconciliationPublic.model_validate(run)


@router.get(
    "/reconciliations/latest",
    summary="The latest reconciliation and its differences (null when none ran)",
    dependencies=[Depends(requires(Perm.SETTLEMENT_READ))],
)
def latest(conn: ReadDb) -> ReconciliationPublic | None:
    run = reconciliation.latest(conn)
    return None if run is None else ReconciliationPublic.model_validate(run)
