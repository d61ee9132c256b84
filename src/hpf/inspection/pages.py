"""The 电子稽查 pages: the cases (``/inspection/cases``, filters by rule and state, counts by
rule) and a case (``/inspection/cases/{case_id}``: its finding's facts, what an auditor does, its
history, and the steps the viewer may take: assign, note, confirm, clear). Reads need
``inspection:read``; the steps ``inspection:handle``. Links go through ``hpf.web.links``: the
object's own page (a member, an employer, an application, a loan) is a link only to whom it opens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Principal, Scope
from hpf.disclosure.http import Disclose
from hpf.inspection import service
from hpf.inspection.rules import CONCLUDED, OBJECT_ZH, STATE_ZH, CaseState, rules
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.money import parse_yuan
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Code, Id
from hpf.web.callers import role_of
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

READ = [Depends(requires(Perm.INSPECTION_READ, scope=Scope.CENTER))]
HANDLE = [Depends(requires(Perm.INSPECTION_HANDLE, scope=Scope.CENTER))]
PAGE_SIZE = 50

FACT_ZH = {
    "employer_rate": "单位缴存比例",
    "member_rate": "个人缴存比例",
    "employer_rate_limit": "单位缴存比例限值",
    "member_rate_limit": "个人缴存比例限值",
    "base_fen": "缴存基数（元）",
    "limit_fen": "政策限额（元）",
    "reason": "提取原因",
    "allowed_fen": "核准提取金额（元）",
    "raised_on": "调整基数日期",
    "before_fen": "调整前基数（元）",
    "after_fen": "调整后基数（元）",
    "applied_on": "申请日期",
    "year": "年度",
    "withdrawn_fen": "年度租房提取合计（元）",
    "claims": "提取笔数",
    "earlier_application": "在先的提取申请号",
    "other_people": "涉及的其他人数",
    "sealed_on": "封存日期",
    "reverses_entry_id": "被冲销的凭证号",
    "actor": "经办人",
    "posting_date": "记账日期",
    "state": "状态",
    "outstanding_principal_fen": "贷款余额（元）",
    "released_on": "解除抵押日期",
    "principal_fen": "合同金额（元）",
    "other_loan": "在先的未结清贷款编号",
}
SEVERITY_ZH = {"warning": "疑点", "error": "违规"}


def object_href(kind: str, obj: str) -> str | None:
    """The page of a finding's object, if it has one."""
    return {
        "member": f"/members/{obj}",
        "employer": f"/employers/{obj}",
        "application": f"/applications/{obj}",
        "loan": f"/loans/{obj}",
    }.get(kind)


def _zh() -> dict[str, Any]:
    return {
        "state_zh": {s.value: z for s, z in STATE_ZH.items()},
        "object_zh": OBJECT_ZH,
        "severity_zh": SEVERITY_ZH,
        "fact_zh": FACT_ZH,
        "object_href": object_href,
    }


