"""The 数据质量 pages (permission ``data:quality``): the score card (``/data/quality``: by
dimension, table and rule, each with its trend, drawn by ECharts), a rule's findings
(``/data/quality/rules/{rule_id}``) and a finding with its history and its actions
(``/data/quality/findings/{finding_id}``: assign, note, propose the fix, re-scan, close)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Principal, Scope
from hpf.approvals.service import kind_of
from hpf.kernel.errors import HpfError, NotFound
from hpf.quality import service as quality
from hpf.quality.rules import Dimension, rule_of
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render, staff_names

router = APIRouter(include_in_schema=False, route_class=PageRoute)

QUALITY = [Depends(requires(Perm.DATA_QUALITY, scope=Scope.CENTER))]
FormText = Annotated[str, Form(max_length=400)]
RuleId = Annotated[str, Path(max_length=40)]
DONE_ZH = {
    "assigned": "已指派。",
    "note": "已记录备注。",
    "fix": "更正已提交，待另一名数据管理员在“待审批”中复核。",
    "rescan": "已复扫该规则。",
    "closed": "发现项已关闭。",
    "scan": "已完成全中心数据质量检查。",
}
_OBJECT_PAGE = {"member": "/members/{}", "employer": "/employers/{}", "loan": "/loans/{}"}
STATES = [
    ("", "全部"),
    ("open", "待处理"),
    ("assigned", "处理中"),
    ("passed", "复扫已通过"),
    ("closed", "已关闭"),
]


def _pct(score: Any) -> float:
    return float(score * 100)


def _trend_chart(rows: tuple[quality.ScoreRow, ...]) -> dict[str, Any] | None:
    """Scores (%) of each row over the recent full runs: one line per row."""
    runs = sorted({(run_id, day) for r in rows for run_id, day, _ in r.trend})
    if not runs:
        return None
    x = [f"{day}（第{run_id}次）" for run_id, day in runs]
    series = []
    for r in rows:
        by_run = {run_id: _pct(score) for run_id, _, score in r.trend}
        series.append(
            {"name": r.label_zh, "type": "line", "data": [by_run.get(run_id) for run_id, _ in runs]}
        )
    return {"x": x, "axes": [{"unit": "number", "name": "得分（%）"}], "series": series}


@router.get("/data/quality", dependencies=QUALITY)
def scorecard_page(request: Request, conn: ReadDb) -> Response:
    card = quality.scorecard(conn)
    rules = {r.id: r for r in quality.rules()}
    return render(
        request,
        "quality_scorecard.html",
        {
            "nav": "data_quality",
            "card": card,
            "rules": rules,
            "dimension_chart": _trend_chart(card.dimensions),
            "table_chart": _trend_chart(card.tables),
            "done": DONE_ZH.get(request.query_params.get("done", ""), ""),
        },
    )


@router.post("/data/quality/scan", dependencies=QUALITY)
def scan_page(conn: WriteDb, ctx: Ctx) -> Response:
    quality.scan_in(conn, at=ctx.clock.today(), actor=ctx.actor)
    return RedirectResponse("/data/quality?done=scan", status_code=303)


@router.get("/data/quality/rules/{rule_id}", dependencies=QUALITY)
def rule_page(
    request: Request,
    conn: ReadDb,
    rule_id: RuleId,
    state: Annotated[str, Query(max_length=10)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    rule = rule_of(rule_id, quality.rules())
    if rule is None:
        raise NotFound("quality.rule_not_found", "数据质量规则不存在", f"no quality rule {rule_id!r}")
    card = quality.scorecard(conn)
    row = next((r for r in card.rules if r.key == rule_id), None)
    found = quality.findings(conn, rule_id, state=state or None, limit=101, offset=offset)
    return render(
        request,
        "quality_rule.html",
        {
            "nav": "data_quality",
            "rule": rule,
            "row": row,
            "rule_chart": _trend_chart((row,)) if row else None,
            "findings": found[:100],
            "more": len(found) > 100,
            "offset": offset,
            "state": state,
            "states": STATES,
        },
    )


def _finding_context(request: Request, conn: Connection, who: Principal, finding_id: int) -> dict[str, Any]:
    finding = quality.get_finding(conn, finding_id)
    rule = rule_of(finding.rule_id, quality.rules())
    history = quality.finding_history(conn, finding_id)
    identity_field = quality.IDENTITY_RULES.get(finding.rule_id)
    return {
        "nav": "data_quality",
        "finding": finding,
        "rule": rule,
        "history": history,
        "actor_names": staff_names(conn, [h.actor for h in history] + [finding.assignee or ""]),
        "identity_field": identity_field,
        "may_propose": identity_field is not None and who.may(kind_of("member.identity").permission),
        "object_href": _OBJECT_PAGE[rule.object].format(finding.object) if rule else "",
        "done": DONE_ZH.get(request.query_params.get("done", ""), ""),
        "error": "",
        "dimension_zh": Dimension(rule.dimension).label_zh if rule else "",
    }


@router.get("/data/quality/findings/{finding_id}", dependencies=QUALITY)
def finding_page(request: Request, conn: ReadDb, who: CurrentPrincipal, finding_id: Id) -> Response:
    return render(request, "quality_finding.html", _finding_context(request, conn, who, finding_id))


def _act(
    request: Request,
    conn: Connection,
    who: Principal,
    finding_id: int,
    action: Callable[[], object],
    done: str,
) -> Response:
    try:
        with conn.begin_nested():
            action()
    except HpfError as exc:
        if exc.status == 404:
            raise
        context = _finding_context(request, conn, who, finding_id) | {"error": exc.title}
        return render(request, "quality_finding.html", context, status_code=exc.status)
    return RedirectResponse(f"/data/quality/findings/{finding_id}?done={done}", status_code=303)


@router.post("/data/quality/findings/{finding_id}/assign", dependencies=QUALITY)
def assign_page(
    request: Request,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    finding_id: Id,
    assignee: FormText = "",
    note: FormText = "",
) -> Response:
    page = dataclasses.replace(ctx, source="page")
    return _act(
        request,
        conn,
        who,
        finding_id,
        lambda: quality.assign(conn, page, finding_id, assignee, note),
        "assigned",
    )


@router.post("/data/quality/findings/{finding_id}/notes", dependencies=QUALITY)
def note_page(
    request: Request, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, finding_id: Id, note: FormText = ""
) -> Response:
    page = dataclasses.replace(ctx, source="page")
    return _act(
        request, conn, who, finding_id, lambda: quality.add_note(conn, page, finding_id, note), "note"
    )


@router.post("/data/quality/findings/{finding_id}/fix", dependencies=QUALITY)
def fix_page(
    request: Request,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    finding_id: Id,
    value: FormText = "",
    note: FormText = "",
) -> Response:
    page = dataclasses.replace(ctx, source="page")
    return _act(
        request,
        conn,
        who,
        finding_id,
        lambda: quality.propose_identity_fix(conn, page, who, finding_id, value, note),
        "fix",
    )


@router.post("/data/quality/findings/{finding_id}/rescan", dependencies=QUALITY)
def rescan_page(request: Request, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, finding_id: Id) -> Response:
    page = dataclasses.replace(ctx, source="page")
    return _act(request, conn, who, finding_id, lambda: quality.rescan_in(conn, page, finding_id), "rescan")


@router.post("/data/quality/findings/{finding_id}/close", dependencies=QUALITY)
def close_page(
    request: Request, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal, finding_id: Id, note: FormText = ""
) -> Response:
    page = dataclasses.replace(ctx, source="page")
    return _act(request, conn, who, finding_id, lambda: quality.close(conn, page, finding_id, note), "closed")
