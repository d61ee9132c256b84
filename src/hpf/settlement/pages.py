"""The finance page of settlement (资金结算): payment orders by state, paged, the payment run
of reserved payouts (支付: what ``hpf settlement pay`` does), a button that asks the bank how an
order whose outcome is unknown ended, and the latest reconciliation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm
from hpf.kernel.records import fields_of
from hpf.protection.masking import mask
from hpf.settlement import reconciliation, service
from hpf.settlement.rules import DIFFERENCE_ZH, OWNER_KIND_ZH, STATE_ZH, DifferenceKind, OrderState
from hpf.web.auth import requires
from hpf.web.bounds import CODE_MAX, Id
from hpf.web.deps import Ctx, ReadDb
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

ORDERS_PER_PAGE = 50
PAY_RUN_LIMIT = 500  # orders one press of 支付 sends, as ``hpf settlement pay``
Page = Annotated[int, Query(ge=1, le=1_000_000, description="页码")]
Count = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/settlement", dependencies=[Depends(requires(Perm.SETTLEMENT_READ))])
def settlement_page(
    request: Request,
    conn: ReadDb,
    state: str = Query("", max_length=CODE_MAX),
    page: Page = 1,
    ran: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    chosen = state if state in {s.value for s in OrderState} else ""
    rows = service.list_orders(
        conn, state=chosen or None, limit=ORDERS_PER_PAGE + 1, offset=(page - 1) * ORDERS_PER_PAGE
    )
    more = len(rows) > ORDERS_PER_PAGE
    orders = [
        {
            **fields_of(order),
            "payee_account_no": mask(order.payee_account_no, "bank_card"),
            "owner_kind_zh": OWNER_KIND_ZH.get(order.owner_kind, "其他付款"),
        }
        for order in rows[:ORDERS_PER_PAGE]
    ]
    counts = service.state_counts(conn)
    run = None
    if ran:  # the payment run just made: orders per state it left them in
        run = [(STATE_ZH[s], _count(request, s.value)) for s in OrderState]
        run = [(name, n) for name, n in run if n]
    return render(
        request,
        "settlement.html",
        {
            "nav": "settlement",
            "states": [(s.value, STATE_ZH[s], *counts.get(s.value, (0, 0))) for s in OrderState],
            "state_zh": {s.value: STATE_ZH[s] for s in OrderState},
            "difference_zh": {k.value: DIFFERENCE_ZH[k] for k in DifferenceKind},
            "chosen": chosen,
            "orders": orders,
            "page": page,
            "more": more,
            "base": f"/settlement?state={chosen}&" if chosen else "/settlement?",
            "reserved": counts.get(OrderState.RESERVED.value, (0, 0)),
            "run": run,
            "latest": reconciliation.latest(conn),
            "done": request.query_params.get("done", ""),
        },
    )


def _count(request: Request, state: str) -> int:
    text = request.query_params.get(f"n_{state}", "0")
    return int(text) if text.isdigit() and len(text) < 8 else 0


@router.post("/settlement/pay", dependencies=[Depends(requires(Perm.SETTLEMENT_OPERATE))])
def pay_reserved(request: Request, ctx: Ctx) -> Response:
    """支付: the payment run — every reserved payout (withdrawals, loan disbursements) sent to the
    bank, oldest first, one call per order outside any business transaction (``send_reserved``);
    the page then says how many ended in each state."""
    counts = service.send_reserved(request.app.state.engine, ctx, request.app.state.bank, limit=PAY_RUN_LIMIT)
    query = "&".join(f"n_{state}={n}" for state, n in sorted(counts.items()))
    return RedirectResponse(f"/settlement?ran=1&{query}" if query else "/settlement?ran=1", status_code=303)


@router.post(
    "/settlement/orders/{order_id}/resolve", dependencies=[Depends(requires(Perm.SETTLEMENT_OPERATE))]
)
def resolve_order(request: Request, order_id: Id, ctx: Ctx) -> Response:
    order = service.resolve(request.app.state.engine, ctx, order_id, request.app.state.bank)
    return RedirectResponse(f"/settlement?done={order.state}", status_code=303)
