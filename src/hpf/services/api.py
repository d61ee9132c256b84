"""HTTP API of the service catalog (``/api/v1/services``, ``/api/v1/catalog``) and of
applications (``/api/v1/applications``).

The catalog is public: anyone may read the guide before applying. A member or employer sees
and acts on their own applications only (an application id of someone else answers 404, like
one that does not exist); staff see their center's. Amounts are integer fen, dates ISO.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import Response

from hpf.access.permissions import Perm, Scope
from hpf.approvals import service as approvals
from hpf.approvals.public import ApprovalPublic
from hpf.audit import trail as audit
from hpf.disclosure.http import Disclose, Disclosure
from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput
from hpf.kernel.records import fields_of
from hpf.services import archives, bulk, catalog, rules, service
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Id, SmallInt, Text
from hpf.web.callers import role_of, source_ip
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1", tags=["services"], route_class=HpfRoute)

PUBLIC = [Depends(requires(Perm.PUBLIC))]
READ = [Depends(requires(Perm.APPLICATION_READ))]
SUBMIT = [Depends(requires(Perm.APPLICATION_SUBMIT))]
REVIEW = [Depends(requires(Perm.APPLICATION_REVIEW))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=80)]
MAX_UPLOAD = rules.MAX_FILE_KB * 1024


# ------------------------------------------------------------------------------------ catalog


class CatalogPublic(BaseModel):
    on: date
    version: str = Field(description='"N2023.1" (national) or "N2023.1+L2" (with local list 2)')
    items: list[dict[str, Any]] = Field(description="every item with its unified elements")


@router.get("/services", summary="The service catalog in force (服务事项目录)", dependencies=PUBLIC)
def list_services(conn: ReadDb, ctx: Ctx, on: Annotated[date | None, Query()] = None) -> CatalogPublic:
    cat = catalog.catalog_at(conn, on or ctx.clock.today())
    return CatalogPublic(on=cat.on, version=cat.version, items=[dict(i) for i in cat.items])


@router.get(
    "/services/{code}", summary="One service item: conditions, materials, time limit", dependencies=PUBLIC
)
def get_service(
    code: str, conn: ReadDb, ctx: Ctx, on: Annotated[date | None, Query()] = None
) -> dict[str, Any]:
    cat = catalog.catalog_at(conn, on or ctx.clock.today())
    return {**cat.item(code), "version": cat.version}


class LocalListCreate(BaseModel):
    effective_from: date = Field(description="first day the list applies; not before the business date")
    items: list[dict[str, Any]] = Field(
        description="whole item documents, each tightening a national item", max_length=1000
    )
    reason: Text = Field(description="why (e.g. the notice number)")


@router.get(
    "/catalog/versions",
    summary="The center's local implementation lists",
    dependencies=[Depends(requires(Perm.POLICY_READ))],
)
def local_versions(conn: ReadDb) -> list[dict[str, Any]]:
    return [{**fields_of(v), "codes": list(v.codes)} for v in catalog.list_local_versions(conn)]


@router.post(
    "/catalog/versions",
    status_code=202,
    summary="Ask to publish a local implementation list; another administrator approves it",
    dependencies=[Depends(requires(Perm.POLICY_CHANGE))],
)
def publish_local(body: LocalListCreate, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> ApprovalPublic:
    payload = {"effective_from": body.effective_from.isoformat(), "items": body.items, "reason": body.reason}
    summary = (
        f"服务事项实施清单（{len(body.items)}项），{body.effective_from.isoformat()}起生效：{body.reason}"
    )
    return ApprovalPublic.of(approvals.submit(conn, ctx, who, approvals.CATALOG_PUBLISH, payload, summary))


# ------------------------------------------------------------------------------- applications


class ApplicationCreate(BaseModel):
    item_code: str = Field(max_length=40, description="catalog item code, e.g. WD-RENT")
    payload: dict[str, Any] = Field(
        max_length=200, default_factory=dict, description="the item's form fields (fen, ISO dates)"
    )
    applicant_kind: str | None = Field(
        None, max_length=20, description="staff at the counter: member | employer | heir"
    )
    member_account_no: str | None = Field(None, max_length=20)
    employer_account_no: str | None = Field(None, max_length=20)
    complete: bool = Field(False, description="go on to acceptance at once (no materials to upload)")


class Reason(BaseModel):
    reason: str = Field("", max_length=400)


class Note(BaseModel):
    note: str = Field("", max_length=400)


class Rating(BaseModel):
    score: SmallInt = Field(description="1 (very bad) to 5 (very good)")
    comment: str = Field("", max_length=500)


def _shown(fields: dict[str, Any]) -> dict[str, Any]:
    fields.pop("idempotency_key", None)
    return fields


def _public(row: service.Application, today: date) -> dict[str, Any]:
    return _shown(fields_of(service.with_deadline(row, today)))


def _detail(conn: Any, ctx: Context, row: service.Application, show: Disclosure) -> dict[str, Any]:
    view = service.with_deadline(row, ctx.clock.today())
    [audited] = show.show("application", [view], subject_ids=[row.id])
    item = service.item_of(conn, row)
    return {
        **_shown(audited),
        "item_name_zh": item["name_zh"],
        "transitions": [fields_of(t) for t in service.transitions(conn, row.id)],
        "materials": [fields_of(m) for m in service.materials(conn, row.id)],
    }


@router.post(
    "/applications",
    status_code=201,
    summary="Apply for a catalog item",
    dependencies=[Depends(requires(Perm.APPLICATION_SUBMIT, scope=Scope.OWN))],
)
def submit(
    body: ApplicationCreate,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    row = service.submit(
        conn, ctx, who, body.item_code, body.payload, applicant_kind=body.applicant_kind,
        member_account_no=body.member_account_no, employer_account_no=body.employer_account_no,
        idempotency_key=idempotency_key, complete=body.complete,
    )  # fmt: skip
    return _public(row, ctx.clock.today())


class BatchItemIn(BaseModel):
    member_account_no: str = Field(max_length=20, description="the member the application is about")
    payload: dict[str, Any] = Field(
        max_length=200, default_factory=dict, description="the item's form fields"
    )


class BatchIn(BaseModel):
    item_code: str = Field(max_length=40, description="catalog item code, e.g. AC-TRANSFER-IN")
    # the limit is the service's (a clear problem beyond it); this cap only bounds the body
    items: list[BatchItemIn] = Field(
        max_length=bulk.MAX_BATCH * 2, description=f"1 to {bulk.MAX_BATCH} items"
    )


class BatchOutcome(BaseModel):
    index: int
    application_id: int | None = None
    state: str | None = None
    letter_no: str | None = None
    outputs: dict[str, Any] | None = None
    replayed: bool = False
    code: str | None = Field(default=None, description="the refusal's problem code; None when filed")
    message_zh: str | None = None
    detail: str | None = None
    rules: list[str] = Field(default_factory=list)


class BatchOut(BaseModel):
    filed: int
    refused: int
    items: list[BatchOutcome]


def _outcome(o: bulk.Outcome) -> BatchOutcome:
    if isinstance(o, bulk.Filed):
        letter = o.outputs.get("letter_no")
        return BatchOutcome(
            index=o.index, application_id=o.application_id, state=o.state, outputs=dict(o.outputs),
            letter_no=str(letter) if letter is not None else None, replayed=o.replayed,
        )  # fmt: skip
    return BatchOutcome(
        index=o.index, code=o.code, message_zh=o.message_zh, detail=o.message_en, rules=list(o.rules)
    )


@router.post(
    "/applications/batch",
    summary="File many applications at once (单位批量办理; at most 500); idempotent by Idempotency-Key",
    dependencies=[Depends(requires(Perm.APPLICATION_SUBMIT, scope=Scope.OWN))],
)
def submit_batch(
    body: BatchIn,
    request: Request,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> BatchOut:
    """An employer for its staff, or the counter for many members: each item filed through to
    approval, or refused with its reason (the others go on). Each application filed has its own
    audit row besides the request's."""
    if not (idempotency_key or "").strip():
        raise InvalidInput("idempotency.key_required", "缺少幂等键（Idempotency-Key）",
                           "money-moving calls need an Idempotency-Key header")  # fmt: skip
    if len(idempotency_key or "") > 70:
        raise InvalidInput("idempotency.key_too_long", "幂等键最长70个字符", "an Idempotency-Key of at most 70 characters")  # fmt: skip
    outcomes = bulk.submit_many(
        conn, ctx, who, body.item_code,
        [bulk.BulkItem(i.payload, i.member_account_no) for i in body.items], idempotency_key=idempotency_key,
    )  # fmt: skip
    fresh = [o.application_id for o in outcomes if isinstance(o, bulk.Filed) and not o.replayed]
    if fresh:
        audit.append_many(
            conn, ctx, role=role_of(who), source_ip=source_ip(request), action="application.batch_submit",
            object_type="application", object_ids=fresh, purpose="批量办理",
            detail={"item_code": body.item_code, "items": len(body.items)},
        )  # fmt: skip
    filed = sum(isinstance(o, bulk.Filed) for o in outcomes)
    return BatchOut(filed=filed, refused=len(outcomes) - filed, items=[_outcome(o) for o in outcomes])


