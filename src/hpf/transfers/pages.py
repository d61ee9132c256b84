"""Pages of cross-center transfers (转移接续; Chinese, phone-width, no JavaScript needed).

- ``/transfers``: staff see the center's transfers, both sides, overdue flagged; a member sees
  his own transfers in and where each stands.
- ``/transfers/{transfer_id}``: the transfer, its old center's checks and its timeline — every
  message exchanged about it (header only: type, direction, state, times); at the old center a
  reviewer approves or refuses with a reason; at the new center the applicant or a teller
  cancels (撤销) while the money has not moved; a reviewer at the new center asks to negotiate
  (协商) the transfer-out information, and one at the old center sends it amended; a transfer
  held because the other center was suspended (对方中心已暂停) says so to staff and member, and a
  reviewer sends it again once that center is back (decision 0043).

A refused action re-renders the page with the Chinese reason; it runs in a savepoint, so a
refusal part-way changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Principal, Scope
from hpf.disclosure.http import Disclose
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.messages.envelope import MESSAGE_TYPES_ZH as TYPE_ZH
from hpf.transfers import process
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

READ = [Depends(requires(Perm.APPLICATION_READ, scope=Scope.OWN))]
SUBMIT = [Depends(requires(Perm.APPLICATION_SUBMIT, scope=Scope.OWN))]
REVIEW = [Depends(requires(Perm.APPLICATION_REVIEW))]
Reason = Annotated[str, Form(max_length=400)]

SIDE_ZH = {"in": "转入", "out": "转出"}
MESSAGE_STATE_ZH = {
    "recorded": "待发送",
    "queued": "发送中",
    "delivered": "已送达平台",
    "refused": "被拒收",
    "handled": "已接收",
    "item": "待批量发送",  # a batch item not packed yet (decision 0036)
    "batched": "已装入批量报文",
}


def _page_ctx(ctx: Context) -> Context:
    return dataclasses.replace(ctx, source="page")


def _visible(conn: Connection, ctx: Context, who: Principal, transfer_id: int) -> process.Transfer:
    found = process.get(conn, ctx.clock.today(), transfer_id)
    if not who.is_staff and (
        found.side != "in" or found.member_id is None or found.member_id != who.member_id
    ):
        raise process.not_found(transfer_id)
    return found


@router.get("/transfers", dependencies=READ)
def transfers_page(
    request: Request, conn: ReadDb, ctx: Ctx, who: CurrentPrincipal, show: Disclose
) -> Response:
    today = ctx.clock.today()
    if who.is_staff:
        rows = process.listing(conn, today)
    else:
        rows = process.listing(conn, today, side="in", member_id=who.member_id or -1)
    show.record_view("transfer", "list", rows=len(rows), what="转移接续列表")  # amounts are personal data
    names = {r.peer: process.peer_name(conn, r.peer) or r.peer for r in rows}
    return render(
        request,
        "transfers.html",
        {
            "nav": "transfers", "rows": rows, "names": names, "side_zh": SIDE_ZH,
            "approved": request.query_params.get("approved", ""), "skipped": request.query_params.get("skipped", ""),
            "bulk_most": process.BULK_MOST,
        },
    )  # fmt: skip


@router.post("/transfers/approve", dependencies=REVIEW)
def approve_bulk_page(
    conn: WriteDb,
    ctx: Ctx,
    ids: Annotated[list[int] | None, Form(max_length=process.BULK_MOST)] = None,
    every: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """批量同意转出: the letters ticked, or every received letter that passes its checks."""
    chosen = None if every == "1" else [i for i in (ids or []) if 0 < i < 2**63][: process.BULK_MOST]
    done = process.approve_many(conn, _page_ctx(ctx), chosen)
    return RedirectResponse(
        f"/transfers?approved={len(done.approved)}&skipped={len(done.skipped)}", status_code=303
    )


def _render_detail(
    request: Request,
    conn: Connection,
    ctx: Context,
    who: Principal,
    transfer_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    found = _visible(conn, ctx, who, transfer_id)
    timeline = process.timeline(conn, found.letter_no)
    return render(
        request,
        "transfer.html",
        {
            "nav": "transfers",
            "t": found,
            "peer_name": process.peer_name(conn, found.peer) or found.peer,
            "side_zh": SIDE_ZH,
            "timeline": timeline,
            "type_zh": TYPE_ZH,
            "message_state_zh": MESSAGE_STATE_ZH,
            "error": error,
            "done": request.query_params.get("done", ""),
        },
        status_code=status_code,
    )


@router.get("/transfers/{transfer_id}", dependencies=READ)
def transfer_page(
    request: Request, transfer_id: Id, conn: ReadDb, ctx: Ctx, who: CurrentPrincipal, show: Disclose
) -> Response:
    page = _render_detail(request, conn, ctx, who, transfer_id)  # a transfer not the viewer's: 404
    show.record_view("transfer", transfer_id, rows=1, what="转移接续")
    return page


def _act(
    request: Request,
    conn: Connection,
    ctx: Context,
    who: Principal,
    transfer_id: int,
    action: Callable[[], Any],
) -> Response:
    _visible(conn, ctx, who, transfer_id)
    try:
        with conn.begin_nested():
            action()
    except HpfError as exc:
        if exc.status == 404:
            raise
        return _render_detail(request, conn, ctx, who, transfer_id, error=exc.title, status_code=exc.status)
    return RedirectResponse(f"/transfers/{transfer_id}?done=1", status_code=303)


@router.post("/transfers/{transfer_id}/approve", dependencies=REVIEW)
def approve_page(
    request: Request, transfer_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal
) -> Response:
    return _act(
        request, conn, ctx, who, transfer_id, lambda: process.approve(conn, _page_ctx(ctx), transfer_id)
    )


@router.post("/transfers/{transfer_id}/refuse", dependencies=REVIEW)
def refuse_page(
    request: Request, transfer_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, reason: Reason = ""
) -> Response:
    return _act(
        request,
        conn,
        ctx,
        who,
        transfer_id,
        lambda: process.refuse(conn, _page_ctx(ctx), transfer_id, reason),
    )


@router.post("/transfers/{transfer_id}/cancel", dependencies=SUBMIT)
def cancel_page(
    request: Request, transfer_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, reason: Reason = ""
) -> Response:
    return _act(
        request,
        conn,
        ctx,
        who,
        transfer_id,
        lambda: process.cancel(conn, _page_ctx(ctx), transfer_id, reason),
    )


@router.post("/transfers/{transfer_id}/negotiate", dependencies=REVIEW)
def negotiate_page(
    request: Request, transfer_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, reason: Reason = ""
) -> Response:
    return _act(
        request,
        conn,
        ctx,
        who,
        transfer_id,
        lambda: process.negotiate(conn, _page_ctx(ctx), transfer_id, reason),
    )


@router.post("/transfers/{transfer_id}/amend", dependencies=REVIEW)
def amend_page(
    request: Request, transfer_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, months: Reason = ""
) -> Response:
    """The months as they should be, separated by spaces or commas (empty: as the ledger has them)."""
    listed = months.replace("，", ",").replace(",", " ").split()
    return _act(
        request, conn, ctx, who, transfer_id,
        lambda: process.amend(conn, _page_ctx(ctx), transfer_id, listed or None),
    )  # fmt: skip


@router.post("/transfers/{transfer_id}/ask-status", dependencies=REVIEW)
def ask_status_page(
    request: Request, transfer_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal
) -> Response:
    return _act(
        request, conn, ctx, who, transfer_id, lambda: process.ask_status(conn, _page_ctx(ctx), transfer_id)
    )


@router.post("/transfers/{transfer_id}/resend", dependencies=REVIEW)
def resend_page(
    request: Request, transfer_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal
) -> Response:
    """重新发送: the messages the hub refused while the other center was suspended (decision 0043)."""
    return _act(
        request, conn, ctx, who, transfer_id, lambda: process.resend(conn, _page_ctx(ctx), transfer_id)
    )
