"""Staff back-office pages for contributions (缴存业务): lists, receipts, allocation.

Plain HTML forms (no JavaScript needed). A form that succeeds is redirected (303) to the page
that shows its result; a refused form re-renders its page with the Chinese message, the
refusal's status (422 input, 409 state) and what the clerk typed. A refused remittance list
shows every row error at once, so the employer fixes the file once. Amounts on forms are in
yuan; the use cases take fen.

A refused use case runs inside a savepoint, so the request's write transaction (which commits
when the handler returns) keeps nothing of it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm
from hpf.accounts import service as accounts
from hpf.accounts.pages import Page
from hpf.accounts.queries import employer_ref
from hpf.contributions import lists, service
from hpf.contributions.rules import Kind, due_month, parse_month
from hpf.disclosure.http import Disclose
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, InvalidInput, NotFound, all_at_once
from hpf.kernel.money import parse_yuan
from hpf.kernel.records import fields_of
from hpf.ledger import service as ledger
from hpf.web.auth import requires
from hpf.web.bounds import Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render, safe_next

router = APIRouter(include_in_schema=False, route_class=PageRoute)

KIND_ZH = {Kind.REMITTANCE.value: "汇缴", Kind.BACK_PAYMENT.value: "补缴"}
STATE_ZH = {"pending": "待到账", "posted": "已分摊", "cancelled": "已撤销"}
FUNDED_ZH = "待分摊"  # a pending list its employer's receipts already cover
HELD_ZH = "待中心从严审核"  # a listed employer's list held until the center's review (decision 0042)
RETURNED_ZH = "中心审核退回"
SOURCE_ZH = {"api": "接口", "csv": "CSV文件", "xlsx": "Excel文件", "sim": "模拟"}
DONE_ZH = {
    "submitted": "清册已受理，待单位资金到账后分摊入账。",
    "receipt": "到账已登记。",
    "allocated": "清册已分摊入账，职工账户已记入。",
}
ROWS_PER_PAGE = 200
RECENT_RECEIPTS = 20

FormText = Annotated[str, Form(max_length=200)]


def _page_ctx(ctx: Context) -> Context:
    return dataclasses.replace(ctx, source="page")


def _done(request: Request) -> str:
    return DONE_ZH.get(request.query_params.get("done", ""), "")


def _refusal(exc: HpfError) -> dict[str, Any]:
    """What a page shows of a refusal: the Chinese title, the detail, and every row error."""
    errors = [
        {
            "line": e.get("line") or None,
            "account_no": e.get("account_no") or "",
            "title": e.get("title", ""),
            "detail": e.get("detail", ""),
        }
        for e in exc.extra.get("errors", [])
        if isinstance(e, dict)
    ]
    return {
        "code": exc.code,
        "title": exc.title,
        "detail": exc.detail,
        "errors": errors,
        "lines": len({e["line"] for e in errors if e["line"]}),
    }


def _state_label(row: service.Remittance, funded: set[int]) -> str:
    if row.held:
        return HELD_ZH
    if row.review == "returned":
        return RETURNED_ZH
    if row.state == "pending" and row.id in funded:
        return FUNDED_ZH
    return str(STATE_ZH.get(row.state, row.state))


def _with_done(url: str, done: str) -> str:
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "done"]
    return urlunsplit(("", "", parts.path, urlencode([*kept, ("done", done)]), parts.fragment))


# --------------------------------------------------------------------- employer: 缴存业务


def _receipt_form(today: date, **typed: str) -> dict[str, str]:
    return {"amount": "", "bank_ref": "", "value_date": today.isoformat(), **typed}


def _employer_context(
    request: Request, conn: Connection, ctx: Context, emp: accounts.Employer, **extra: Any
) -> dict[str, Any]:
    due = due_month(emp.paid_through, emp.opened_on)
    rems = service.employer_remittances(conn, emp.id)
    funded = set(service.funded_remittances(conn, employer_id=emp.id))
    balance = ledger.employer_balance_of(conn, emp.id)
    claimed = sum(r.total_fen for r in rems if r.state == "pending")
    today = ctx.clock.today()
    receipts = service.recent_receipts(conn, emp.id, limit=RECENT_RECEIPTS)
    return {
        "nav": "employers",
        "e": emp,
        "due": due,
        "balance_fen": balance,
        "claimed_fen": claimed,
        "arrears": service.open_arrears(conn, emp.id),
        "remittances": [
            {**fields_of(r), "kind_zh": KIND_ZH.get(r.kind, r.kind), "state_zh": _state_label(r, funded)}
            for r in rems
        ],
        "remittance_limit": 60,
        "held": [r for r in rems if r.held],
        "returned": [r for r in rems if r.review == "returned"][:5],
        "receipts": receipts,
        "upload": {"month": due, "kind": Kind.REMITTANCE.value},
        "upload_error": None,
        "receipt": _receipt_form(today),
        "receipt_error": None,
        "receipt_next": f"/employers/{emp.account_no}/remittances",
        "today": today,
        "done": _done(request),
        **extra,
    }


@router.get("/employers/{account_no}/remittances", dependencies=[Depends(requires(Perm.CONTRIBUTION_READ))])
def employer_remittances_page(request: Request, account_no: str, conn: ReadDb, ctx: Ctx) -> Response:
    emp = accounts.get_employer(conn, account_no)  # NotFound → 404 page
    return render(request, "contributions_employer.html", _employer_context(request, conn, ctx, emp))


@router.post(
    "/employers/{account_no}/remittances", dependencies=[Depends(requires(Perm.CONTRIBUTION_SUBMIT))]
)
def upload_list(
    request: Request,
    account_no: str,
    conn: WriteDb,
    ctx: Ctx,
    file: Annotated[UploadFile | None, File()] = None,
    month: FormText = "",
    kind: FormText = Kind.REMITTANCE.value,
) -> Response:
    emp = accounts.get_employer(conn, account_no)
    typed = {"month": month.strip(), "kind": kind}
    try:
        with conn.begin_nested():
            rem = _submit_file(conn, _page_ctx(ctx), account_no, file, month, kind)
    except HpfError as exc:
        context = _employer_context(request, conn, ctx, emp, upload=typed, upload_error=_refusal(exc))
        return render(request, "contributions_employer.html", context, status_code=exc.status)
    return RedirectResponse(f"/remittances/{rem.id}?done=submitted", status_code=303)


def _submit_file(
    conn: Connection, ctx: Context, account_no: str, file: UploadFile | None, month: str, kind: str
) -> service.Remittance:
    if kind not in KIND_ZH:
        raise InvalidInput("remittance.kind", "请选择汇缴或补缴", f"kind {kind!r} is not 01 or 02")
    month = parse_month(month)
    if file is None or not file.filename:
        raise InvalidInput("remittance.file_missing", "请选择清册文件", "no file was uploaded")
    content = file.file.read(lists.MAX_BYTES + 1)
    rows, parse_errors = lists.read_list(file.filename, content)
    # The same key as the API's upload: the same file for the same month and kind is one list,
    # so a form submitted twice (or the same file sent by the API) makes one list.
    key = "file:" + hashlib.sha256(f"{account_no}|{kind}|{month}|".encode() + content).hexdigest()
    source = "xlsx" if file.filename.lower().endswith((".xlsx", ".xls")) else "csv"
    return service.submit_list(
        conn, ctx, account_no, kind=Kind(kind), month=month, rows=rows, source=source,
        idempotency_key=key[:80], parse_errors=parse_errors,
    )  # fmt: skip


# --------------------------------------------------------------------- a list: 清册明细


def _employer_of(conn: Connection, employer_id: int) -> dict[str, Any]:
    found = employer_ref(conn, employer_id)
    if found is None:
        raise NotFound("employer.not_found", "单位账户不存在", f"no employer {employer_id}")
    return found._asdict()


def _remittance_context(
    request: Request, conn: Connection, ctx: Context, remittance_id: int, page: int = 1, **extra: Any
) -> dict[str, Any]:
    rem = service.get_remittance(conn, remittance_id)  # NotFound → 404 page
    emp = _employer_of(conn, rem.employer_id)
    all_rows = service.remittance_rows(conn, remittance_id)
    pages = max(1, -(-len(all_rows) // ROWS_PER_PAGE))
    page = min(page, pages)
    shown = all_rows[(page - 1) * ROWS_PER_PAGE : page * ROWS_PER_PAGE]
    pending = rem.state == "pending"
    funded = pending and service.funded_remittances(conn, employer_id=emp["id"], ids=[remittance_id]) == [
        remittance_id
    ]
    balance = ledger.employer_balance_of(conn, emp["id"])
    needed = service.needed_fen(conn, rem) if pending else 0
    today = ctx.clock.today()
    return {
        "nav": "employers",
        "r": {
            **fields_of(rem),
            "kind_zh": KIND_ZH.get(rem.kind, rem.kind),
            "state_zh": _state_label(rem, {remittance_id} if funded else set()),
            "source_zh": SOURCE_ZH.get(rem.source, rem.source),
        },
        "e": emp,
        "rows": shown,
        "page": page,
        "pages": pages,
        "pending": pending,
        "funded": funded,
        "balance_fen": balance,
        "needed_fen": needed,
        "shortfall_fen": max(needed - balance, 0),
        "allocate_error": None,
        "receipt": _receipt_form(today),
        "receipt_error": None,
        "receipt_next": f"/remittances/{remittance_id}",
        "today": today,
        "done": _done(request),
        **extra,
    }


@router.get("/remittances/{remittance_id}", dependencies=[Depends(requires(Perm.CONTRIBUTION_READ))])
def remittance_page(
    request: Request, remittance_id: Id, conn: ReadDb, ctx: Ctx, show: Disclose, page: int = Page
) -> Response:
    context = _remittance_context(request, conn, ctx, remittance_id, page)
    show.record_view("remittance", remittance_id, rows=len(context["rows"]), what="缴存清册")
    return render(request, "contributions_remittance.html", context)


@router.post("/remittances/{remittance_id}/allocate", dependencies=[Depends(requires(Perm.FUNDS_ALLOCATE))])
def allocate(request: Request, remittance_id: Id, conn: WriteDb, ctx: Ctx) -> Response:
    service.get_remittance(conn, remittance_id)  # NotFound → 404 page
    try:
        with conn.begin_nested():
            service.allocate(conn, _page_ctx(ctx), remittance_id)
    except HpfError as exc:
        context = _remittance_context(request, conn, ctx, remittance_id, allocate_error=_refusal(exc))
        return render(request, "contributions_remittance.html", context, status_code=exc.status)
    return RedirectResponse(f"/remittances/{remittance_id}?done=allocated", status_code=303)


# --------------------------------------------------------------------- receipts: 到账登记

_REMITTANCE_PATH = re.compile(r"^/remittances/(\d{1,18})$")


@router.post("/employers/{account_no}/receipts", dependencies=[Depends(requires(Perm.FUNDS_RECORD))])
def record_receipt(
    request: Request,
    account_no: str,
    conn: WriteDb,
    ctx: Ctx,
    amount: FormText = "",
    bank_ref: FormText = "",
    value_date: FormText = "",
    next_url: Annotated[str, Form(alias="next", max_length=400)] = "",
) -> Response:
    emp = accounts.get_employer(conn, account_no)
    back = safe_next(next_url, f"/employers/{emp.account_no}/remittances")
    try:
        with conn.begin_nested():
            fen, day = _receipt_fields(amount, bank_ref, value_date)
            service.record_receipt(conn, _page_ctx(ctx), account_no, fen, bank_ref, day)
    except HpfError as exc:
        typed = _receipt_form(ctx.clock.today(), amount=amount, bank_ref=bank_ref, value_date=value_date)
        refused: dict[str, Any] = {"receipt": typed, "receipt_error": _refusal(exc), "receipt_next": back}
        path = urlsplit(back).path
        on_list = _REMITTANCE_PATH.match(path)
        if on_list and service.is_pending_list_of(conn, int(on_list.group(1)), emp.id):
            context = _remittance_context(request, conn, ctx, int(on_list.group(1)), **refused)
            return render(request, "contributions_remittance.html", context, status_code=exc.status)
        context = _employer_context(request, conn, ctx, emp, **refused)
        return render(request, "contributions_employer.html", context, status_code=exc.status)
    return RedirectResponse(_with_done(back, "receipt"), status_code=303)


def _receipt_fields(amount: str, bank_ref: str, value_date: str) -> tuple[int, date]:
    """The amount and the value date typed; every field's problem at once."""
    refusals: list[InvalidInput] = []
    fen, day = 0, date.min
    try:
        fen = _amount(amount)
    except InvalidInput as exc:
        refusals.append(exc)
    if not 1 <= len(bank_ref.strip()) <= 40:
        refusals.append(
            InvalidInput(
                "receipt.bank_ref", "银行流水号必填（最长40位）", "bank_ref must be 1..40 characters"
            )
        )
    try:
        day = _value_date(value_date)
    except InvalidInput as exc:
        refusals.append(exc)
    if refusals:
        raise all_at_once(refusals)
    return fen, day


def _amount(text: str) -> int:
    if not text.strip():
        raise InvalidInput("receipt.amount", "请填写到账金额（元）", "amount is empty", field="amount")
    return parse_yuan(text, "到账金额")


def _value_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            "receipt.value_date_format", "到账日期格式错误，应为YYYY-MM-DD", f"{text!r} is not an ISO date"
        ) from None


# --------------------------------------------------------------------- 未分摊到账


@router.get("/receipts/unallocated", dependencies=[Depends(requires(Perm.CONTRIBUTION_READ))])
def unallocated_page(request: Request, conn: ReadDb) -> Response:
    rows = service.unallocated(conn)
    return render(
        request,
        "contributions_unallocated.html",
        {
            "nav": "receipts",
            "rows": rows,
            "unclaimed_total": sum(r.unclaimed_fen for r in rows),
            "shortfall_total": sum(r.shortfall_fen for r in rows),
        },
    )
