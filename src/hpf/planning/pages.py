"""The planning pages (资金运行与计划): liquidity (``/planning/liquidity``, the alerts and who saw
them), forecasts (``/planning/forecasts``, fan charts and back-test errors), the annual plan
(``/planning/plan``, its assumptions and exports), policy what-if (``/planning/whatif``) and the
borrowers' early-warning queue (``/planning/warnings``). Reads need ``planning:read``; changes
(acknowledge, recompute, save assumptions, run a what-if) ``planning:manage``.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.background import BackgroundTask
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Scope
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.money import parse_yuan
from hpf.planning import liquidity as liq
from hpf.planning import plan as plans
from hpf.planning import service, warning, whatif
from hpf.planning.charts import fan_chart
from hpf.planning.forecast import MODEL_ZH
from hpf.planning.series import series_zh
from hpf.web.auth import requires
from hpf.web.bounds import Code, Id
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render, staff_names

router = APIRouter(include_in_schema=False, route_class=PageRoute)

READ = [Depends(requires(Perm.PLANNING_READ, scope=Scope.CENTER))]
MANAGE = [Depends(requires(Perm.PLANNING_MANAGE, scope=Scope.CENTER))]
Year = Annotated[int, Query(ge=2000, le=2100)]


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _common() -> dict[str, Any]:
    return {"nav": "planning", "pct": _pct, "indicator_zh": liq.INDICATOR_ZH, "series_zh": series_zh,
            "model_zh": MODEL_ZH}  # fmt: skip


@router.get("/planning/liquidity", dependencies=READ)
def liquidity_page(request: Request, conn: ReadDb, ctx: Ctx) -> Response:
    """资金运行监测: the day's indicators, the expected outflows, the alerts and who saw them."""
    view = service.liquidity_view(conn, ctx.clock.today())
    history = liq.alert_history(conn, limit=20)
    actors = [a.acknowledged_by or "" for a in view.alerts] + [h.acknowledged_by or "" for h in history]
    return render(request, "planning_liquidity.html", {
        **_common(), "v": view, "i": view.indicators, "history": history, "actor_names": staff_names(conn, actors),
    })  # fmt: skip


@router.post("/planning/liquidity/alerts/{indicator}/ack", dependencies=MANAGE)
def acknowledge_page(indicator: Code, conn: WriteDb, ctx: Ctx) -> Response:
    """Note that the signed-in manager saw the day's alert."""
    on = ctx.clock.today()
    run = service.latest_forecasts(conn)
    ind = liq.indicators(conn, on, run.forecasts if run else [])
    liq.acknowledge(conn, dataclasses.replace(ctx, source="page"), ind, indicator)
    return RedirectResponse("/planning/liquidity#alerts", status_code=303)


@router.get("/planning/forecasts", dependencies=READ)
def forecasts_page(request: Request, conn: ReadDb) -> Response:
    """资金预测: each series' fan chart, the model chosen and its back-test error."""
    run = service.latest_forecasts(conn)
    charts = {f.name: fan_chart(f) for f in run.forecasts} if run else {}
    return render(request, "planning_forecasts.html", {**_common(), "run": run, "charts": charts})


@router.post("/planning/forecasts", dependencies=MANAGE)
def recompute_page(conn: WriteDb, ctx: Ctx) -> Response:
    """Recompute the forecasts from today's history (seconds: the models are fitted here)."""
    on = ctx.clock.today()
    service.store_forecasts(conn, ctx, on, service.compute_forecasts(conn, on))
    return RedirectResponse("/planning/forecasts", status_code=303)


def _plan_context(conn: Any, ctx: Any, year: int, version: int | None, **extra: Any) -> dict[str, Any]:
    run = service.latest_forecasts(conn)
    assumptions = plans.assumptions_of(conn, year, version)
    drafted = plans.draft(conn, year, ctx.clock.today(), run.forecasts if run else [], assumptions)
    versions = plans.assumption_versions(conn, year)
    return {
        "actor_names": staff_names(conn, [assumptions.actor, *(v[2] for v in versions)]),
        **_common(), "year": year, "plan": drafted, "run": run, "versions": versions,
        "version": version, "error": "", "planned": plans.PLANNED, **extra,
    }  # fmt: skip


