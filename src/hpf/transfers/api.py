"""The center's message endpoint: the hub delivers here (``POST /api/v1/hub/messages``); and
the API of cross-center transfers (``/api/v1/transfers``: list, one, its messages, approve,
refuse, cancel — the member applies through the application engine, item ``AC-TRANSFER-IN``).

Open at the door (``Perm.PUBLIC``: the hub is a machine, not a principal); what authenticates a
delivery is its SM2 signatures, checked by ``hpf.transfers.service.receive`` in the request's
write transaction. A refusal is problem+json with its ``message.*`` code and changes nothing; a
duplicate answers ``duplicate`` and changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from hpf.access.permissions import Perm, Principal, Scope
from hpf.disclosure.http import Disclose
from hpf.kernel.context import Context
from hpf.messages.transport import PATH
from hpf.transfers import process, service
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(tags=["hub"], route_class=HpfRoute)


@router.post(
    PATH,
    summary="A message the hub delivers (SM2-signed envelope and hop; de-duplicated by message id)",
    dependencies=[Depends(requires(Perm.PUBLIC))],
)
def take_message(
    request: Request, conn: WriteDb, delivery: Annotated[dict[str, Any], Body()]
) -> dict[str, str]:
    state = request.app.state
    ctx = Context(actor="hub", clock=state.clock, center_code=state.settings.center_code, source="hub")
    return service.receive(conn, ctx, delivery, state.clock.now()).as_json()


# -- cross-center transfers (decision 0030) -------------------------------------------------------

READ = [Depends(requires(Perm.APPLICATION_READ, scope=Scope.OWN))]


class ReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


def _visible(conn: Connection, ctx: Context, who: Principal, transfer_id: int) -> process.Transfer:
    found = process.get(conn, ctx.clock.today(), transfer_id)
    if not who.is_staff and (
        found.side != "in" or found.member_id is None or found.member_id != who.member_id
    ):
        raise process.not_found(transfer_id)
    return found


@router.get("/api/v1/transfers", summary="Cross-center transfers (a member: his own)", dependencies=READ)
def list_transfers(conn: ReadDb, ctx: Ctx, who: CurrentPrincipal, show: Disclose) -> list[dict[str, Any]]:
    today = ctx.clock.today()
    if who.is_staff:
        rows = process.listing(conn, today)
    else:
        rows = process.listing(conn, today, side="in", member_id=who.member_id or -1)
    return show.show("transfer", rows)  # each read audited (amounts are personal data)


@router.get("/api/v1/transfers/{transfer_id}", summary="A transfer and where it stands", dependencies=READ)
def get_transfer(
    transfer_id: Id, conn: ReadDb, ctx: Ctx, who: CurrentPrincipal, show: Disclose
) -> dict[str, Any]:
    return show.show("transfer", [_visible(conn, ctx, who, transfer_id)])[0]


@router.get(
    "/api/v1/transfers/{transfer_id}/messages",
    summary="The messages exchanged about a transfer (headers only)",
    dependencies=READ,
)
def transfer_messages(
    transfer_id: Id, conn: ReadDb, ctx: Ctx, who: CurrentPrincipal
) -> list[process.TimelineMessage]:
    return process.timeline(conn, _visible(conn, ctx, who, transfer_id).letter_no)


@router.post(
    "/api/v1/transfers/{transfer_id}/approve",
    summary="The old center approves: interest to date, the balance paid out, the account closed, BDC905 sent",
    dependencies=[Depends(requires(Perm.APPLICATION_REVIEW))],
)
def approve_transfer(transfer_id: Id, conn: WriteDb, ctx: Ctx) -> process.Transfer:
    return process.approve(conn, ctx, transfer_id)


class BulkBody(BaseModel):
    ids: list[Id] | None = Field(default=None, max_length=process.BULK_MOST)
    most: int = Field(default=process.BULK_MOST, ge=1, le=process.BULK_MOST)  # without ids: at most this many


@router.post(
    "/api/v1/transfers/approve",
    summary="The old center approves letters in bulk: the ids given, or (none) every received letter that passes",
    dependencies=[Depends(requires(Perm.APPLICATION_REVIEW))],
)
def approve_transfers(body: BulkBody, conn: WriteDb, ctx: Ctx) -> process.BulkApproval:
    return process.approve_many(conn, ctx, body.ids, most=body.most)


@router.post(
    "/api/v1/transfers/{transfer_id}/refuse",
    summary="The old center refuses with a reason (BDC901 answer, 13)",
    dependencies=[Depends(requires(Perm.APPLICATION_REVIEW))],
)
def refuse_transfer(transfer_id: Id, body: ReasonBody, conn: WriteDb, ctx: Ctx) -> process.Transfer:
    return process.refuse(conn, ctx, transfer_id, body.reason)


@router.post(
    "/api/v1/transfers/{transfer_id}/cancel",
    summary="The new center asks to cancel before the money moved (BDC903)",
    dependencies=[Depends(requires(Perm.APPLICATION_SUBMIT, scope=Scope.OWN))],
)
def cancel_transfer(
    transfer_id: Id, body: ReasonBody, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal
) -> process.Transfer:
    _visible(conn, ctx, who, transfer_id)
    return process.cancel(conn, ctx, transfer_id, body.reason)


class AmendBody(BaseModel):
    months: list[str] | None = Field(default=None, max_length=1200)


@router.post(
    "/api/v1/transfers/{transfer_id}/negotiate",
    summary="The new center asks to amend the transfer-out information (协商, BDC905 answer 06)",
    dependencies=[Depends(requires(Perm.APPLICATION_REVIEW))],
)
def negotiate_transfer(transfer_id: Id, body: ReasonBody, conn: WriteDb, ctx: Ctx) -> process.Transfer:
    return process.negotiate(conn, ctx, transfer_id, body.reason)


@router.post(
    "/api/v1/transfers/{transfer_id}/amend",
    summary="The old center sends the transfer-out information amended (BDC905, tx_func 1)",
    dependencies=[Depends(requires(Perm.APPLICATION_REVIEW))],
)
def amend_transfer(transfer_id: Id, body: AmendBody, conn: WriteDb, ctx: Ctx) -> process.Transfer:
    return process.amend(conn, ctx, transfer_id, body.months)


@router.post(
    "/api/v1/transfers/{transfer_id}/resend",
    summary="Send again what the hub refused while the other center was suspended (decision 0043)",
    dependencies=[Depends(requires(Perm.APPLICATION_REVIEW))],
)
def resend_transfer(transfer_id: Id, conn: WriteDb, ctx: Ctx) -> process.Transfer:
    return process.resend(conn, ctx, transfer_id)
