"""信息协查 (``/transfers/inquiries``): staff ask the hub what other centers hold of a person, for
a purpose from the code list, and see this center's past inquiries (decision 0031).

Staff of the center only (``Scope.CENTER``): reading the page needs ``member:read``; asking needs
``application:submit`` (the counter's tellers). The answer is shown once, as the hub gave it; the
log lists who asked, when, for what, and what was answered — never the ID number (the log keeps
its blind index only).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import Connection
from starlette.responses import Response

from hpf.access.permissions import Perm, Scope
from hpf.kernel.codes import code_table
from hpf.kernel.errors import HpfError
from hpf.kernel.identifiers import parse_resident_id
from hpf.kernel.network import PURPOSE_ZH
from hpf.transfers import inquiry
from hpf.transfers.link import installed
from hpf.web.auth import requires
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

ACCOUNT_STATE_ZH = {c.code: c.name_zh for c in code_table("member_account_state")}
LOAN_STATE_ZH = {
    "approved": "已审批待发放",
    "active": "还款中",
    "settled": "已结清",
    "written_off": "已核销",
    "void": "已作废",
}
ROLE_ZH = {"borrower": "借款人", "co_borrower": "共同借款人"}
OUTCOME_ZH = {"answered": "已答复", "failed": "未完成"}


def _context(conn: Connection, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "inquiries",
        "linked": installed().link is not None,
        "purposes": PURPOSE_ZH,
        "history": inquiry.inquiries(conn),
        "account_state_zh": ACCOUNT_STATE_ZH,
        "loan_state_zh": LOAN_STATE_ZH,
        "role_zh": ROLE_ZH,
        "outcome_zh": OUTCOME_ZH,
        "form": {"id_number": "", "purpose": "04"},
        "asked": None,
        "error": None,
        **extra,
    }


@router.get("/transfers/inquiries", dependencies=[Depends(requires(Perm.MEMBER_READ, scope=Scope.CENTER))])
def inquiries_page(request: Request, conn: ReadDb) -> Response:
    return render(request, "transfers_inquiries.html", _context(conn))


@router.post(
    "/transfers/inquiries", dependencies=[Depends(requires(Perm.APPLICATION_SUBMIT, scope=Scope.CENTER))]
)
def inquire_page(
    request: Request,
    conn: WriteDb,
    ctx: Ctx,
    id_number: Annotated[str, Form(max_length=40)] = "",
    purpose: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    form = {"id_number": id_number, "purpose": purpose}
    try:
        number = parse_resident_id(id_number, field="id_number").number
        asked = inquiry.inquire(
            conn, dataclasses.replace(ctx, source="page"), [number], purpose, inquiry.current().post
        )
    except HpfError as exc:
        response = render(
            request,
            "transfers_inquiries.html",
            _context(conn, form=form, error=exc.title),
            status_code=exc.status,
        )
        response.headers["X-HPF-Error"] = exc.code
        return response
    return render(request, "transfers_inquiries.html", _context(conn, form=form, asked=asked))