@router.get(
    "/applications",
    summary="My applications (staff: the center's latest)",
    dependencies=[Depends(requires(Perm.APPLICATION_READ, scope=Scope.OWN))],
)
def mine(conn: ReadDb, ctx: Ctx, who: CurrentPrincipal) -> list[dict[str, Any]]:
    return [_public(r, ctx.clock.today()) for r in service.list_own(conn, who)]


@router.get("/applications/queue", summary="The review queue, earliest due date first", dependencies=REVIEW)
def queue(conn: ReadDb, ctx: Ctx) -> list[dict[str, Any]]:
    return [_shown(fields_of(r)) for r in service.review_queue(conn, ctx.clock.today())]


@router.get(
    "/applications/{application_id}",
    summary="An application: rules, sheet, materials, history",
    dependencies=READ,
)
def detail(
    application_id: Id, conn: ReadDb, ctx: Ctx, who: CurrentPrincipal, show: Disclose
) -> dict[str, Any]:
    return _detail(conn, ctx, service.visible(conn, who, application_id), show)


@router.post(
    "/applications/{application_id}/materials",
    status_code=201,
    summary="Upload a material",
    dependencies=SUBMIT,
)
def upload(
    application_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    material_code: Annotated[str, Form(max_length=40)],
    file: Annotated[UploadFile, File(description="pdf, jpg or png within the item's size limit")],
) -> dict[str, Any]:
    # Sync: the file's bytes (already received and spooled), the encryption and the database on
    # one worker thread, off the event loop (hpf.web.routing).
    data = file.file.read(MAX_UPLOAD + 1)
    return fields_of(
        service.add_material(conn, ctx, who, application_id, material_code, file.filename or "", data)
    )


