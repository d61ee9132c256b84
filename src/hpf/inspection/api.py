"""HTTP API of the electronic audit (电子稽查), under ``/api/v1/inspection``.

- ``GET /rules``: the rule pack as data; ``GET /runs``: the latest runs of the pack;
- ``GET /cases`` (filters ``rule``, ``state`` — a case state, ``active`` or ``concluded`` —,
  ``assignee``, paging) and ``GET /cases/counts`` (cases per rule: not concluded, confirmed,
  cleared); ``GET /cases/{case_id}``: a case with its finding's facts and its history;
- ``POST /cases/{case_id}/assign``, ``/notes``, ``/confirm`` (the money to recover, integer fen),
  ``/clear`` (a reason): each step of a case, ``inspection:handle``; ``version`` (optional) refuses
  a step on a case someone changed since it was read (409).

Reads need ``inspection:read``. Every step writes its own audit-log row and business event (the
service); the request's change row is written as for every change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from hpf.access.permissions import Perm, Principal, Scope
from hpf.inspection import service
from hpf.inspection.rules import rules
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import BodyId, Code, Id, NonNegativeFen, Offset, Text
from hpf.web.callers import role_of
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1/inspection", tags=["inspection"], route_class=HpfRoute)

READ = [Depends(requires(Perm.INSPECTION_READ, scope=Scope.CENTER))]
HANDLE = [Depends(requires(Perm.INSPECTION_HANDLE, scope=Scope.CENTER))]


class RulePublic(BaseModel):
    id: str
    title_zh: str
    title_en: str
    severity: str = Field(description="warning or error")
    object: str = Field(description="employer, member, application, journal_entry or loan")
    action_zh: str
    params: dict[str, int]


class AssignIn(BaseModel):
    assignee: Code = Field(description="the login of the auditor who takes the case")
    version: BodyId | None = None


class NoteIn(BaseModel):
    note: Text
    version: BodyId | None = None


class ConfirmIn(BaseModel):
    recover_fen: NonNegativeFen = Field(description="the money to recover, integer fen (0: none)")
    conclusion: Text
    version: BodyId | None = None


class ClearIn(BaseModel):
    reason: Text
    version: BodyId | None = None


@router.get(
    "/rules", dependencies=READ, summary="The audit rule pack as data", response_model=list[RulePublic]
)
def rule_pack() -> list[RulePublic]:
    return [
        RulePublic(
            id=r.id,
            title_zh=r.title_zh,
            title_en=r.title_en,
            severity=r.severity.value,
            object=r.object,
            action_zh=r.action_zh,
            params=dict(r.params),
        )
        for r in rules()
    ]


@router.get(
    "/runs", dependencies=READ, summary="The latest runs of the pack", response_model=list[service.RunRow]
)
def runs(conn: ReadDb, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[service.RunRow]:
    return service.latest_runs(conn, limit)


@router.get("/cases", dependencies=READ, summary="Cases, newest first", response_model=list[service.CaseRow])
def cases(
    conn: ReadDb,
    rule: Annotated[Code | None, Query()] = None,
    state: Annotated[Code | None, Query(description="a case state, active or concluded")] = None,
    assignee: Annotated[Code | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> list[service.CaseRow]:
    return service.list_cases(
        conn, rule=rule, state=service.checked_state(state), assignee=assignee, limit=limit, offset=offset
    )


@router.get(
    "/cases/counts", dependencies=READ, summary="Cases per rule", response_model=list[service.RuleCount]
)
def case_counts(conn: ReadDb) -> list[service.RuleCount]:
    return service.counts_by_rule(conn)


@router.get(
    "/cases/{case_id}", dependencies=READ, summary="A case: its finding's facts and its history",
    response_model=service.CaseDetail,
)  # fmt: skip
def case(case_id: Id, conn: ReadDb) -> service.CaseDetail:
    return service.case_detail(conn, case_id)


def _role(who: Principal) -> str:
    return role_of(who)


@router.post("/cases/{case_id}/assign", dependencies=HANDLE, summary="Assign the case to an auditor")
def assign(case_id: Id, body: AssignIn, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> service.CaseDetail:
    service.assign(conn, ctx, case_id, body.assignee, role=_role(who), version=body.version)
    return service.case_detail(conn, case_id)


@router.post("/cases/{case_id}/notes", dependencies=HANDLE, summary="An investigation note")
def add_note(case_id: Id, body: NoteIn, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> service.CaseDetail:
    service.note(conn, ctx, case_id, body.note, role=_role(who), version=body.version)
    return service.case_detail(conn, case_id)


@router.post(
    "/cases/{case_id}/confirm", dependencies=HANDLE, summary="Conclude: a breach, with the money to recover"
)
def confirm(
    case_id: Id, body: ConfirmIn, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal
) -> service.CaseDetail:
    service.confirm(
        conn, ctx, case_id, body.recover_fen, body.conclusion, role=_role(who), version=body.version
    )
    return service.case_detail(conn, case_id)


@router.post("/cases/{case_id}/clear", dependencies=HANDLE, summary="Conclude: explained, with the reason")
def clear(case_id: Id, body: ClearIn, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal) -> service.CaseDetail:
    service.clear(conn, ctx, case_id, body.reason, role=_role(who), version=body.version)
    return service.case_detail(conn, case_id)