@router.get("/planning/plan", dependencies=READ)
def plan_page(
    request: Request, conn: ReadDb, ctx: Ctx, year: Year | None = None,
    version: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Response:  # fmt: skip
    """归集使用计划: the year's plan drafted from the forecasts, the assumptions and their versions."""
    chosen = year or ctx.clock.today().year + 1
    return render(request, "planning_plan.html", _plan_context(conn, ctx, chosen, version))


@router.post("/planning/plan/{year}/assumptions", dependencies=MANAGE)
def save_assumptions_page(
    request: Request, year: Id, conn: WriteDb, ctx: Ctx,
    key: Annotated[list[str], Form(max_length=40)], growth: Annotated[list[str], Form(max_length=12)],
    override: Annotated[list[str], Form(max_length=24)], note: Annotated[str, Form(max_length=200)] = "",
) -> Response:  # fmt: skip
    """Save the form's assumptions (per line: growth in %, the year's amount in yuan or blank) as
    the year's next version."""
    try:
        _year(year)
        if not len(key) == len(growth) == len(override) or len(key) > 50:
            raise InvalidInput(
                "planning.invalid_form", "计划假设表单不完整", "key/growth/override lists differ"
            )
        raw: dict[str, Any] = {}
        for name, pct, amount in zip(key, growth, override, strict=True):
            try:
                rate = (Decimal(pct.strip() or "0") / 100).normalize()
            except ArithmeticError:
                raise InvalidInput("planning.invalid_growth", "增长率格式错误", pct, field=name) from None
            raw[name] = {
                "growth": str(rate),
                "override_fen": parse_yuan(amount.strip(), name) if amount.strip() else None,
            }
        with conn.begin_nested():
            plans.save_assumptions(conn, dataclasses.replace(ctx, source="page"), year, raw, note)
    except HpfError as exc:
        response = render(request, "planning_plan.html", _plan_context(conn, ctx, year, None, error=exc.title),
                          status_code=exc.status)  # fmt: skip
        response.headers["X-HPF-Error"] = exc.code
        return response
    return RedirectResponse(f"/planning/plan?year={year}", status_code=303)


def _year(year: int) -> int:
    if not 2000 <= year <= 2100:
        raise InvalidInput("planning.invalid_year", "计划年度须为2000至2100", f"year {year}", field="year")
    return year


def _export(conn: Any, ctx: Any, year: int, version: int | None, kind: str) -> Response:
    context = _plan_context(conn, ctx, _year(year), version)
    drafted = context["plan"]
    if kind == "pdf":
        body, media = plans.to_pdf(drafted), "application/pdf"
    else:
        body, media = (
            plans.to_xlsx(drafted),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="plan-{year}.{kind}"'})  # fmt: skip


@router.get("/planning/plan/{year}/xlsx", dependencies=READ)
def plan_xlsx(year: Id, conn: ReadDb, ctx: Ctx,
              version: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> Response:  # fmt: skip
    return _export(conn, ctx, year, version, "xlsx")


@router.get("/planning/plan/{year}/pdf", dependencies=READ)
def plan_pdf(year: Id, conn: ReadDb, ctx: Ctx,
             version: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> Response:  # fmt: skip
    return _export(conn, ctx, year, version, "pdf")


@router.get("/planning/whatif", dependencies=READ)
def whatif_page(request: Request, conn: ReadDb) -> Response:
    """政策模拟: the form and the latest runs."""
    return render(request, "planning_whatif.html", {
        **_common(), "runs": whatif.list_runs(conn), "parameters": whatif.PARAMETERS, "error": "", "form": {},
    })  # fmt: skip


@router.post("/planning/whatif", dependencies=MANAGE)
def whatif_start_page(
    request: Request, conn: WriteDb, ctx: Ctx,
    parameter: Annotated[str, Form(max_length=60)] = "", value: Annotated[str, Form(max_length=30)] = "",
    months: Annotated[int, Form(ge=1, le=24)] = 12,
) -> Response:  # fmt: skip
    """Queue a what-if run; it starts at once when this server runs them (``hpf serve``)."""
    form = {"parameter": parameter, "value": value, "months": months}
    try:
        raw: Any = value.strip()
        if parameter.endswith("_fen"):
            raw = parse_yuan(raw, "value")
        with conn.begin_nested():
            run_id = whatif.queue_run(conn, dataclasses.replace(ctx, source="page"),
                                      {"parameter": parameter, "value": raw, "months": months})  # fmt: skip
    except HpfError as exc:
        response = render(request, "planning_whatif.html", {
            **_common(), "runs": whatif.list_runs(conn), "parameters": whatif.PARAMETERS, "error": exc.title,
            "form": form}, status_code=exc.status)  # fmt: skip
        response.headers["X-HPF-Error"] = exc.code
        return response
    # after the answer leaves, so after the request's transaction committed the run's row
    task = BackgroundTask(whatif.start_in_background, conn.engine, ctx, run_id)
    return RedirectResponse(f"/planning/whatif/{run_id}", status_code=303, background=task)


@router.get("/planning/whatif/{run_id}", dependencies=READ)
def whatif_run_page(request: Request, run_id: Id, conn: ReadDb) -> Response:
    """A run: its state (the page refreshes itself until done) and the figures side by side."""
    run = whatif.get_run(conn, run_id)
    fen_keys = {k for k in whatif.METRIC_ZH if k.endswith("_fen")}
    return render(request, "planning_whatif_run.html", {
        **_common(), "r": run, "label": whatif.PARAMETERS.get(run.params.get("parameter", ""), ""),
        "fen_labels": {whatif.METRIC_ZH[k] for k in fen_keys},
    })  # fmt: skip


@router.get("/planning/warnings", dependencies=READ)
def warnings_page(request: Request, conn: ReadDb) -> Response:
    """贷款风险预警: the loans the early-warning rules put on the queue, still active."""
    return render(request, "planning_warnings.html", {**_common(), "rows": warning.queue(conn),
                                                      "rules": warning.RULE_ZH})  # fmt: skip
