"""Pages of the service catalog and of applications (Chinese, phone-width, no JavaScript needed).

- ``/services`` and ``/services/{code}``: the guide anyone may read before applying; a signed-in
  member or employer starts an application from the item's page.
- ``/applications``: my applications (staff: the center's latest); ``/applications/queue``: the
  review queue, earliest due date first, overdue flagged; ``/applications/{id}``: status, time
  limit, rule results, risk flags, calculation sheet, materials, history and the actions the
  viewer may take (upload, complete, withdraw, rate; approve or reject for reviewers).
- ``/catalog``: staff see the center's local implementation lists and ask to publish one
  (maker-checker through ``/approvals``).

A refused action re-renders the application page with the Chinese reason; the action runs in
a savepoint so a refusal part-way changes nothing.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Principal, Scope
from hpf.accounts import service as accounts
from hpf.approvals import service as approvals
from hpf.disclosure.http import Disclose, Disclosure
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, NotFound
from hpf.protection.masking import mask
from hpf.services import archives, catalog, rules, service
from hpf.services.api import MAX_UPLOAD
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.headers import allow_own_styles
from hpf.web.pages_common import PageRoute, render, staff_names

router = APIRouter(include_in_schema=False, route_class=PageRoute)

FormText = Annotated[str, Form(max_length=400)]
SUBMIT = [Depends(requires(Perm.APPLICATION_SUBMIT))]
REVIEW = [Depends(requires(Perm.APPLICATION_REVIEW))]


def _page_ctx(ctx: Context) -> Context:
    return dataclasses.replace(ctx, source="page")


# ------------------------------------------------------------------------------------ catalog


@router.get("/services", dependencies=[Depends(requires(Perm.PUBLIC))])
def services_page(request: Request, conn: ReadDb, ctx: Ctx) -> Response:
    cat = catalog.catalog_at(conn, ctx.clock.today())
    groups = [
        {"name": name, "items": [i for i in cat.items if i["category"] == key]}
        for key, name in rules.CATEGORY_ZH.items()
    ]
    return render(request, "services.html", {"nav": "services", "catalog": cat, "groups": groups})


def _item_context(conn: Connection, ctx: Context, code: str, **extra: Any) -> dict[str, Any]:
    cat = catalog.catalog_at(conn, ctx.clock.today())
    item = cat.item(code)
    return {
        "nav": "services",
        "catalog": cat,
        "item": item,
        "applicants_zh": [rules.APPLICANT_ZH[a] for a in item["applicants"]],
        "form": {},
        "form_key": secrets.token_urlsafe(12),
        "error": None,
        **extra,
    }


@router.get("/services/{code}", dependencies=[Depends(requires(Perm.PUBLIC))])
def service_page(request: Request, code: str, conn: ReadDb, ctx: Ctx) -> Response:
    return render(request, "service_item.html", _item_context(conn, ctx, code))


@router.post(
    "/services/{code}/apply", dependencies=[Depends(requires(Perm.APPLICATION_SUBMIT, scope=Scope.OWN))]
)
async def apply(request: Request, code: str, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    return await run_in_threadpool(_apply, request, code, conn, ctx, who, form)  # the database off the loop


def _apply(
    request: Request, code: str, conn: Connection, ctx: Context, who: Principal, form: dict[str, str]
) -> Response:
    asked = service.ask_network_first(  # before the write transaction (decision 0043)
        conn, ctx, who, item_code=code,
        payload=lambda c: rules.payload_from_form(catalog.item_at(c, code, ctx.clock.today())["fields"], form),
        applicant_kind=form.get("applicant_kind") or None, member_account_no=form.get("member_account_no") or None,
        idempotency_key=form.get("form_key") or None,
    )  # fmt: skip
    try:
        with asked, conn.begin_nested():
            item = catalog.item_at(conn, code, ctx.clock.today())
            payload = rules.payload_from_form(item["fields"], form)
            row = service.submit(
                conn, _page_ctx(ctx), who, code, payload,
                applicant_kind=form.get("applicant_kind") or None,
                member_account_no=form.get("member_account_no") or None,
                idempotency_key=form.get("form_key") or None,
            )  # fmt: skip
    except HpfError as exc:
        context = _item_context(conn, ctx, code, form=form, error=exc.title)
        return render(request, "service_item.html", context, status_code=exc.status)
    return RedirectResponse(f"/applications/{row.id}", status_code=303)


# ------------------------------------------------------------------------------- applications


def _names(conn: Connection, rows: list[service.ApplicationView], on: date) -> dict[str, str]:
    items = catalog.catalog_at(conn, on).items
    return {i["code"]: i["name_zh"] for i in items}


@router.get("/applications", dependencies=[Depends(requires(Perm.APPLICATION_READ, scope=Scope.OWN))])
def applications_page(request: Request, conn: ReadDb, ctx: Ctx, who: CurrentPrincipal) -> Response:
    today = ctx.clock.today()
    rows = [service.with_deadline(r, today) for r in service.list_own(conn, who)]
    return render(
        request,
        "applications.html",
        {"nav": "applications", "rows": rows, "names": _names(conn, rows, today)},
    )


@router.get("/applications/queue", dependencies=REVIEW)
def queue_page(request: Request, conn: ReadDb, ctx: Ctx) -> Response:
    today = ctx.clock.today()
    rows = service.review_queue(conn, today)
    return render(
        request, "applications_queue.html", {"nav": "queue", "rows": rows, "names": _names(conn, rows, today)}
    )


def _detail_context(
    conn: Connection, ctx: Context, who: Principal, row: service.Application, **extra: Any
) -> dict[str, Any]:
    today = ctx.clock.today()
    item = service.item_of(conn, row)
    mats = service.materials(conn, row.id)
    have = {m.material_code for m in mats}
    owners: tuple[tuple[int | None, int | None], ...] = ((who.member_id, None), (None, who.employer_id))
    owner = who.id == row.applicant_id or service.owner_ids(row) in owners
    state = rules.State(row.state)
    reviewer = who.may(Perm.APPLICATION_REVIEW)
    transitions = service.transitions(conn, row.id)
    return {
        "nav": "applications",
        "a": service.with_deadline(row, today),
        "item": item,
        "evaluation": row.evaluation or {},
        "materials": mats,
        "missing": list(rules.missing_materials(item["materials"], have)),
        "transitions": transitions,
        "actor_names": staff_names(conn, (t.actor for t in transitions)),
        "state_zh": rules.STATE_ZH,
        "can_upload": state is rules.State.SUBMITTED and (owner or who.is_staff),
        "can_withdraw": owner and (state, rules.State.WITHDRAWN) in rules.TRANSITIONS,
        "can_rate": owner and state in rules.TERMINAL and row.rating is None,
        "can_decide": reviewer and state is rules.State.UNDER_REVIEW,
        "can_reject": reviewer and state in rules.PENDING_DECISION,
        "same_person": who.id == row.applicant_id or who.login == row.accepted_by,
        "error": None,
        "done": None,
        **extra,
    }


def _render_detail(
    request: Request, conn: Connection, ctx: Context, who: Principal, application_id: int, **extra: Any
) -> Response:
    row = service.visible(conn, who, application_id)
    status = extra.pop("status_code", 200)
    return render(
        request, "application.html", _detail_context(conn, ctx, who, row, **extra), status_code=status
    )


@router.get("/applications/{application_id}", dependencies=[Depends(requires(Perm.APPLICATION_READ))])
def application_page(
    request: Request, application_id: Id, conn: ReadDb, ctx: Ctx, who: CurrentPrincipal, show: Disclose
) -> Response:
    row = service.visible(conn, who, application_id)
    _audit(show, row)
    done = {"1": "已办理。"}.get(request.query_params.get("done", ""))
    return render(request, "application.html", _detail_context(conn, ctx, who, row, done=done))


def _audit(show: Disclosure, row: service.Application) -> None:
    show.show("application", [row], subject_ids=[row.id])


def _act(
    request: Request,
    conn: Connection,
    ctx: Context,
    who: Principal,
    application_id: int,
    action: Callable[[], Any],
    *,
    evaluates: bool = False,
) -> Response:
    # an action that evaluates asks the network before its write transaction (decision 0043)
    asked = service.ask_network_first(conn, ctx, who, application_id) if evaluates else nullcontext()
    try:
        with asked, conn.begin_nested():
            action()
    except HpfError as exc:
        if exc.status == 404:
            raise
        return _render_detail(
            request, conn, ctx, who, application_id, error=exc.title, status_code=exc.status
        )
    return RedirectResponse(f"/applications/{application_id}?done=1", status_code=303)


@router.post("/applications/{application_id}/materials", dependencies=SUBMIT)
def upload_page(
    request: Request,
    application_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    material_code: FormText = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    # Sync: the file's bytes (already received and spooled), the encryption and the database on
    # one worker thread, off the event loop (hpf.web.routing).
    data = file.file.read(MAX_UPLOAD + 1) if file is not None else b""
    name = (file.filename or "") if file is not None else ""
    return _act(
        request, conn, ctx, who, application_id,
        lambda: service.add_material(conn, _page_ctx(ctx), who, application_id, material_code, name, data),
    )  # fmt: skip


@router.post("/applications/{application_id}/complete", dependencies=SUBMIT)
def complete_page(
    request: Request, application_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal
) -> Response:
    return _act(
        request, conn, ctx, who, application_id,
        lambda: service.complete_submission(conn, _page_ctx(ctx), who, application_id), evaluates=True,
    )  # fmt: skip


@router.post("/applications/{application_id}/withdraw", dependencies=SUBMIT)
def withdraw_page(
    request: Request,
    application_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    reason: FormText = "",
) -> Response:
    return _act(
        request, conn, ctx, who, application_id,
        lambda: service.withdraw(conn, _page_ctx(ctx), who, application_id, reason),
    )  # fmt: skip


@router.post("/applications/{application_id}/rate", dependencies=SUBMIT)
def rate_page(
    request: Request,
    application_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    score: FormText = "",
    comment: Annotated[str, Form(max_length=600)] = "",
) -> Response:
    value: object = int(score) if score.strip().isdigit() and len(score.strip()) < 3 else score
    return _act(
        request, conn, ctx, who, application_id,
        lambda: service.rate(conn, _page_ctx(ctx), who, application_id, value, comment),
    )  # fmt: skip


@router.post("/applications/{application_id}/approve", dependencies=REVIEW)
def approve_page(
    request: Request, application_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, note: FormText = ""
) -> Response:
    return _act(
        request, conn, ctx, who, application_id,
        lambda: service.approve(conn, _page_ctx(ctx), who, application_id, note), evaluates=True,
    )  # fmt: skip


@router.post("/applications/{application_id}/reject", dependencies=REVIEW)
def reject_page(
    request: Request,
    application_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    reason: FormText = "",
) -> Response:
    return _act(
        request, conn, ctx, who, application_id,
        lambda: service.reject(conn, _page_ctx(ctx), who, application_id, reason),
    )  # fmt: skip


# --------------------------------------------------------------------------- local catalog


FILE_TYPES_ZH = {"pdf": "PDF", "jpg": "JPG", "png": "PNG", "ofd": "OFD"}
EXTRA_CONDITIONS_MAX = 10


def _catalog_context(conn: Connection, ctx: Context, code: str = "", **extra: Any) -> dict[str, Any]:
    today = ctx.clock.today()
    cat = catalog.catalog_at(conn, today)
    codes = [str(i["code"]) for i in cat.items]
    code = code if code in codes else (codes[0] if codes else "")
    national = {str(i["code"]): i for i in catalog.national_at(today).items}
    return {
        "nav": "catalog",
        "catalog": cat,
        "versions": catalog.list_local_versions(conn),
        "pending": approvals.list_requests(
            conn, state=approvals.State.PENDING, kind=approvals.CATALOG_PUBLISH
        ),
        "today": today,
        "code": code,
        "item": cat.item(code) if code else None,
        "national": national.get(code),
        "file_types_zh": FILE_TYPES_ZH,
        "form": {"effective_from": "", "reason": "", "extra_conditions": ""},
        "errors": [],
        "posted": {},
        "done": False,
        **extra,
    }


@router.get("/catalog", dependencies=[Depends(requires(Perm.POLICY_READ))])
def catalog_page(request: Request, conn: ReadDb, ctx: Ctx) -> Response:
    done = request.query_params.get("done") == "1"
    code = request.query_params.get("item", "")[:40]
    return render(request, "catalog_local.html", _catalog_context(conn, ctx, code, done=done))


@router.post("/catalog", dependencies=[Depends(requires(Perm.POLICY_CHANGE))])
async def publish_page(request: Request, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> Response:
    """The form of one item's tightening: the time limit, conditions added, and per material
    whether it is required, the file types and the size accepted. What it sends is the whole
    local list (the other items of the list in force kept as they are), for another
    administrator to approve."""
    raw = await request.form()
    typed: dict[str, list[str]] = {}
    for key, value in raw.multi_items():
        if isinstance(value, str) and len(key) <= 60 and len(value) <= 2_000:
            typed.setdefault(key, []).append(value)
    return await run_in_threadpool(_publish, request, conn, ctx, who, typed)


def _int_field(text: str, label: str, errors: list[str]) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        errors.append(f"{label}须为整数")
        return None
    if value <= 0 or value > 1_000_000:
        errors.append(f"{label}须大于零")
        return None
    return value


def _tightened(item: catalog.Item, form: dict[str, list[str]], errors: list[str]) -> dict[str, Any]:
    """``item`` with what the form tightened; every unreadable field named in ``errors``."""

    def one(name: str) -> str:
        return (form.get(name) or [""])[0]

    out = {k: v for k, v in item.items() if k not in ("local", "version")}
    days = _int_field(one("time_limit_days"), "办结时限", errors)
    if days is not None:
        out["time_limit_days"] = days
    summary = " ".join(one("summary_zh").split())
    if summary:
        out["summary_zh"] = summary
    added = [" ".join(line.split()) for line in one("extra_conditions").splitlines() if line.strip()]
    if len(added) > EXTRA_CONDITIONS_MAX:
        errors.append(f"增加的受理条件最多{EXTRA_CONDITIONS_MAX}条")
        added = added[:EXTRA_CONDITIONS_MAX]
    ids = {str(c["id"]) for c in out["conditions"]}
    conditions = list(out["conditions"])
    n = 0
    for text in added:
        if any(str(c.get("text_zh", "")).strip() == text for c in conditions):
            continue
        n += 1
        while f"L{n}" in ids:
            n += 1
        conditions.append({"id": f"L{n}", "text_zh": text[:200]})
    out["conditions"] = conditions
    materials = []
    for m in out["materials"]:
        code = str(m["code"])
        name = m["name_zh"]
        changed = dict(m)
        changed["required"] = bool(m["required"]) or one(f"required_{code}") == "1"
        types = form.get(f"types_{code}", [])
        if not types:
            errors.append(f"材料“{name}”须至少接受一种文件格式")
        else:
            changed["file_types"] = [t for t in m["file_types"] if t in types] + [
                t for t in types if t not in m["file_types"]
            ]
        size = _int_field(one(f"size_{code}"), f"材料“{name}”的大小上限", errors)
        if size is not None:
            changed["max_size_kb"] = size
        materials.append(changed)
    out["materials"] = materials
    return out


def _publish(
    request: Request, conn: Connection, ctx: Context, who: Principal, form: dict[str, list[str]]
) -> Response:
    def one(name: str) -> str:
        return (form.get(name) or [""])[0]

    code = one("item").strip()
    shown = {
        "effective_from": one("effective_from"),
        "reason": one("reason"),
        "extra_conditions": one("extra_conditions"),
    }
    errors: list[str] = []
    day: date | None = None
    try:
        day = date.fromisoformat(one("effective_from").strip())
    except ValueError:
        errors.append("生效日期格式错误，应为YYYY-MM-DD")
    if not " ".join(one("reason").split()):
        errors.append("请填写发布原因（200字以内）")
    try:
        item = catalog.item_at(conn, code, day or ctx.clock.today())
    except HpfError:
        errors.append("请选择全国目录中的事项")
        item = None
    tightened = _tightened(item, form, errors) if item is not None else {}
    if item is not None and day is not None:
        others = [i for i in catalog.local_items_at(conn, day) if str(i["code"]) != code]
        payload = {"effective_from": day.isoformat(), "items": [*others, tightened], "reason": one("reason")}
        summary = f"服务事项实施清单（{item['name_zh']}），{day.isoformat()}起生效：{one('reason')}"
        try:
            if errors:  # still say what the list itself would be refused for
                catalog.check_local_items(day, payload["items"])
            else:
                approvals.submit(conn, _page_ctx(ctx), who, approvals.CATALOG_PUBLISH, payload, summary)
        except HpfError as exc:
            findings = exc.extra.get("findings") or [{"title": exc.title}]
            errors.extend(str(f["title"]) for f in findings)
    if errors:  # every problem of the form at once
        context = _catalog_context(conn, ctx, code, form=shown, errors=errors, posted=form)
        return render(request, "catalog_local.html", context, status_code=422)
    return RedirectResponse("/catalog?done=1", status_code=303)


# ---------------------------------------------------------------------------------- receipt


def _applicant_facts(conn: Connection, row: service.Application, show: Disclosure) -> dict[str, str]:
    """Who applied, as a receipt prints it: the name and the masked ID number (read audited)."""
    if row.member_id is not None:
        no = accounts.account_numbers_of(conn, [row.member_id])[row.member_id]
        person = accounts.get_member(conn, no)
        show.show("member", [person])  # the audit row of the read; the receipt always masks the ID
        return {"name": person.name, "id_no": mask(str(person.resident_id), "resident_id")}
    if row.employer_id is not None:
        firm = accounts.get_employer(conn, accounts.employer_account_no(conn, row.employer_id))
        return {"name": firm.name, "id_no": firm.uscc}
    return {"name": row.applicant_login, "id_no": "—"}


def _receipt_context(
    conn: Connection, ctx: Context, row: service.Application, show: Disclosure, center: str
) -> dict[str, Any]:
    """The receipt's facts and their SM3 (with the archive's seal once the application ended)."""
    outputs = row.outputs or {}
    try:
        sealed: str | None = archives.get_archive(conn, row.id).sm3
    except NotFound:
        sealed = None  # still in progress: archived when it ends
    facts = {
        "center": center,
        "center_code": ctx.center_code,
        "application_id": row.id,
        "item_code": row.item_code,
        "item_name": service.item_of(conn, row)["name_zh"],
        "applicant": _applicant_facts(conn, row, show),
        "submitted_at": row.created_at,
        "state": row.state,
        "decision": row.decision,
        "decision_reason": row.decision_reason,
        "decided_at": row.decided_at,
        "amount_fen": outputs.get("amount_fen", row.amount_fen),
        "payment_order_no": outputs.get("payment_order_no"),
        "paid_on": outputs.get("paid_on"),
        "due_on": row.due_on,
        "archive_sm3": sealed,
    }
    return {"r": facts, "a": service.with_deadline(row, ctx.clock.today()),
            "digest": archives.sm3_hex(archives.canonical(facts).encode())}  # fmt: skip


@router.get("/applications/{application_id}/receipt", dependencies=[Depends(requires(Perm.APPLICATION_READ))])
def receipt_page(
    request: Request, application_id: Id, conn: ReadDb, ctx: Ctx, who: CurrentPrincipal, show: Disclose
) -> Response:
    """回执: a printable receipt of the application, downloaded as a self-contained HTML file."""
    row = service.visible(conn, who, application_id)
    _audit(show, row)
    center = request.app.state.settings.center_name
    response = render(request, "application_receipt.html", _receipt_context(conn, ctx, row, show, center))
    allow_own_styles(response)  # a self-contained file: its <style> is allowed by its hash
    name = f"回执-{application_id}.html"
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"receipt-{application_id}.html\"; filename*=UTF-8''{quote(name)}"
    )
    return response
