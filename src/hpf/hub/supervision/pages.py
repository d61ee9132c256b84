"""The hub supervisors' pages (decision 0040, issue 15 items 3, 4 and 6), in Chinese.

- ``/supervision?month=``: the month's centers ranked by score with their class, the classes by
  province (center → province → nation), the open problems — of the supervisor's scope only;
  charts (ECharts served locally, ``/static/charts.js``): the scores ranked, the classes by
  province;
- ``/supervision/centers/{code}``: a center's classes month by month and each indicator's trend;
- ``/supervision/indicators/{code}?month=``: an indicator across the scope's centers in a month
  (its distribution) and its trend (the scope's median by month); drill-down: nation → province
  (``?province=``) → center → indicator → month;
- ``/supervision/problems/{id}``: a problem's steps and the supervisor's actions (dispatch a found
  problem, review: pass or send back, verify) — each a form with the session's CSRF token;
- ``/supervision/credit``: the national credit list as the hub holds it (persons without any
  identifier).

Only signed-in hub staff with the supervisor role; anyone else is sent to sign in or refused.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hpf.db.engine import read_transaction, write_transaction
from hpf.hub import registry, service, staff
from hpf.hub.supervision import credit, problems, rules, run
from hpf.hub.supervision.policy import policy_for
from hpf.hub.supervision.scope import Supervisor, supervisor_of
from hpf.kernel.errors import HpfError, NotFound
from hpf.web.bounds import Id

CHINA = timedelta(hours=8)
Page = Callable[[Request, str, dict[str, Any], int], HTMLResponse]


def _chart_scores(rows: list[run.CenterClass]) -> dict[str, Any]:
    return {
        "x": [r.name for r in rows], "horizontal": True, "axes": [{"unit": "number", "name": "得分"}],
        "series": [{"name": "综合得分", "type": "bar", "data": [float(r.score) for r in rows]}],
    }  # fmt: skip


def _chart_tiers(tiers: dict[str, dict[str, int]]) -> dict[str, Any]:
    provinces = sorted(tiers)
    return {
        "x": provinces, "axes": [{"unit": "count", "name": "中心数"}],
        "series": [
            {"name": f"{g}类（{rules.GRADE_ZH[g]}）", "type": "bar", "stack": "grade",
             "data": [tiers[p].get(g, 0) for p in provinces]}
            for g in ("A", "B", "C", "D")
        ],
    }  # fmt: skip


def install(
    app: FastAPI, *, engine: Engine, hub: service.Hub, now: Callable[[], datetime], page: Page
) -> None:
    """The supervision routes on the hub's application."""

    def who_of(request: Request) -> tuple[staff.StaffSession, Supervisor] | None:
        with read_transaction(engine) as conn:
            session = staff.session_of(conn, request.cookies.get(staff.COOKIE_NAME), now())
            if session is None:
                return None
            return session, supervisor_of(conn, session.login)

    def refused(request: Request, exc: HpfError, session: Any = None) -> HTMLResponse:
        response = page(request, "hub_error.html",
                        {"staff": session, "status": exc.status, "heading": "无法办理", "title": exc.title}, exc.status)  # fmt: skip
        response.headers["X-HPF-Error"] = exc.code
        return response

    def guarded(request: Request, build: Callable[[staff.StaffSession, Supervisor], Response]) -> Response:
        try:
            signed = who_of(request)
            if signed is None:
                return RedirectResponse("/login", status_code=303)
            return build(*signed)
        except HpfError as exc:
            return refused(request, exc)

    @app.get("/supervision", response_class=HTMLResponse, include_in_schema=False)
    def supervision_home(request: Request, month: str = "", province: str = "") -> Response:
        def build(session: staff.StaffSession, who: Supervisor) -> Response:
            with read_transaction(engine) as conn:
                months = run.months_classified(conn)
                shown = month[:7] if month[:7] in months else (months[0] if months else "")
                rows = run.classes(conn, who, shown) if shown else []
                if province:
                    rows = [r for r in rows if r.province == province[:20]]
                tiers = run.tiers(conn, who, shown) if shown else {}
                open_problems = problems.problems(conn, who, open_only=True)
                policy = policy_for(conn, run.month_end(shown)) if shown else rules.shipped()
            today = (now() + CHINA).date()
            return page(request, "hub_supervision.html", {
                "staff": session, "who": who, "months": months, "month": shown, "province": province[:20],
                "rows": rows, "tiers": tiers, "problems": open_problems, "today": today,
                "policy": policy, "band_zh": rules.BAND_ZH,
                "score_chart": _chart_scores(rows), "tier_chart": _chart_tiers(tiers),
            }, 200)  # fmt: skip

        return guarded(request, build)

    @app.get("/supervision/centers/{code}", response_class=HTMLResponse, include_in_schema=False)
    def center_page(request: Request, code: str) -> Response:
        def build(session: staff.StaffSession, who: Supervisor) -> Response:
            with read_transaction(engine) as conn:
                from hpf.hub.supervision.scope import require_covers

                center = require_covers(conn, who, code[:6])
                history = run.center_history(conn, center.code)
                values = run.reported(conn, center=center.code)
                center_problems = problems.problems(conn, who, center=center.code)
                policy = (
                    rules.shipped() if not history else policy_for(conn, run.month_end(history[-1].month))
                )
            months = sorted({r.month for r in values})
            table = {(r.month, r.indicator): r.value for r in values}
            charts = {
                i.code: {
                    "x": months,
                    "axes": [{"unit": "number", "name": i.name_zh}],
                    "series": [
                        {
                            "name": i.name_zh,
                            "type": "line",
                            "data": [
                                float(table[(m, i.code)]) if (m, i.code) in table else None for m in months
                            ],
                        }
                    ],
                }
                for i in policy.indicators
            }
            return page(request, "hub_supervision_center.html", {
                "staff": session, "who": who, "center": center, "history": history, "charts": charts,
                "indicators": policy.indicators, "problems": center_problems, "grade_zh": rules.GRADE_ZH,
                "band_zh": rules.BAND_ZH,
            }, 200)  # fmt: skip

        return guarded(request, build)

    @app.get("/supervision/indicators/{code}", response_class=HTMLResponse, include_in_schema=False)
    def indicator_page(request: Request, code: str, month: str = "") -> Response:
        def build(session: staff.StaffSession, who: Supervisor) -> Response:
            with read_transaction(engine) as conn:
                centers = {c.code: c for c in registry.centers(conn) if who.covers(c.province)}
                rows = [r for r in run.reported(conn, indicator=code[:12]) if r.center in centers]
                months = sorted({r.month for r in rows})
                shown = month[:7] if month[:7] in months else (months[-1] if months else "")
                policy = policy_for(conn, run.month_end(shown)) if shown else rules.shipped()
            if not rows:
                raise NotFound(
                    "supervision.indicator_unknown",
                    "该指标在您的监督范围内没有报送值",
                    f"no values of {code[:12]}",
                )
            this = sorted(((r.value, r.center) for r in rows if r.month == shown), reverse=True)
            medians = [float(statistics.median([r.value for r in rows if r.month == m])) for m in months]
            spec = next((i for i in policy.indicators if i.code == code[:12]), None)
            name = spec.name_zh if spec else code[:12]
            return page(request, "hub_supervision_indicator.html", {
                "staff": session, "who": who, "code": code[:12], "name": name, "month": shown, "months": months,
                "spec": spec, "values": [(centers[c].name, c, centers[c].province, val, spec.band(val) if spec else None)
                                         for val, c in this],
                "band_zh": rules.BAND_ZH,
                "distribution": {"x": [centers[c].name for _, c in this], "horizontal": True,
                                 "axes": [{"unit": "number", "name": name}],
                                 "series": [{"name": shown, "type": "bar", "data": [float(val) for val, _ in this]}]},
                "trend": {"x": months, "axes": [{"unit": "number", "name": name}],
                          "series": [{"name": "范围内中位数", "type": "line", "data": medians}]},
            }, 200)  # fmt: skip

        return guarded(request, build)

    @app.get("/supervision/problems/{problem_id}", response_class=HTMLResponse, include_in_schema=False)
    def problem_page(request: Request, problem_id: Id) -> Response:
        def build(session: staff.StaffSession, who: Supervisor) -> Response:
            with read_transaction(engine) as conn:
                found, steps = problems.problem(conn, who, problem_id)
            return page(request, "hub_supervision_problem.html", {
                "staff": session, "who": who, "problem": found, "steps": steps,
                "today": (now() + CHINA).date(), "step_zh": problems.STEP_ZH,
            }, 200)  # fmt: skip

        return guarded(request, build)

    @app.post("/supervision/problems/{problem_id}/{action}", include_in_schema=False)
    async def problem_action(request: Request, problem_id: Id, action: str) -> Response:
        form = await request.form()

        def act() -> Response:
            signed = who_of(request)
            if signed is None:
                return RedirectResponse("/login", status_code=303)
            session, who = signed
            if not staff.csrf_ok(session, form.get("csrf_token")):
                raise HpfError(
                    "auth.csrf", "页面已过期，请刷新后重试", "the form's token does not match", status=403
                )
            note = str(form.get("note") or "")[:500]
            at = now()
            with write_transaction(engine) as conn:
                policy = policy_for(conn, (at + CHINA).date())
                if action == "dispatch":
                    problems.dispatch(conn, hub, problem_id, who, (at + CHINA).date(), at,
                                      working_days=policy.deadline_working_days, note=note)  # fmt: skip
                elif action in ("pass", "send_back"):
                    problems.review(conn, hub, problem_id, who, passed=action == "pass", note=note, now=at)
                elif action == "verify":
                    problems.verify(conn, hub, problem_id, who, note=note, now=at)
                else:
                    raise NotFound("supervision.action_unknown", "无此操作", f"no action {action[:20]}")
            return RedirectResponse(f"/supervision/problems/{problem_id}", status_code=303)

        try:
            return await run_in_threadpool(act)
        except HpfError as exc:
            return refused(request, exc)

    @app.get("/supervision/credit", response_class=HTMLResponse, include_in_schema=False)
    def credit_page(request: Request) -> Response:
        def build(session: staff.StaffSession, who: Supervisor) -> Response:
            today = (now() + CHINA).date()
            with read_transaction(engine) as conn:
                scope = {c.code for c in registry.centers(conn) if who.covers(c.province)}
                entries = credit.entries(conn, centers=scope)
                names = {c.code: c.name for c in registry.centers(conn)}
            return page(request, "hub_supervision_credit.html", {
                "staff": session, "who": who, "entries": entries, "names": names, "today": today,
                "state_zh": credit.STATE_ZH, "in_force": lambda e: e.state != "removed" and e.listed_on <= today <= e.until,
            }, 200)  # fmt: skip

        return guarded(request, build)
