"""监督问题与失信名单 (``/supervision``): the center's side of supervision (decision 0040).

Center staff only. Reading needs ``inspection:read`` (auditors, supervisors of the center);
acting — accepting a problem, submitting its rectification with evidence, listing, appeals,
removal — needs ``inspection:handle``. A refusal is a Chinese error page, nothing changed.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Scope
from hpf.accounts.queries import employer_refs
from hpf.kernel.context import Context
from hpf.oversight import incentive, service
from hpf.transfers.link import installed
from hpf.web.auth import requires
from hpf.web.bounds import Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)
READ = [Depends(requires(Perm.INSPECTION_READ, scope=Scope.CENTER))]
HANDLE = [Depends(requires(Perm.INSPECTION_HANDLE, scope=Scope.CENTER))]
FormText = Annotated[str, Form(max_length=500)]
KIND_ZH = {"person": "个人", "employer": "单位"}
GOOD_CREDIT_SHOWN = 200


def _page(ctx: Context) -> Context:
    return dataclasses.replace(ctx, source="page")


@router.get("/supervision", dependencies=READ)
def supervision_page(request: Request, conn: ReadDb, ctx: Ctx) -> Response:
    reviews = service.reviews(conn)
    return render(
        request,
        "supervision.html",
        {
            "nav": "supervision",
            "linked": installed().link is not None,
            "problems": service.problems(conn),
            "listings": service.listings(conn),
            "national": service.national(conn),
            "reviews": reviews,
            "review_employers": employer_refs(conn, [r.employer_id for r in reviews]),
            "good_credit": incentive.good_credit_employers(conn, ctx.clock.today(), limit=GOOD_CREDIT_SHOWN),
            "incentive": incentive.policy(),
            "good_credit_shown": GOOD_CREDIT_SHOWN,
            "grounds": service.GROUNDS,
            "kind_zh": KIND_ZH,
        },
    )


@router.get("/supervision/problems/{problem_id}", dependencies=READ)
def problem_page(request: Request, problem_id: Id, conn: ReadDb) -> Response:
    problem, steps = service.problem(conn, problem_id)
    return render(
        request, "supervision_problem.html", {"nav": "supervision", "problem": problem, "steps": steps}
    )


@router.post("/supervision/problems/{problem_id}/accept", dependencies=HANDLE)
def accept_page(problem_id: Id, conn: WriteDb, ctx: Ctx, note: FormText = "") -> Response:
    service.accept(conn, _page(ctx), problem_id, note)
    return RedirectResponse(f"/supervision/problems/{problem_id}", status_code=303)


@router.post("/supervision/problems/{problem_id}/submit", dependencies=HANDLE)
def submit_page(
    problem_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    note: FormText = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    data = file.file.read(service.MAX_EVIDENCE_BYTES + 1) if file is not None else b""
    files = [(file.filename or "", data)] if file is not None and data else []
    service.submit(conn, _page(ctx), problem_id, note, files)
    return RedirectResponse(f"/supervision/problems/{problem_id}", status_code=303)


@router.post("/supervision/credit", dependencies=HANDLE)
def list_page(
    conn: WriteDb,
    ctx: Ctx,
    grounds: Annotated[str, Form(max_length=4)] = "",
    subject_id: Annotated[int, Form(ge=1, le=2**63 - 1)] = 1,
    note: FormText = "",
) -> Response:
    kind = service.GROUNDS.get(grounds, {}).get("kind")
    subject = {"member_id": subject_id} if kind == "person" else {"employer_id": subject_id}
    service.list_entry(conn, _page(ctx), grounds=grounds, note=note, **subject)
    return RedirectResponse("/supervision#credit", status_code=303)


@router.post("/supervision/credit/{listing_id}/{action}", dependencies=HANDLE)
def listing_action_page(
    listing_id: Id, action: str, conn: WriteDb, ctx: Ctx, note: FormText = ""
) -> Response:
    page_ctx = _page(ctx)
    if action == "appeal":
        service.appeal(conn, page_ctx, listing_id, note)
    elif action in ("grant", "uphold"):
        service.decide_appeal(conn, page_ctx, listing_id, granted=action == "grant", note=note)
    elif action == "remove":
        service.remove(conn, page_ctx, listing_id, note)
    else:
        from hpf.kernel.errors import NotFound

        raise NotFound("supervision.action_unknown", "无此操作", f"no action {action[:20]}")
    return RedirectResponse("/supervision#credit", status_code=303)


@router.post("/supervision/reviews/{review_id}", dependencies=HANDLE)
def review_page(
    review_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    verdict: Annotated[str, Form(max_length=10)] = "",
    note: FormText = "",
) -> Response:
    service.review_list(conn, _page(ctx), review_id, passed=verdict == "passed", note=note)
    return RedirectResponse("/supervision#reviews", status_code=303)
