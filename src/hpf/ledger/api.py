"""HTTP API for the ledger: subjects with balances, entries, reversal, period close, check."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel

from hpf.access.permissions import Perm
from hpf.approvals import service as approvals
from hpf.approvals.public import ApprovalPublic
from hpf.kernel.records import fields_of
from hpf.ledger import service
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import CODE_MAX, Id, Offset, Text
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"], route_class=HpfRoute)


class SubjectBalance(BaseModel):
    code: str
    name_zh: str
    name_en: str
    category: str
    normal_side: str
    postable: bool
    debit_fen: int
    credit_fen: int
    balance_fen: int


class LinePublic(BaseModel):
    subject_code: str
    side: str
    amount_fen: int
    member_id: int | None
    employer_id: int | None
    balance_part: str | None


class EntryPublic(BaseModel):
    id: int
    business_type: str
    business_id: str
    idempotency_key: str
    value_date: date
    posting_date: date
    actor: str
    memo: str
    reverses_entry_id: int | None
    lines: list[LinePublic] = []


class ReversalRequest(BaseModel):
    reason: Text


@router.get(
    "/subjects",
    summary="Chart of accounts with debit, credit and balance in fen",
    dependencies=[Depends(requires(Perm.LEDGER_READ))],
)
def subjects(conn: ReadDb) -> list[SubjectBalance]:
    return [SubjectBalance(**fields_of(s)) for s in service.subject_balances(conn)]


@router.get(
    "/entries", summary="Journal entries, newest first", dependencies=[Depends(requires(Perm.LEDGER_READ))]
)
def entries(
    conn: ReadDb,
    business_id: str | None = Query(None, max_length=CODE_MAX),
    posted_from: date | None = None,
    posted_to: date | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> list[EntryPublic]:
    rows = service.find_entries(
        conn,
        business_id=business_id,
        posted_from=posted_from,
        posted_to=posted_to,
        limit=limit,
        offset=offset,
    )
    return [EntryPublic(**fields_of(r)) for r in rows]


@router.get(
    "/entries/{entry_id}",
    summary="One journal entry with its lines",
    dependencies=[Depends(requires(Perm.LEDGER_READ))],
)
def entry(entry_id: Id, conn: ReadDb) -> EntryPublic:
    loaded, head = service.load_entry(conn, entry_id)  # its lines were read with it: no second query
    lines = [
        LinePublic(
            subject_code=ln.subject, side=ln.side.value, amount_fen=ln.amount_fen, member_id=ln.member_id,
            employer_id=ln.employer_id, balance_part=ln.part.value if ln.part else None,
        )
        for ln in loaded.lines
    ]  # fmt: skip
    return EntryPublic(**fields_of(head), lines=lines)


@router.post(
    "/entries/{entry_id}/reversal",
    status_code=202,
    summary="Ask for the linked reversal of an entry (冲账); another person approves it (/api/v1/approvals)",
    dependencies=[Depends(requires(Perm.LEDGER_REVERSE))],
)
def reverse(
    entry_id: Id,
    body: ReversalRequest,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(max_length=80)] = None,
) -> ApprovalPublic:
    payload = {"entry_id": entry_id, "reason": body.reason}
    summary = f"冲销记账凭证 #{entry_id}：{body.reason}"
    row = approvals.submit(
        conn, ctx, who, approvals.LEDGER_REVERSAL, payload, summary, idempotency_key=idempotency_key
    )
    return ApprovalPublic.of(row)


@router.post(
    "/periods/{period}/close",
    status_code=204,
    summary="Close an accounting month (结账)",
    dependencies=[Depends(requires(Perm.LEDGER_CLOSE))],
)
def close_period(period: str, conn: WriteDb, ctx: Ctx) -> None:
    service.close_period(conn, ctx, period)