@router.get("/inspection/cases", dependencies=READ)
def cases_page(
    request: Request,
    conn: ReadDb,
    rule: Annotated[Code, Query()] = "",
    state: Annotated[Code, Query()] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """稽查案件: the cases with filters, and the count of cases by rule."""
    offered = {r.id for r in rules()}
    if rule and rule not in offered:
        raise InvalidInput("inspection.rule_filter", "稽查规则筛选条件无效", f"rule {rule!r}", field="rule")
    chosen = service.checked_state(state)
    rows = service.list_cases(
        conn, rule=rule or None, state=chosen, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
    )
    return render(
        request,
        "inspection_cases.html",
        {
            "nav": "inspection",
            "rows": rows[:PAGE_SIZE],
            "has_next": len(rows) > PAGE_SIZE,
            "page": page,
            "rule": rule,
            "state": state,
            "rules": rules(),
            "counts": service.counts_by_rule(conn),
            "runs": service.latest_runs(conn, 1),
            "states": [(s.value, z) for s, z in STATE_ZH.items()],
            **_zh(),
        },
    )


def _case_context(conn: Connection, case_id: int, **extra: Any) -> dict[str, Any]:
    detail = service.case_detail(conn, case_id)
    state = CaseState(detail.case.state)
    return {
        "nav": "inspection",
        "d": detail,
        "c": detail.case,
        "concluded": state in CONCLUDED,
        "error": "",
        "form": {},
        **_zh(),
        **extra,
    }


@router.get("/inspection/cases/{case_id}", dependencies=READ)
def case_page(request: Request, case_id: Id, conn: ReadDb, show: Disclose) -> Response:
    """稽查案件详情: the finding's facts, what to do, the history, the steps the viewer may take.
    The facts name members, amounts and staff logins: each view is in the audit log."""
    context = _case_context(conn, case_id)  # no such case: 404
    show.record_view("inspection_case", case_id, rows=1, what="稽查案件")
    return render(request, "inspection_case.html", context)


Step = Callable[[Connection, Context, str], None]


def _act(
    request: Request,
    who: Principal,
    case_id: int,
    conn: Connection,
    ctx: Context,
    form: dict[str, str],
    step: Step,
) -> Response:
    """Take ``step`` in a savepoint; a refusal shows the case again with the message and the form."""
    try:
        with conn.begin_nested():
            step(conn, dataclasses.replace(ctx, source="page"), role_of(who))
    except HpfError as exc:
        context = _case_context(conn, case_id, error=exc.title, form=form)
        response = render(request, "inspection_case.html", context, status_code=exc.status)
        response.headers["X-HPF-Error"] = exc.code
        return response
    return RedirectResponse(f"/inspection/cases/{case_id}", status_code=303)


Version = Annotated[int | None, Form()]


@router.post("/inspection/cases/{case_id}/assign", dependencies=HANDLE)
def assign_page(
    request: Request, case_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal,
    assignee: Annotated[str, Form(max_length=64)] = "", version: Version = None,
) -> Response:  # fmt: skip
    return _act(request, who, case_id, conn, ctx, {"assignee": assignee},
                lambda c, x, role: service.assign(c, x, case_id, assignee, role=role, version=version))  # fmt: skip


@router.post("/inspection/cases/{case_id}/note", dependencies=HANDLE)
def note_page(
    request: Request, case_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal,
    note: Annotated[str, Form(max_length=500)] = "", version: Version = None,
) -> Response:  # fmt: skip
    return _act(request, who, case_id, conn, ctx, {"note": note},
                lambda c, x, role: service.note(c, x, case_id, note, role=role, version=version))  # fmt: skip


@router.post("/inspection/cases/{case_id}/confirm", dependencies=HANDLE)
def confirm_page(
    request: Request, case_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal,
    recover_yuan: Annotated[str, Form(max_length=24)] = "", conclusion: Annotated[str, Form(max_length=500)] = "",
    version: Version = None,
) -> Response:  # fmt: skip
    form = {"recover_yuan": recover_yuan, "conclusion": conclusion}

    def step(c: Connection, x: Context, role: str) -> None:
        service.confirm(
            c,
            x,
            case_id,
            parse_yuan(recover_yuan.strip() or "0", "recover_fen"),
            conclusion,
            role=role,
            version=version,
        )

    return _act(request, who, case_id, conn, ctx, form, step)


@router.post("/inspection/cases/{case_id}/clear", dependencies=HANDLE)
def clear_page(
    request: Request, case_id: Id, conn: WriteDb, ctx: Ctx, who: CurrentPrincipal,
    reason: Annotated[str, Form(max_length=500)] = "", version: Version = None,
) -> Response:  # fmt: skip
    return _act(request, who, case_id, conn, ctx, {"reason": reason},
                lambda c, x, role: service.clear(c, x, case_id, reason, role=role, version=version))  # fmt: skip
