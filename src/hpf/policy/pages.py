"""The 政策参数 page: parameters in force — contributions, withdrawals, loans — deposit rate
history, scheduled changes, and a form.

Plain HTML: the form posts to ``/policy`` and is redirected (303) back; the change waits for
another administrator's approval (``/approvals``). A refused change re-renders the page with
the Chinese message and status 422, keeping what the clerk typed.
On the form amounts are entered in yuan (separators allowed: ``1,200,000``), rates and ratios
as decimals (``0.12``) or percentages (``12%``), the loan classification thresholds and dunning
stages as days separated by commas; the API takes fen, decimal strings, objects and lists.
"""

from __future__ import annotations

import dataclasses
import re
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
from hpf.policy.rules import DEPOSIT_RATE, KEYS, KIND_ZH, KINDS, LABELS_ZH, PARAMS, PARAMS_OF, THRESHOLD_NAMES
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
    "withdrawal.purchase_window_months": "月数，如 12",
    "withdrawal.build_window_months": "月数，如 12",
    "withdrawal.rent_min_deposit_months": "月数，如 3",
    "withdrawal.rent_monthly_cap_fen": "元/月，如 600",
    "withdrawal.rent_interval_months": "月数，如 3",
    "withdrawal.repay_interval_months": "月数，如 1",
    "withdrawal.leave_sealed_months": "月数，如 6",
    "withdrawal.retirement_age_male": "周岁，如 60",
    "withdrawal.retirement_age_female": "周岁，如 50",
    "withdrawal.housing_withdrawals_per_year": "次数，如 4",
    "loan.max_term_months": "月数，如 360",
    "loan.max_age_plus_term_years": "年，如 65",
    "loan.max_amount_fen": "元，如 1,200,000",
    "loan.min_continuous_deposit_months": "月数，如 6",
    "loan.max_loans": "次数，如 2",
    "loan.penalty_day_basis": "天，360 或 365",
    "loan.ltv_first_home": "百分比，如 80%（即最低首付20%）",
    "loan.ltv_second_home": "百分比，如 70%（即最低首付30%）",
    "loan.balance_multiple": "倍数，如 15",
    "loan.repayment_capacity_ratio": "百分比，如 50%",
    "loan.penalty_multiplier": "倍数，如 1.5",
    "loan.classification_thresholds": "关注、次级、可疑、损失的起始逾期天数，如 1,91,181,361",
    "loan.dunning_days": "逾期天数，如 1,30,90",
    "loan.refuse_unsettled_elsewhere": "是 或 否",
    "loan.refuse_credit_listed": "是 或 否",
}
RATIO_KEYS = frozenset({"loan.ltv_first_home", "loan.ltv_second_home", "loan.repayment_capacity_ratio"})
LIST_KEYS = frozenset({"loan.classification_thresholds", "loan.dunning_days"})
_UNIT_WORDS = re.compile(r"(个月|月|周岁|岁|次|年|天|倍|元)$")
_SEPARATORS = re.compile(r"[\s,，、;；/]+")

ROUNDING_WORDS = {"分": "fen", "元": "yuan"}

FormText = Annotated[str, Form(max_length=400)]


def _option(key: str) -> dict[str, str]:
    return {"key": key, "label": LABELS_ZH[key], "hint": UNIT_HINT.get(key, "")}


def _key_groups() -> list[dict[str, Any]]:
    """The form's parameters, grouped: contributions, interest and alerts; withdrawals; loans."""
    return [
        {"label": "缴存、利率与告警", "options": [_option(k) for k in KEYS]},
        *({"label": KIND_ZH[kind], "options": [_option(p.key) for p in PARAMS_OF[kind]]} for kind in KINDS),
    ]


def _page(request: Request, conn: Connection, today: date, **extra: Any) -> dict[str, Any]:
    changes = service.list_changes(conn)
    pending = approvals.list_requests(conn, state=approvals.State.PENDING, kind=approvals.POLICY_CHANGE)
    return {
        "nav": "policy",
        "today": today,
        "rows": service.policy_table(conn, today),
        "kind_rows": {kind: service.kind_table(conn, kind, today) for kind in KINDS},
        "deposit_rates": service.deposit_rate_history(conn),
        "scheduled": sorted((c for c in changes if c.effective_from > today), key=lambda c: c.effective_from),
        "changes": changes,
        "actor_names": staff_names(conn, [*(c.actor for c in changes), *(a.maker for a in pending)]),
        "pending": pending,
        "key_groups": _key_groups(),
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
    if key in PARAMS:
        return _param_value(key, text)
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


def _param_value(key: str, text: str) -> object:
    """A withdrawal or loan parameter as typed: yuan with separators, a percentage or decimal,
    days separated by commas, a whole number with or without its unit (``12个月``); the rules
    judge the result and name the parameter when they refuse it."""
    label = LABELS_ZH[key]
    if text == "":
        raise InvalidInput("policy.invalid_value", f"{label}：请填写调整后的值", f"{key}: empty", field=key)
    if key.endswith("_fen"):
        try:
            return parse_yuan(_UNIT_WORDS.sub("", text).strip(), key)
        except InvalidInput as exc:
            raise InvalidInput(exc.code, f"{label}：{exc.title}", exc.detail, field=key) from None
    if key in RATIO_KEYS:
        return _rate_text(text)
    if key in LIST_KEYS:
        days = [d for d in _SEPARATORS.split(text) if d]
        if key == "loan.classification_thresholds" and len(days) == len(THRESHOLD_NAMES):
            return dict(zip(THRESHOLD_NAMES, days, strict=True))
        return days
    return _UNIT_WORDS.sub("", text).strip()
