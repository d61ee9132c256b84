"""The 政策参数 page: parameters in force, deposit rate history, scheduled changes, and a form.

Plain HTML: the form posts to ``/policy`` and is redirected (303) back; the change waits for
another administrator's approval (``/approvals``). A refused change re-renders the page with
the Chinese message and status 422, keeping what the clerk typed.
On the form amounts are entered in yuan and rates as decimals (``0.12``) or percentages
(``12%``); the API takes fen and decimal strings.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Scope
from hpf.approvals import service as approvals
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.money import parse_yuan
from hpf.policy import service
from hpf.policy.api import summary_of
from hpf.policy.rules import DEPOSIT_RATE, KEYS, LABELS_ZH
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, render, staff_names

router = APIRouter(include_in_schema=False, route_class=PageRoute)

FORM_FIELDS = ("key", "effective_from", "value", "current_rate", "carried_rate", "reason")
UNIT_HINT = {
    "base_floor_fen": "元",
    "base_cap_fen": "元",
    "monthly_amount_min_fen": "元，留空表示不限",
    "monthly_amount_max_fen": "元，留空表示不限",
    "employer_rate_min": "百分比，如 5%",
    "employer_rate_max": "百分比，如 12%",
    "member_rate_min": "百分比，如 5%",
    "member_rate_max": "百分比，如 12%",
    "rounding_unit": "填“分”或“元”",
    "day_basis": "天，360 或 365",
    "contribution_year_start": "月-日，如 07-01",
    DEPOSIT_RATE: "填写下方两项利率",
    "alert_failed_sign_ins": "次数，如 5",
    "alert_member_reads": "次数，如 50",
    "alert_window_minutes": "分钟，如 15",
    "alert_export_rows": "条数，如 1000",
    "alert_working_hours": "北京时间，如 08:00-18:00",
}

ROUNDING_WORDS = {"分": "fen", "元": "yuan"}

FormText = Annotated[str, Form(max_length=400)]


def _key_options() -> list[dict[str, str]]:
    return [{"key": k, "label": LABELS_ZH[k], "hint": UNIT_HINT.get(k, "")} for k in KEYS]


def _page(request: Request, conn: Connection, today: date, **extra: Any) -> dict[str, Any]:
    changes = service.list_changes(conn)
    pending = approvals.list_requests(conn, state=approvals.State.PENDING, kind=approvals.POLICY_CHANGE)
    return {
        "nav": "policy",
        "today": today,
        "rows": service.policy_table(conn, today),
        "deposit_rates": service.deposit_rate_history(conn),
        "scheduled": sorted(
            (c for c in changes if c["effective_from"] > today), key=lambda c: c["effective_from"]
        ),
        "changes": changes,
        "actor_names": staff_names(conn, [*(c["actor"] for c in changes), *(a["maker"] for a in pending)]),
        "pending": pending,
        "keys": _key_options(),
        "form": dict.fromkeys(FORM_FIELDS, ""),
        "errors": [],
        "done": request.query_params.get("done") == "1",
        **extra,
    }


@router.get("/policy", dependencies=[Depends(requires(Perm.POLICY_READ, scope=Scope.OPEN))])
def policy_page(request: Request, conn: ReadDb, ctx: Ctx) -> Response:
    return render(request, "policy.html", _page(request, conn, ctx.clock.today()))


@router.post("/policy", dependencies=[Depends(requires(Perm.POLICY_CHANGE, scope=Scope.OPEN))])
def schedule_from_form(
    request: Request,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    key: FormText = "",
    effective_from: FormText = "",
    value: FormText = "",
    current_rate: FormText = "",
    carried_rate: FormText = "",
    reason: FormText = "",
) -> Response:
    form = {
        "key": key,
        "effective_from": effective_from,
        "value": value,
        "current_rate": current_rate,
        "carried_rate": carried_rate,
        "reason": reason,
    }
    page_ctx: Context = dataclasses.replace(ctx, source="page")
    errors: list[str] = []
    payload: dict[str, object] = {"key": key, "reason": reason}
    try:
        payload["effective_from"] = _date(effective_from).isoformat()
    except HpfError as exc:
        errors.append(exc.title)
    try:
        payload["value"] = _raw_value(key, form)
    except HpfError as exc:
        errors.append(exc.title)
    if not " ".join(reason.split()):
        errors.append("请填写调整原因")
    if not errors:
        try:
            approvals.submit(conn, page_ctx, who, approvals.POLICY_CHANGE, payload, summary_of(reason))
        except HpfError as exc:
            errors.append(exc.title)
    if errors:  # every problem of the form at once, not one round at a time
        context = _page(request, conn, ctx.clock.today(), form=form, errors=errors)
        return render(request, "policy.html", context, status_code=422)
    return RedirectResponse("/policy?done=1", status_code=303)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            "policy.invalid_date", "生效日期格式错误，应为YYYY-MM-DD", f"{text!r} is not an ISO date"
        ) from None


def _rate_text(text: str) -> str:
    """``"12%"`` → ``"0.12"``; anything else unchanged (the rules judge it)."""
    text = text.strip()
    if not text.endswith("%"):
        return text
    try:
        return str(Decimal(text[:-1].strip()) / 100)
    except InvalidOperation:
        return text


def _raw_value(key: str, form: dict[str, str]) -> object:
    """What the clerk typed, as the JSON value the service takes."""
    text = form["value"].strip()
    if key == DEPOSIT_RATE:
        return {
            "current_rate": _rate_text(form["current_rate"]),
            "carried_rate": _rate_text(form["carried_rate"]),
        }
    if key.endswith("_fen"):
        if text == "" and key.startswith("monthly_amount_"):
            return None
        if text == "":
            raise InvalidInput(
                "policy.invalid_value", f"{LABELS_ZH.get(key, key)}：请填写金额", f"{key}: empty"
            )
        return parse_yuan(text, key)
    if key.endswith(("_rate_min", "_rate_max")):
        return _rate_text(text)
    if key == "rounding_unit":
        return ROUNDING_WORDS.get(text, text)
    return text
