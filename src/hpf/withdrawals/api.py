"""HTTP API of withdrawals: what a member qualifies for today, and why not."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from hpf.access.permissions import Perm
from hpf.accounts import service as accounts
from hpf.disclosure.http import Disclose
from hpf.services import catalog
from hpf.web.auth import requires
from hpf.web.deps import Ctx, ReadDb
from hpf.web.routing import HpfRoute
from hpf.withdrawals import forms, service

router = APIRouter(prefix="/api/v1", tags=["withdrawals"], route_class=HpfRoute)


class CheckOut(BaseModel):
    code: str
    title_zh: str
    detail: str


class ReasonOut(BaseModel):
    reason: str
    label_zh: str
    may_apply: bool
    blocking: list[CheckOut]
    needs: list[CheckOut]
    up_to_fen: int
    closes_account: bool


@router.get(
    "/members/{account_no}/withdrawals/eligibility",
    dependencies=[Depends(requires(Perm.MEMBER_READ))],
    summary="Every withdrawal reason: whether the member may apply today, what blocks it, at most how much",
)
def eligibility(account_no: str, conn: ReadDb, ctx: Ctx, show: Disclose) -> list[ReasonOut]:
    found = accounts.get_member(conn, account_no)
    today = ctx.clock.today()
    who = show.principal
    items = forms.offered_to(
        who.kind,
        who.is_staff,
        service.eligibility(conn, found.id, today),
        catalog.catalog_at(conn, today).items,
    )
    show.record_view("member", found.id, rows=1, what="提取资格")
    return [
        ReasonOut(
            reason=o.reason.value,
            label_zh=o.reason.label_zh,
            may_apply=o.may_apply,
            blocking=[CheckOut(code=c.code, title_zh=c.message_zh, detail=c.message_en) for c in o.blocking],
            needs=[CheckOut(code=c.code, title_zh=c.message_zh, detail=c.message_en) for c in o.needs],
            up_to_fen=o.up_to_fen,
            closes_account=o.closes_account,
        )
        for o in items
    ]
