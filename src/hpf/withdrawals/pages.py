"""Pages of withdrawals: the member's 「我能提取吗」 overview (Chinese, phone-width)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hpf.accounts import service as accounts
from hpf.security.permissions import Perm
from hpf.web.auth import requires
from hpf.web.deps import Ctx, ReadDb
from hpf.web.disclosure import Disclose
from hpf.web.pages_common import PageRoute, render
from hpf.withdrawals import service

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/members/{account_no}/withdrawals", dependencies=[Depends(requires(Perm.MEMBER_READ))])
def eligibility_page(request: Request, account_no: str, conn: ReadDb, ctx: Ctx, show: Disclose) -> Response:
    found = accounts.get_member(conn, account_no)  # NotFound → 404 page
    items = service.eligibility(conn, found["id"], ctx.clock.today())
    show.record_view("member", found["id"], rows=1, what="提取资格")
    return render(
        request,
        "withdrawals_eligibility.html",
        {"m": show.masked("member", [found])[0], "items": items, "today": ctx.clock.today()},
    )
