"""The center's message endpoint: the hub delivers here (``POST /api/v1/hub/messages``).

Open at the door (``Perm.PUBLIC``: the hub is a machine, not a principal); what authenticates a
delivery is its SM2 signatures, checked by ``hpf.transfers.service.receive`` in the request's
write transaction. A refusal is problem+json with its ``message.*`` code and changes nothing; a
duplicate answers ``duplicate`` and changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from hpf.access.permissions import Perm
from hpf.kernel.context import Context
from hpf.messages.transport import PATH
from hpf.transfers import service
from hpf.web.auth import requires
from hpf.web.deps import WriteDb
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