@router.get(
    "/applications/{application_id}/materials/{material_id}", summary="A material's bytes", dependencies=READ
)
def download(
    application_id: Id, material_id: Id, conn: ReadDb, who: CurrentPrincipal, show: Disclose
) -> Response:
    meta, data = service.material_content(conn, who, application_id, material_id)
    show.record_view(
        "application", application_id, rows=1, what=f"material {material_id}", action="application.material"
    )
    return Response(
        data, media_type=rules.MEDIA_TYPES[meta.file_type], headers={"X-Content-SHA256": meta.sha256}
    )


@router.post(
    "/applications/{application_id}/complete",
    summary="Materials complete: accept and review",
    dependencies=SUBMIT,
)
def complete(application_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> dict[str, Any]:
    return _public(service.complete_submission(conn, ctx, who, application_id), ctx.clock.today())


@router.post(
    "/applications/{application_id}/withdraw", summary="Withdraw before a decision", dependencies=SUBMIT
)
def withdraw(
    application_id: Id, body: Reason, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal
) -> dict[str, Any]:
    return _public(service.withdraw(conn, ctx, who, application_id, body.reason), ctx.clock.today())


@router.post(
    "/applications/{application_id}/rate", summary="Rate an ended application (好差评)", dependencies=SUBMIT
)
def rate(application_id: Id, body: Rating, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> dict[str, Any]:
    return _public(service.rate(conn, ctx, who, application_id, body.score, body.comment), ctx.clock.today())


@router.post(
    "/applications/{application_id}/approve",
    summary="Approve (not the applicant or acceptor)",
    dependencies=REVIEW,
)
def approve(application_id: Id, body: Note, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> dict[str, Any]:
    return _public(service.approve(conn, ctx, who, application_id, body.note), ctx.clock.today())


@router.post(
    "/applications/{application_id}/reject",
    summary="Reject with the reason the applicant reads",
    dependencies=REVIEW,
)
def reject(
    application_id: Id, body: Reason, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal
) -> dict[str, Any]:
    return _public(service.reject(conn, ctx, who, application_id, body.reason), ctx.clock.today())


@router.get(
    "/applications/{application_id}/archive", summary="The sealed archive package (zip)", dependencies=READ
)
def archive(application_id: Id, conn: ReadDb, who: CurrentPrincipal, show: Disclose) -> Response:
    service.visible(conn, who, application_id)
    data = archives.export_package(conn, application_id)
    digest = hashlib.sha256(data).hexdigest()
    show.record_export("application", str(application_id), rows=1, digest=digest, what="archive package")
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="archive-{application_id}.zip"'},
    )
