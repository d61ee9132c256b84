"""Pages of withdrawals (Chinese, phone-width): the member's 「我能提取吗」 overview and the
self-service application of each withdrawal item.

- ``/members/{no}/withdrawals``: every reason, whether the member may apply, what blocks it, at
  most how much, and a link to the item's form.
- ``/members/{no}/withdrawals/{code}/apply``: the form made for one item (``forms.py``): the most
  the member may take, only the fields the reason needs, the payee (the member's own name
  prefilled), and one upload per material of the catalog item. Submitting goes through the
  application engine in one savepoint — submit, the rules, the materials, acceptance and
  review (straight-through approval reserves the money) — and shows the application. A claim
  the rules refuse is not filed: the form comes back with the rule messages and the
  calculation sheet, and nothing is stored; so does a missing material or a bad payee.
  The form key makes a double submission return the same application.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Principal
from hpf.accounts import service as accounts
from hpf.disclosure.http import Disclose, Disclosure
from hpf.identity.identity import Forbidden
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError
from hpf.kernel.network import AskedFirst
from hpf.services import catalog
from hpf.services import service as applications
from hpf.services.api import MAX_UPLOAD
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render
from hpf.withdrawals import forms, service
from hpf.withdrawals.handler import ITEMS
from hpf.withdrawals.rules import ReasonOverview

router = APIRouter(include_in_schema=False, route_class=PageRoute)

APPLY = [Depends(requires(Perm.APPLICATION_SUBMIT))]


@router.get("/members/{account_no}/withdrawals", dependencies=[Depends(requires(Perm.MEMBER_READ))])
def eligibility_page(request: Request, account_no: str, conn: ReadDb, ctx: Ctx, show: Disclose) -> Response:
    found = accounts.get_member(conn, account_no)  # NotFound → 404 page
    items = service.eligibility(conn, found.id, ctx.clock.today())
    show.record_view("member", found.id, rows=1, what="提取资格")
    who = show.principal
    cat = catalog.catalog_at(conn, ctx.clock.today())
    names = {i["code"]: i["name_zh"] for i in cat.items if who.is_staff or who.kind in i["applicants"]}
    items = forms.offered_to(who.kind, who.is_staff, items, cat.items)
    links = {
        o.reason.value: [(code, names[code]) for code in forms.items_for(o.reason) if code in names]
        for o in items
        if o.may_apply and _may_apply(who)
    }
    return render(
        request,
        "withdrawals_eligibility.html",
        {"m": show.masked("member", [found])[0], "items": items, "today": ctx.clock.today(), "links": links},
    )


def _may_apply(who: Principal) -> bool:
    """A member for themselves, or a clerk at the counter; an employer does not claim withdrawals."""
    return who.may(Perm.APPLICATION_SUBMIT) and (who.kind == "member" or who.is_staff)


def _require_applicant(who: Principal) -> None:
    if not _may_apply(who):
        raise Forbidden(
            "withdrawal.not_applicant",
            "提取须由职工本人或中心工作人员申请",
            f"a {who.kind} cannot apply for a member's withdrawal",
        )


def _overview_of(conn: Connection, ctx: Context, member_id: int, code: str) -> ReasonOverview:
    reason = ITEMS[code][0]
    return next(o for o in service.eligibility(conn, member_id, ctx.clock.today()) if o.reason is reason)


def _form_context(
    conn: Connection,
    ctx: Context,
    show: Disclosure,
    found: accounts.Member,
    code: str,
    item: catalog.Item | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "m": show.masked("member", [found])[0],
        "item": item or catalog.item_at(conn, code, ctx.clock.today()),
        "fields": forms.form_fields(code),
        "o": _overview_of(conn, ctx, found.id, code),
        "form": forms.defaults(code, found.name),
        "form_key": secrets.token_urlsafe(12),
        "error": None,
        "evaluation": None,
        **extra,
    }


@router.get("/members/{account_no}/withdrawals/{code}/apply", dependencies=APPLY)
def apply_page(
    request: Request,
    account_no: str,
    code: str,
    conn: ReadDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    show: Disclose,
) -> Response:
    _require_applicant(who)
    forms.form_fields(code)  # an unknown item: 422 before anything is read
    found = accounts.get_member(conn, account_no)
    show.record_view("member", found.id, rows=1, what=f"提取申请表 {code}")
    return render(request, "withdrawals_apply.html", _form_context(conn, ctx, show, found, code))


async def _uploads(form: FormData, materials: list[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    """The files the form carries, one input per material (``m_<code>``); empty inputs skipped."""
    out = []
    for m in materials:
        upload = form.get(f"m_{m['code']}")
        if isinstance(upload, UploadFile) and upload.filename:
            out.append((m["code"], upload.filename, await upload.read(MAX_UPLOAD + 1)))
    return out


def _refused(evaluation: dict[str, Any]) -> Conflict | None:
    failed = [r["title_zh"] for r in evaluation.get("rules", []) if not r["passed"]]
    if not failed:
        return None
    return Conflict(
        "withdrawal.refused",
        "不符合提取条件，申请未提交：" + "；".join(failed),
        "a withdrawal rule fails; nothing was filed",
        rules=[r["code"] for r in evaluation["rules"] if not r["passed"]],
    )


@router.post("/members/{account_no}/withdrawals/{code}/apply", dependencies=APPLY)
async def apply(
    request: Request,
    account_no: str,
    code: str,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    show: Disclose,
) -> Response:
    _require_applicant(who)
    raw = await request.form()
    typed = {k: v for k, v in raw.items() if isinstance(v, str)}
    asked = await run_in_threadpool(_ask_first, conn, ctx, who, account_no, code, typed)
    with asked:  # the network's answers, asked before the write transaction (decision 0043)
        item = await run_in_threadpool(catalog.item_at, conn, code, ctx.clock.today())
        files = await _uploads(raw, item["materials"])
        # Rules, encryption and the database off the event loop: other requests go on meanwhile.
        return await run_in_threadpool(
            _apply, request, account_no, code, conn, ctx, who, show, typed, item, files
        )


def _ask_first(
    conn: Connection, ctx: Context, who: Principal, account_no: str, code: str, typed: dict[str, str]
) -> AskedFirst:
    return applications.ask_network_first(
        conn, ctx, who, item_code=code, payload=lambda _: forms.payload_of(code, typed),
        member_account_no=None if who.kind == "member" else account_no,
        idempotency_key=typed.get("form_key") or None,
    )  # fmt: skip


def _apply(
    request: Request,
    account_no: str,
    code: str,
    conn: Connection,
    ctx: Context,
    who: Principal,
    show: Disclosure,
    typed: dict[str, str],
    item: catalog.Item,
    files: list[tuple[str, str, bytes]],
) -> Response:
    page_ctx = dataclasses.replace(ctx, source="page")
    evaluation: dict[str, Any] | None = None
    try:
        with conn.begin_nested():
            payload = forms.payload_of(code, typed)
            row = applications.submit(
                conn, page_ctx, who, code, payload,
                member_account_no=None if who.kind == "member" else account_no,
                idempotency_key=typed.get("form_key") or None,
            )  # fmt: skip
            if row.state != "submitted" or applications.materials(conn, row.id):
                return RedirectResponse(f"/applications/{row.id}", status_code=303)  # a replay
            evaluation = dict(row.evaluation or {})
            refusal = _refused(evaluation)
            if refusal is not None:
                raise refusal
            for material_code, name, data in files:
                applications.add_material(conn, page_ctx, who, row.id, material_code, name, data)
            done = applications.complete_submission(conn, page_ctx, who, row.id)
    except HpfError as exc:
        if exc.status in (401, 403, 404):
            raise
        found = accounts.get_member(conn, account_no)  # the form again, for this member
        context = _form_context(
            conn, ctx, show, found, code, item, form=typed, error=exc.title, evaluation=evaluation
        )
        return render(request, "withdrawals_apply.html", context, status_code=exc.status)
    return RedirectResponse(f"/applications/{done.id}", status_code=303)
