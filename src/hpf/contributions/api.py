"""HTTP API for contributions: lists (JSON or file), templates, receipts, allocation, refunds,
corrections, base and rate adjustment, arrears."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Header, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from hpf.access.permissions import Perm
from hpf.accounts import service as accounts
from hpf.approvals import service as approvals
from hpf.approvals.public import ApprovalPublic
from hpf.contributions import lists, service
from hpf.contributions.rules import Kind, ListRow
from hpf.disclosure.http import Disclose
from hpf.kernel.errors import InvalidInput
from hpf.kernel.money import format_yuan
from hpf.kernel.records import fields_of
from hpf.policy.rules import contribution_parts
from hpf.policy.service import policy_at
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Code, Fen, Id, Name, Text
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1", tags=["contributions"], route_class=HpfRoute)

IdempotencyKey = Annotated[str | None, Header(max_length=80, description="same key, same effect, once")]


class RowIn(BaseModel):
    account_no: Code
    name: Name = ""
    base_fen: Fen
    employer_fen: Fen
    member_fen: Fen


class ListIn(BaseModel):
    kind: Literal["01", "02"] = Field("01", description="01 汇缴 remittance, 02 补缴 back payment")
    month: Code = Field(pattern=r"^\d{4}-\d{2}$")
    rows: list[RowIn] = Field(max_length=lists.MAX_ROWS)


class RemittanceOut(BaseModel):
    id: int
    kind: str
    month: str
    state: str
    members: int
    employer_part_fen: int
    member_part_fen: int
    total_fen: int
    source: str
    created_on: date
    posted_on: date | None
    posted_entry_id: int | None
    review: str | None = None  # held | passed | returned: a listed employer's list (decision 0042)
    review_note: str | None = None


class RemittanceRowOut(BaseModel):
    account_no: str
    name: str
    base_fen: int
    employer_fen: int
    member_fen: int


class RemittanceDetail(RemittanceOut):
    rows: list[RemittanceRowOut]


class ReceiptIn(BaseModel):
    amount_fen: Fen
    bank_ref: str = Field(min_length=1, max_length=40)
    value_date: date


class ReceiptOut(BaseModel):
    id: int
    bank_ref: str
    amount_fen: int
    value_date: date
    entry_id: int


class RefundIn(BaseModel):
    amount_fen: Fen
    reason: Text


class CorrectionIn(BaseModel):
    account_no: Code
    amount_fen: Fen
    reason: Text
    to_account_no: Code | None = None


class AdjustmentIn(BaseModel):
    employer_rate: Code
    member_rate: Code
    bases: dict[Code, Fen] = Field(description="account number → new base in fen", max_length=lists.MAX_ROWS)
    reason: Text


class ArrearsOut(BaseModel):
    month: str
    expected_fen: int
    state: str
    marked_on: date


class Unallocated(BaseModel):
    account_no: str
    name: str
    balance_fen: int
    claimed_fen: int
    unclaimed_fen: int
    shortfall_fen: int


def _require_key(key: str | None) -> str:
    if not key:
        raise InvalidInput("idempotency.key_required", "缺少幂等键（Idempotency-Key）",
                           "money-moving calls need an Idempotency-Key header")  # fmt: skip
    return key


def _employer_id(conn: Any, employer_no: str) -> int:
    return accounts.get_employer(conn, employer_no).id


@router.post(
    "/employers/{account_no}/remittances",
    status_code=201,
    summary="Submit a list (汇缴/补缴清册) as JSON",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_SUBMIT))],
)
def submit_list(
    account_no: str, body: ListIn, conn: WriteDb, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> RemittanceOut:
    rows = [
        ListRow(n, r.account_no, r.name, r.base_fen, r.employer_fen, r.member_fen)
        for n, r in enumerate(body.rows, 1)
    ]
    row = service.submit_list(
        conn, ctx, account_no, kind=Kind(body.kind), month=body.month, rows=rows, source="api",
        idempotency_key=_require_key(idempotency_key),
    )  # fmt: skip
    return RemittanceOut(**fields_of(row))


@router.post(
    "/employers/{account_no}/remittances/upload",
    status_code=201,
    summary="Upload a list file (csv/xlsx)",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_SUBMIT))],
)
def upload_list(
    account_no: str,
    conn: WriteDb,
    ctx: Ctx,
    file: Annotated[UploadFile, File(description="清册: .csv or .xlsx from the template")],
    month: Annotated[str, Form(pattern=r"^\d{4}-\d{2}$")],
    kind: Annotated[Literal["01", "02"], Form()] = "01",
    idempotency_key: IdempotencyKey = None,
) -> RemittanceOut:
    # A sync route on purpose: reading and parsing the file is blocking CPU work, run on a worker
    # thread, so a large or hostile file never stalls the event loop (everyone else's requests).
    content = file.file.read(lists.MAX_BYTES + 1)
    rows, parse_errors = lists.read_list(file.filename or "", content)
    key = (
        idempotency_key
        or "file:" + hashlib.sha256(f"{account_no}|{kind}|{month}|".encode() + content).hexdigest()
    )
    source = "xlsx" if (file.filename or "").lower().endswith((".xlsx", ".xls")) else "csv"
    row = service.submit_list(
        conn, ctx, account_no, kind=Kind(kind), month=month, rows=rows, source=source,
        idempotency_key=key[:80], parse_errors=parse_errors,
    )  # fmt: skip
    return RemittanceOut(**fields_of(row))


@router.get(
    "/employers/{account_no}/remittance-template.{fmt}",
    summary="List template, prefilled with active members",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_SUBMIT))],
)
def template(
    account_no: str, fmt: Literal["csv", "xlsx"], conn: ReadDb, ctx: Ctx, show: Disclose
) -> Response:
    emp = accounts.get_employer(conn, account_no)
    policy = policy_at(conn, ctx.clock.today())
    members = [
        (m.account_no, m.name, m.base_fen,
         *contribution_parts(m.base_fen, emp.employer_rate, emp.member_rate, policy))
        for m in accounts.active_members(conn, emp.id)
    ]  # fmt: skip
    rows = lists.prefilled_rows(members)
    if fmt == "csv":
        body, media = lists.template_csv(rows), "text/csv; charset=utf-8"
    else:
        body = lists.template_xlsx(rows)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    digest = hashlib.sha256(body).hexdigest()
    show.record_export(
        "employer", account_no, rows=len(rows), digest=digest, what="汇缴清册模板（职工姓名、基数）"
    )
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="qingce-{account_no}.{fmt}"'},
    )


@router.get(
    "/employers/{account_no}/remittances",
    summary="An employer's lists, newest first",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_READ))],
)
def employer_lists(account_no: str, conn: ReadDb) -> list[RemittanceOut]:
    return [
        RemittanceOut(**fields_of(r))
        for r in service.employer_remittances(conn, _employer_id(conn, account_no))
    ]


@router.get(
    "/remittances/{remittance_id}",
    summary="One list with its rows",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_READ))],
)
def get_list(remittance_id: Id, conn: ReadDb, show: Disclose) -> RemittanceDetail:
    row = service.get_remittance(conn, remittance_id)
    rows = [RemittanceRowOut(**fields_of(r)) for r in service.remittance_rows(conn, remittance_id)]
    show.record_view("remittance", remittance_id, rows=len(rows), what="缴存清册")
    return RemittanceDetail(**fields_of(row), rows=rows)


@router.post(
    "/remittances/{remittance_id}/allocate",
    summary="Allocate a funded list now (分摊)",
    dependencies=[Depends(requires(Perm.FUNDS_ALLOCATE))],
)
def allocate(remittance_id: Id, conn: WriteDb, ctx: Ctx) -> RemittanceOut:
    return RemittanceOut(**fields_of(service.allocate(conn, ctx, remittance_id)))


@router.post(
    "/employers/{account_no}/receipts",
    status_code=201,
    summary="Record a bank arrival (到账); idempotent by bank_ref",
    dependencies=[Depends(requires(Perm.FUNDS_RECORD))],
)
def record_receipt(account_no: str, body: ReceiptIn, conn: WriteDb, ctx: Ctx) -> ReceiptOut:
    row = service.record_receipt(conn, ctx, account_no, body.amount_fen, body.bank_ref, body.value_date)
    return ReceiptOut(**fields_of(row))


@router.post(
    "/employers/{account_no}/refunds",
    status_code=202,
    summary="Ask to refund unclaimed receipts; another person approves it (/api/v1/approvals)",
    dependencies=[Depends(requires(Perm.FUNDS_ALLOCATE))],
)
def refund(
    account_no: str,
    body: RefundIn,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> ApprovalPublic:
    payload = {"employer_account_no": account_no, "amount_fen": body.amount_fen, "reason": body.reason}
    summary = f"退还单位 {account_no} 暂收款 {format_yuan(body.amount_fen)}元：{body.reason}"
    row = approvals.submit(
        conn,
        ctx,
        who,
        approvals.FUNDS_REFUND,
        payload,
        summary,
        idempotency_key=_require_key(idempotency_key),
    )
    return ApprovalPublic.of(row)


@router.post(
    "/remittances/{remittance_id}/corrections",
    status_code=201,
    summary="Wrong-payment correction (错缴更正)",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_CORRECT))],
)
def correct(
    remittance_id: Id, body: CorrectionIn, conn: WriteDb, ctx: Ctx, idempotency_key: IdempotencyKey = None
) -> dict[str, int]:
    entry = service.correct_wrong_payment(
        conn, ctx, remittance_id, body.account_no, body.amount_fen, body.reason,
        _require_key(idempotency_key), body.to_account_no,
    )  # fmt: skip
    return {"entry_id": entry}


@router.post(
    "/employers/{account_no}/adjustment",
    summary="Annual base and rate adjustment (调基调比), all or nothing",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_SUBMIT))],
)
def adjust(account_no: str, body: AdjustmentIn, conn: WriteDb, ctx: Ctx) -> dict[str, Any]:
    done = service.adjust_base_and_rates(
        conn, ctx, account_no, employer_rate=body.employer_rate, member_rate=body.member_rate,
        bases=body.bases, reason=body.reason,
    )  # fmt: skip
    return fields_of(done)


@router.get(
    "/employers/{account_no}/arrears",
    summary="Open arrears (欠缴) of an employer",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_READ))],
)
def employer_arrears(account_no: str, conn: ReadDb) -> list[ArrearsOut]:
    return [ArrearsOut(**fields_of(a)) for a in service.open_arrears(conn, _employer_id(conn, account_no))]


@router.get(
    "/receipts/unallocated",
    summary="Receipts no list claims, and lists short of money",
    dependencies=[Depends(requires(Perm.CONTRIBUTION_READ))],
)
def unallocated(conn: ReadDb) -> list[Unallocated]:
    return [Unallocated(**fields_of(r)) for r in service.unallocated(conn)]
