"""HTTP API for employer and member accounts (``/api/v1/employers``, ``/api/v1/members``).

Handlers parse, call the service, shape the response; rules live in ``rules.py`` and
``service.py``. Request and response schemas are separate so a table row is never returned raw.
Every member or employer record leaves through ``hpf.disclosure.http`` (audited, masked by role;
``?unmask=true&purpose=…`` for those allowed to see it in full).
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from hpf.access.permissions import Perm
from hpf.accounts import service
from hpf.accounts.rules import CloseKind
from hpf.disclosure.http import Disclose, Disclosure
from hpf.kernel.errors import InvalidInput
from hpf.kernel.exports import safe_row
from hpf.kernel.records import fields_of
from hpf.ledger import service as ledger
from hpf.web.auth import requires
from hpf.web.bounds import NAME_MAX, Code, Fen, Name, Offset, SmallInt, Text
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1", tags=["accounts"], route_class=HpfRoute)

Money = int  # fen
EXPORT_LIMIT = 100_000


class EmployerCreate(BaseModel):
    uscc: Code = Field(description="统一社会信用代码 (GB 32100)")
    name: Name
    address: Text
    legal_rep_name: Name
    contact_name: Name
    contact_phone: Code
    bank_name: Name
    bank_account_no: Code
    payday: SmallInt = Field(description="发薪日 1..31")
    employer_rate: Code = Field(description='单位缴存比例, decimal string, e.g. "0.12"')
    member_rate: Code = Field(description='个人缴存比例, decimal string, e.g. "0.12"')
    economic_type: Code | None = None


class EmployerChange(BaseModel):
    changes: dict[str, Any] = Field(description='fields to change, e.g. {"address": "..."}', max_length=20)
    reason: Text


class Reason(BaseModel):
    reason: Text


class Deferral(BaseModel):
    from_month: Code = Field(pattern=r"^\d{4}-\d{2}$")
    to_month: Code = Field(pattern=r"^\d{4}-\d{2}$")
    reason: Text


class EmployerPublic(BaseModel):
    account_no: str
    uscc: str
    name: str
    address: str
    legal_rep_name: str
    contact_name: str
    contact_phone: str
    bank_name: str
    bank_account_no: str
    payday: int
    employer_rate: str
    member_rate: str
    economic_type: str | None
    state: str
    opened_on: date
    closed_on: date | None
    deferral_from: str | None
    deferral_to: str | None
    paid_through: str | None
    unallocated_fen: Money = 0

    @classmethod
    def of(cls, row: dict[str, Any], unallocated_fen: int = 0) -> EmployerPublic:
        return cls(
            **{k: row[k] for k in cls.model_fields if k in row and k not in ("employer_rate", "member_rate")},
            employer_rate=str(row["employer_rate"]),
            member_rate=str(row["member_rate"]),
            unallocated_fen=unallocated_fen,
        )


class MemberCreate(BaseModel):
    employer_account_no: Code
    resident_id: Code = Field(description="18位居民身份证号码 (GB 11643)")
    name: Name
    base_fen: Fen = Field(description="缴存基数, fen")
    phone: Code | None = None


class MemberChange(BaseModel):
    changes: dict[str, Any] = Field(description="fields to change: name, phone, base_fen", max_length=20)
    reason: Text


class Transfer(BaseModel):
    employer_account_no: Code
    reason: Text
    base_fen: Fen | None = None


class Close(BaseModel):
    kind: CloseKind = CloseKind.WITHDRAWN
    reason: Text


class MemberPublic(BaseModel):
    account_no: str
    resident_id: str
    name: str
    name_pinyin: str
    gender: str
    birth_date: str  # ISO date, or masked to the year (1990-**-**)
    phone: str | None
    employer_account_no: str | None = None
    employer_name: str | None = None
    base_fen: Money
    state: str
    opened_on: date
    closed_on: date | None
    carried_fen: Money
    current_fen: Money
    balance_fen: Money

    @classmethod
    def of(cls, row: dict[str, Any]) -> MemberPublic:
        values = {k: row[k] for k in cls.model_fields if k in row}
        values["birth_date"] = str(row["birth_date"])
        return cls(**values)


class HistoryItem(BaseModel):
    id: int
    action: str
    business_type: str
    business_date: date
    recorded_at: datetime
    actor: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class StatementLine(BaseModel):
    entry_id: int
    value_date: date
    posting_date: date
    business_type: str
    business_id: str
    memo: str
    balance_part: Literal["carried", "current"]
    amount_fen: Money
    running_fen: Money
    reverses_entry_id: int | None


class MemberPage(BaseModel):
    total: int
    items: list[MemberPublic]


# ---------------------------------------------------------------------------------- employers


def _employer_out(
    conn: Any, row: service.Employer, show: Disclosure, *, write: bool = False
) -> EmployerPublic:
    shown = show.one("employer", row, conn=conn if write else None)
    return EmployerPublic.of(shown, ledger.employer_balance_of(conn, row.id))


@router.post(
    "/employers",
    dependencies=[Depends(requires(Perm.EMPLOYER_WRITE))],
    status_code=201,
    summary="Register an employer (单位开户)",
)
def register_employer(body: EmployerCreate, conn: WriteDb, ctx: Ctx, show: Disclose) -> EmployerPublic:
    return _employer_out(conn, service.register_employer(conn, ctx, body.model_dump()), show, write=True)


@router.get(
    "/employers",
    dependencies=[Depends(requires(Perm.EMPLOYER_READ))],
    summary="Find employers by name prefix, USCC or account number",
)
def find_employers(
    conn: ReadDb,
    show: Disclose,
    q: str = Query("", max_length=NAME_MAX),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> list[EmployerPublic]:
    return [
        EmployerPublic.of(r) for r in show.show("employer", service.find_employers(conn, q, limit, offset))
    ]


@router.get("/employers/{account_no}", dependencies=[Depends(requires(Perm.EMPLOYER_READ))])
def get_employer(account_no: str, conn: ReadDb, show: Disclose) -> EmployerPublic:
    return _employer_out(conn, service.get_employer(conn, account_no), show)


@router.patch(
    "/employers/{account_no}",
    dependencies=[Depends(requires(Perm.EMPLOYER_WRITE))],
    summary="Change an employer's registered details (变更)",
)
def change_employer(
    account_no: str, body: EmployerChange, conn: WriteDb, ctx: Ctx, show: Disclose
) -> EmployerPublic:
    return _employer_out(
        conn, service.change_employer(conn, ctx, account_no, body.changes, body.reason), show, write=True
    )


@router.post(
    "/employers/{account_no}/seal",
    dependencies=[Depends(requires(Perm.EMPLOYER_WRITE))],
    summary="Seal an employer and its active members (封存)",
)
def seal_employer(account_no: str, body: Reason, conn: WriteDb, ctx: Ctx, show: Disclose) -> EmployerPublic:
    return _employer_out(conn, service.seal_employer(conn, ctx, account_no, body.reason), show, write=True)


@router.post(
    "/employers/{account_no}/unseal",
    dependencies=[Depends(requires(Perm.EMPLOYER_WRITE))],
    summary="Unseal an employer (启封)",
)
def unseal_employer(account_no: str, body: Reason, conn: WriteDb, ctx: Ctx, show: Disclose) -> EmployerPublic:
    return _employer_out(conn, service.unseal_employer(conn, ctx, account_no, body.reason), show, write=True)


@router.post(
    "/employers/{account_no}/deferral",
    dependencies=[Depends(requires(Perm.EMPLOYER_WRITE))],
    summary="Put an employer in deferral (缓缴)",
)
def defer_employer(
    account_no: str, body: Deferral, conn: WriteDb, ctx: Ctx, show: Disclose
) -> EmployerPublic:
    row = service.defer_employer(conn, ctx, account_no, body.from_month, body.to_month, body.reason)
    return _employer_out(conn, row, show, write=True)


@router.post(
    "/employers/{account_no}/deferral/end",
    dependencies=[Depends(requires(Perm.EMPLOYER_WRITE))],
    summary="End an employer's deferral",
)
def end_deferral(account_no: str, body: Reason, conn: WriteDb, ctx: Ctx, show: Disclose) -> EmployerPublic:
    return _employer_out(conn, service.end_deferral(conn, ctx, account_no, body.reason), show, write=True)


@router.post(
    "/employers/{account_no}/close",
    dependencies=[Depends(requires(Perm.EMPLOYER_WRITE))],
    summary="Close an employer at zero balance (单位销户)",
)
def close_employer(account_no: str, body: Reason, conn: WriteDb, ctx: Ctx, show: Disclose) -> EmployerPublic:
    return _employer_out(conn, service.close_employer(conn, ctx, account_no, body.reason), show, write=True)


@router.get(
    "/employers/{account_no}/members",
    dependencies=[Depends(requires(Perm.MEMBER_READ))],
    summary="An employer's members with balances",
)
def employer_members(
    account_no: str,
    conn: ReadDb,
    show: Disclose,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> MemberPage:
    row = service.get_employer(conn, account_no)
    total, items = service.employer_members(conn, row.id, limit=limit, offset=offset)
    shown = show.show("member", [{**fields_of(m), "employer_account_no": account_no} for m in items])
    return MemberPage(total=total, items=[MemberPublic.of(m) for m in shown])


EXPORT_COLUMNS = (
    ("account_no", "个人账号"),
    ("name", "姓名"),
    ("resident_id", "证件号码"),
    ("phone", "手机号码"),
    ("base_fen", "缴存基数（分）"),
    ("state", "账户状态"),
    ("opened_on", "开户日期"),
    ("balance_fen", "账户余额（分）"),
    ("employer_name", "单位名称"),
)


@router.get(
    "/employers/{account_no}/members/export",
    dependencies=[Depends(requires(Perm.MEMBER_READ))],
    summary="An employer's members as CSV (职工名册), masked as the viewer may see them; audited",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_employer_members(account_no: str, conn: ReadDb, show: Disclose) -> Response:
    row = service.get_employer(conn, account_no)
    total, items = service.employer_members(conn, row.id, limit=EXPORT_LIMIT, offset=0)
    if total > EXPORT_LIMIT:
        raise InvalidInput(
            "export.too_large",
            f"一次最多导出{EXPORT_LIMIT}名职工",
            f"the employer has {total} members; exports stop at {EXPORT_LIMIT}",
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in EXPORT_COLUMNS])
    for m in show.masked("member", items):
        m = {**m, "employer_name": row.name}
        writer.writerow(safe_row("" if m.get(key) is None else str(m[key]) for key, _ in EXPORT_COLUMNS))
    body = ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8
    show.record_export(
        "employer", account_no, rows=len(items), digest=hashlib.sha256(body).hexdigest(), what="职工名册"
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="members-{account_no}.csv"'},
    )


@router.get(
    "/employers/{account_no}/history",
    dependencies=[Depends(requires(Perm.EMPLOYER_READ))],
    summary="Change history of an employer account",
)
def employer_history(account_no: str, conn: ReadDb, show: Disclose) -> list[HistoryItem]:
    row = service.get_employer(conn, account_no)
    changes = service.history(conn, "employer", row.id)
    return [HistoryItem(**h) for h in show.show("account_history", changes, subject_ids=[row.id])]


# ------------------------------------------------------------------------------------ members


def _member_out(conn: Any, account_no: str, show: Disclosure, *, write: bool = False) -> MemberPublic:
    row = service.find_members(conn, account_no, limit=1)[0]
    return MemberPublic.of(show.one("member", row, conn=conn if write else None))


@router.post(
    "/members",
    dependencies=[Depends(requires(Perm.MEMBER_WRITE))],
    status_code=201,
    summary="Open a member account (个人开户); reopens a closed one",
)
def open_member(body: MemberCreate, conn: WriteDb, ctx: Ctx, show: Disclose) -> MemberPublic:
    row = service.open_member(
        conn, ctx, body.employer_account_no, body.model_dump(exclude={"employer_account_no"})
    )
    return _member_out(conn, row.account_no, show, write=True)


@router.get(
    "/members",
    dependencies=[Depends(requires(Perm.MEMBER_READ))],
    summary="Find members by name prefix, resident ID or account number",
)
def find_members(
    conn: ReadDb,
    show: Disclose,
    q: str = Query("", max_length=NAME_MAX),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> list[MemberPublic]:
    return [MemberPublic.of(r) for r in show.show("member", service.find_members(conn, q, limit, offset))]


@router.get("/members/{account_no}", dependencies=[Depends(requires(Perm.MEMBER_READ))])
def get_member(account_no: str, conn: ReadDb, show: Disclose) -> MemberPublic:
    service.get_member(conn, account_no)  # 404 when absent
    return _member_out(conn, account_no, show)


@router.patch(
    "/members/{account_no}",
    dependencies=[Depends(requires(Perm.MEMBER_WRITE))],
    summary="Change a member's details (变更)",
)
def change_member(
    account_no: str, body: MemberChange, conn: WriteDb, ctx: Ctx, show: Disclose
) -> MemberPublic:
    service.change_member(conn, ctx, account_no, body.changes, body.reason)
    return _member_out(conn, account_no, show, write=True)


def _member_action(name: str, summary: str, permission: Perm) -> None:
    action = getattr(service, f"{name}_member")

    def handler(account_no: str, body: Reason, conn: WriteDb, ctx: Ctx, show: Disclose) -> MemberPublic:
        action(conn, ctx, account_no, body.reason)
        return _member_out(conn, account_no, show, write=True)

    router.add_api_route(
        f"/members/{{account_no}}/{name}",
        handler,
        methods=["POST"],
        summary=summary,
        response_model=MemberPublic,
        name=f"{name}_member",
        dependencies=[Depends(requires(permission))],
    )


for _name, _summary, _permission in (
    ("seal", "Seal a member account (封存)", Perm.MEMBER_WRITE),
    ("unseal", "Unseal a member account (启封)", Perm.MEMBER_WRITE),
    ("freeze", "Freeze a member account (冻结)", Perm.MEMBER_RESTRICT),
    ("unfreeze", "Unfreeze a member account (解冻)", Perm.MEMBER_RESTRICT),
):
    _member_action(_name, _summary, _permission)


@router.post(
    "/members/{account_no}/transfer",
    dependencies=[Depends(requires(Perm.MEMBER_WRITE))],
    summary="Move a member to another employer in this center (内部转移)",
)
def transfer_member(account_no: str, body: Transfer, conn: WriteDb, ctx: Ctx, show: Disclose) -> MemberPublic:
    service.transfer_member(conn, ctx, account_no, body.employer_account_no, body.reason, body.base_fen)
    return _member_out(conn, account_no, show, write=True)


@router.post(
    "/members/{account_no}/close",
    dependencies=[Depends(requires(Perm.MEMBER_RESTRICT))],
    summary="Close a member account at zero balance (销户)",
)
def close_member(account_no: str, body: Close, conn: WriteDb, ctx: Ctx, show: Disclose) -> MemberPublic:
    service.close_member(conn, ctx, account_no, body.kind, body.reason)
    return _member_out(conn, account_no, show, write=True)


@router.get(
    "/members/{account_no}/history",
    dependencies=[Depends(requires(Perm.MEMBER_READ))],
    summary="Change history of a member account",
)
def member_history(account_no: str, conn: ReadDb, show: Disclose) -> list[HistoryItem]:
    row = service.get_member(conn, account_no)
    changes = service.history(conn, "member", row.id)
    return [HistoryItem(**h) for h in show.show("account_history", changes, subject_ids=[row.id])]


@router.get(
    "/members/{account_no}/statement",
    dependencies=[Depends(requires(Perm.MEMBER_READ))],
    summary="Postings with running balance, newest first",
)
def member_statement(
    account_no: str, conn: ReadDb, limit: int = Query(100, ge=1, le=1000), offset: Offset = 0
) -> list[StatementLine]:
    row = service.get_member(conn, account_no)
    return [
        StatementLine(**fields_of(s))
        for s in ledger.member_statement(conn, row.id, limit=limit, offset=offset)
    ]
