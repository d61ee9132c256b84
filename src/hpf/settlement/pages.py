"""The finance page of settlement (资金结算): payment orders by state, the latest reconciliation,
and a button that asks the bank how an order whose outcome is unknown ended.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from hpf.security.masking import mask
from hpf.security.permissions import Perm
from hpf.settlement import reconciliation, service
from hpf.settlement.rules import DIFFERENCE_ZH, STATE_ZH, DifferenceKind, OrderState
from hpf.web.auth import requires
from hpf.web.bounds import CODE_MAX, Id
from hpf.web.deps import Ctx, ReadDb
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/settlement", dependencies=[Depends(requires(Perm.SETTLEMENT_READ))])
def settlement_page(request: Request, conn: ReadDb, state: str = Query("", max_length=CODE_MAX)) -> Response:
    chosen = state if state in {s.value for s in OrderState} else ""
    orders = service.list_orders(conn, state=chosen or None, limit=200)
    for order in orders:
        order["payee_account_no"] = mask(order["payee_account_no"], "bank_card")
    counts = service.state_counts(conn)
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
            "latest": reconciliation.latest(conn),
            "done": request.query_params.get("done", ""),
        },
    )


@router.post(
    "/settlement/orders/{order_id}/resolve", dependencies=[Depends(requires(Perm.SETTLEMENT_OPERATE))]
)
def resolve_order(request: Request, order_id: Id, ctx: Ctx) -> Response:
    order = service.resolve(request.app.state.engine, ctx, order_id, request.app.state.bank)
    return RedirectResponse(f"/settlement?done={order['state']}", status_code=303)
