"""HTTP API of fund operation and planning, under ``/api/v1/planning`` (decision 0038).

- ``GET /liquidity``: the day's indicators, expected outflows, alerts (with who saw them);
  ``POST /liquidity/alerts/{indicator}/ack``: note that the caller saw the day's alert;
- ``GET /forecasts``: the latest forecast run (each series: model, back-test errors, the 12
  months' mean and 80%/95% intervals, or why none); ``POST /forecasts``: recompute and store;
- ``GET /plan/{year}`` (``version``): the year's plan drafted from the latest forecasts;
  ``POST /plan/{year}/assumptions``: save the year's assumptions as a new version;
- ``POST /whatif``: queue a policy what-if (started at once where the server runs them);
  ``GET /whatif/{run_id}``: its state and result;
- ``GET /warnings``: the early-warning queue.

Reads need ``planning:read``; the changes ``planning:manage``. Amounts are integer fen; ratios
decimal strings.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

from hpf.access.permissions import Perm, Scope
from hpf.planning import liquidity as liq
from hpf.planning import plan as plans
from hpf.planning import service, warning, whatif
from hpf.web.auth import requires
from hpf.web.bounds import Code, Id, NonNegativeFen, Text
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1/planning", tags=["planning"], route_class=HpfRoute)

READ = [Depends(requires(Perm.PLANNING_READ, scope=Scope.CENTER))]
MANAGE = [Depends(requires(Perm.PLANNING_MANAGE, scope=Scope.CENTER))]


def _json(value: Any) -> Any:
    """Dataclasses as plain JSON: Decimal and dates as text."""
    from decimal import Decimal

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _json(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@router.get("/liquidity", dependencies=READ, summary="The day's liquidity indicators and alerts")
def liquidity(conn: ReadDb, ctx: Ctx) -> dict[str, Any]:
    view = service.liquidity_view(conn, ctx.clock.today())
    ind = view.indicators
    return {
        "indicators": _json(ind),
        "within_30_fen": ind.outflows.within_30_fen,
        "within_90_fen": ind.outflows.within_90_fen,
        "alerts": _json(view.alerts),
        "forecast_run_id": view.forecast_run.id if view.forecast_run else None,
    }


@router.post("/liquidity/alerts/{indicator}/ack", dependencies=MANAGE, summary="Acknowledge the day's alert")
def acknowledge(indicator: Code, conn: WriteDb, ctx: Ctx) -> dict[str, Any]:
    run = service.latest_forecasts(conn)
    ind = liq.indicators(conn, ctx.clock.today(), run.forecasts if run else [])
    return _json(liq.acknowledge(conn, ctx, ind, indicator))  # type: ignore[no-any-return]


@router.get("/forecasts", dependencies=READ, summary="The latest forecast run")
def forecasts(conn: ReadDb) -> dict[str, Any] | None:
    run = service.latest_forecasts(conn)
    if run is None:
        return None
    return {"id": run.id, "business_date": run.business_date.isoformat(), "actor": run.actor,
            "forecasts": [f.to_json() for f in run.forecasts]}  # fmt: skip


@router.post("/forecasts", dependencies=MANAGE, summary="Recompute the forecasts from today's history")
def recompute(conn: WriteDb, ctx: Ctx) -> dict[str, Any]:
    on = ctx.clock.today()
    run = service.store_forecasts(conn, ctx, on, service.compute_forecasts(conn, on))
    return {"id": run.id, "forecasts": [f.to_json() for f in run.forecasts]}


def _plan_json(p: plans.Plan) -> dict[str, Any]:
    lines = [{"key": ln.key, "zh": ln.zh, "months_fen": list(ln.months_fen), "total_fen": ln.total_fen,
              "basis": list(ln.basis), "growth": str(ln.growth), "overridden": ln.overridden}
             for ln in (*p.sources, *p.uses)]  # fmt: skip
    ratio = p.closing_loan_ratio
    return {
        "year": p.year, "drafted_on": p.drafted_on.isoformat(), "assumptions_version": p.assumptions.version,
        "opening_bank_fen": p.opening_bank_fen, "lines": lines, "sources_total_fen": p.sources_total_fen,
        "uses_total_fen": p.uses_total_fen, "closing_bank_fen": p.closing_bank_fen,
        "closing_loan_ratio": str(ratio) if ratio is not None else None, "notes": p.notes,
    }  # fmt: skip


@router.get("/plan/{year}", dependencies=READ, summary="The year's 归集使用计划 drafted from the forecasts")
def plan(
    year: Id, conn: ReadDb, ctx: Ctx, version: Annotated[int | None, Query(ge=1, le=100_000)] = None
) -> dict[str, Any]:
    run = service.latest_forecasts(conn)
    assumptions = plans.assumptions_of(conn, year, version)
    return _plan_json(plans.draft(conn, year, ctx.clock.today(), run.forecasts if run else [], assumptions))


class AssumptionsIn(BaseModel):
    assumptions: dict[Code, dict[Code, Any]] = Field(
        description='per series: {"growth": "0.05", "override_fen": null}', max_length=50
    )
    note: Text = ""


@router.post(
    "/plan/{year}/assumptions", dependencies=MANAGE, summary="Save the year's assumptions (a new version)"
)
def save_assumptions(year: Id, body: AssumptionsIn, conn: WriteDb, ctx: Ctx) -> dict[str, Any]:
    saved = plans.save_assumptions(conn, ctx, year, dict(body.assumptions), body.note)
    return {"year": year, "version": saved.version, "assumptions": saved.to_json()}


class WhatIfIn(BaseModel):
    parameter: Code
    value: NonNegativeFen | Annotated[str, Field(max_length=30)] = Field(
        description="fen for *_fen parameters, else a decimal string"
    )
    months: int = Field(12, ge=1, le=24)
    seed: int = Field(7, ge=0, lt=2**31)


@router.post("/whatif", dependencies=MANAGE, summary="Queue a policy what-if", status_code=202)
def start_whatif(body: WhatIfIn, conn: WriteDb, ctx: Ctx) -> JSONResponse:
    run_id = whatif.queue_run(conn, ctx, body.model_dump())
    task = BackgroundTask(whatif.start_in_background, conn.engine, ctx, run_id)
    return JSONResponse({"id": run_id, "state": "queued"}, status_code=202, background=task)


@router.get("/whatif/{run_id}", dependencies=READ, summary="A what-if run: state and result")
def get_whatif(run_id: Id, conn: ReadDb) -> dict[str, Any]:
    return _json(whatif.get_run(conn, run_id))  # type: ignore[no-any-return]


@router.get("/warnings", dependencies=READ, summary="The early-warning queue")
def warnings(conn: ReadDb, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    return _json(warning.queue(conn, limit=limit))  # type: ignore[no-any-return]
