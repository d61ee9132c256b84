"""HTTP API of data quality (``/api/v1/data/quality/…``, permission ``data:quality``): the rules,
the score card with its trend, a rule's findings, a finding with its history, a full scan, and
the workflow of a finding — assign, note, propose the fix (maker-checker), re-scan, close. Every
POST is a change in the request's unit of work, so its audit row is written with it
(``hpf.web.audit_trail``); the finding's own history names who did each step."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from hpf.access.permissions import Perm, Scope
from hpf.kernel.records import fields_of
from hpf.quality import service as quality
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Code, Id, Name, Offset, Text
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1/data/quality", tags=["data"], route_class=HpfRoute)

QUALITY = [Depends(requires(Perm.DATA_QUALITY, scope=Scope.CENTER))]


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: Name = Field(description="the staff member's login")
    note: Text = ""


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text


class FixBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Code = Field(description="the corrected value: a birth date YYYY-MM-DD, or a sex code 1/2")
    note: Text = ""


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text = ""


def _rule(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.id, "dimension": rule.dimension.value, "dimension_zh": rule.dimension.label_zh,
        "table": rule.table, "object": rule.object, "severity": rule.severity.value, "title_zh": rule.title_zh,
        "explanation_zh": rule.explanation_zh, "fix_zh": rule.fix_zh, "fix_service": rule.fix_service,
        "fix_page": rule.fix_page, "check": rule.check, "params": dict(rule.params),
    }  # fmt: skip


def _summary(summary: quality.ScanSummary) -> dict[str, Any]:
    return {
        "run_id": summary.run_id, "at": summary.at, "scope": summary.scope, "new": summary.new,
        "passed": summary.passed, "reopened": summary.reopened, "seconds": summary.seconds,
        "results": [fields_of(r) | {"score": r.score} for r in summary.results],
    }  # fmt: skip


@router.get("/rules", dependencies=QUALITY, summary="The quality rules (rules as data)")
def list_rules() -> list[dict[str, Any]]:
    return [_rule(r) for r in quality.rules()]


@router.get("/scorecard", dependencies=QUALITY, summary="Scores by dimension, table and rule, with trend")
def scorecard(conn: ReadDb, runs: Annotated[int, Query(ge=1, le=100)] = 12) -> quality.ScoreCard:
    return quality.scorecard(conn, runs=runs)


@router.get(
    "/rules/{rule_id}/findings",
    dependencies=QUALITY,
    summary="A rule's findings (state: open, assigned, closed, passed)",
)
def rule_findings(
    conn: ReadDb,
    rule_id: Annotated[str, Path(max_length=40)],
    state: Annotated[Code | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[quality.FindingView]:
    return quality.findings(conn, rule_id, state=state or None, limit=limit, offset=offset)


@router.get("/findings/{finding_id}", dependencies=QUALITY, summary="A finding and its history")
def finding(conn: ReadDb, finding_id: Id) -> dict[str, Any]:
    return {
        "finding": quality.get_finding(conn, finding_id),
        "history": quality.finding_history(conn, finding_id),
    }


@router.post("/scan", dependencies=QUALITY, summary="Run every rule over the whole center as of today")
def run_scan(conn: WriteDb, ctx: Ctx) -> dict[str, Any]:
    return _summary(quality.scan_in(conn, at=ctx.clock.today(), actor=ctx.actor))


@router.post(
    "/findings/{finding_id}/assign", dependencies=QUALITY, summary="Assign a finding to a staff member"
)
def assign(conn: WriteDb, ctx: Ctx, finding_id: Id, body: AssignBody) -> quality.FindingView:
    return quality.assign(conn, ctx, finding_id, body.assignee, body.note)


@router.post(
    "/findings/{finding_id}/notes", dependencies=QUALITY, summary="Add a note to a finding's history"
)
def note(conn: WriteDb, ctx: Ctx, finding_id: Id, body: NoteBody) -> quality.FindingView:
    return quality.add_note(conn, ctx, finding_id, body.note)


@router.post(
    "/findings/{finding_id}/fix",
    dependencies=QUALITY,
    summary="Propose the correction of a member's birth date or sex (maker-checker kind member.identity)",
)
def propose_fix(
    conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, finding_id: Id, body: FixBody
) -> dict[str, Any]:
    request = quality.propose_identity_fix(conn, ctx, who, finding_id, body.value, body.note)
    return {"approval_request": request.id, "state": request.state, "summary": request.summary}


@router.post(
    "/findings/{finding_id}/rescan", dependencies=QUALITY, summary="Re-run the finding's rule over the center"
)
def rescan(conn: WriteDb, ctx: Ctx, finding_id: Id) -> quality.FindingView:
    return quality.rescan_in(conn, dataclasses.replace(ctx, source="api"), finding_id)


@router.post(
    "/findings/{finding_id}/close", dependencies=QUALITY, summary="Close a finding whose rule passed since"
)
def close(conn: WriteDb, ctx: Ctx, finding_id: Id, body: CloseBody) -> quality.FindingView:
    return quality.close(conn, ctx, finding_id, body.note)
