"""Policy as data: the parameters in force on a day, and the checks and sums that use them.

Pure: no database, no clock. A parameter is a *key* with a history of entries
``(effective_from, value)``; the value in force on a day is the latest entry whose
``effective_from`` is on or before that day. National defaults ship with the package
(``defaults.json``); a center overlays its own entries (``service.py``). Nothing here is a
constant of the business: floors, caps, rates, rounding, day basis and the contribution year
all come in as data.

Raw values are what JSON carries: rates are decimal *strings* (``"0.12"`` = 12%, never a
float), amounts integer fen, ``null`` where a limit is not used. :func:`validate_value` turns a
raw value into its typed form and :func:`to_json` turns it back.

Checks return :class:`~hpf.kernel.findings.Finding` lists instead of raising, so a remittance
list can collect the errors of every row in one pass; :func:`~hpf.kernel.findings.require_ok`
turns findings into a refusal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from hpf.kernel.errors import InvalidInput
from hpf.kernel.findings import Finding
from hpf.kernel.money import MAX_FEN, RoundingUnit, apply_rate, format_yuan, parse_rate

MonthDay = tuple[int, int]

# The keys of the resolved Policy, in display order, then the deposit rate history.
POLICY_KEYS: tuple[str, ...] = (
    "base_floor_fen",
    "base_cap_fen",
    "monthly_amount_min_fen",
    "monthly_amount_max_fen",
    "employer_rate_min",
    "employer_rate_max",
    "member_rate_min",
    "member_rate_max",
    "rounding_unit",
    "day_basis",
    "contribution_year_start",
)
DEPOSIT_RATE = "deposit_rate"
# Security alert thresholds (G4): policy like the rest, scheduled the same way, read by
# ``hpf.disclosure.alerts`` through :func:`resolve_alerts`.
ALERT_KEYS: tuple[str, ...] = (
    "alert_failed_sign_ins",
    "alert_member_reads",
    "alert_window_minutes",
    "alert_export_rows",
    "alert_working_hours",
)
KEYS: tuple[str, ...] = (*POLICY_KEYS, DEPOSIT_RATE, *ALERT_KEYS)

LABELS_ZH: dict[str, str] = {
    "base_floor_fen": "缴存基数下限",
    "base_cap_fen": "缴存基数上限",
    "monthly_amount_min_fen": "月缴存额下限",
    "monthly_amount_max_fen": "月缴存额上限",
    "employer_rate_min": "单位缴存比例下限",
    "employer_rate_max": "单位缴存比例上限",
    "member_rate_min": "个人缴存比例下限",
    "member_rate_max": "个人缴存比例上限",
    "rounding_unit": "月缴存额舍入单位",
    "day_basis": "计息天数基准",
    "contribution_year_start": "缴存年度起始日",
    DEPOSIT_RATE: "住房公积金存款利率",
    "alert_failed_sign_ins": "告警：登录失败次数",
    "alert_member_reads": "告警：单人查阅职工次数",
    "alert_window_minutes": "告警：统计时间窗（分钟）",
    "alert_export_rows": "告警：单次导出条数",
    "alert_working_hours": "告警：工作时间",
}

UNITS_ZH: dict[str, str] = {
    "base_floor_fen": "元/月",
    "base_cap_fen": "元/月",
    "monthly_amount_min_fen": "元/月（单位与个人合计）",
    "monthly_amount_max_fen": "元/月（单位与个人合计）",
    "employer_rate_min": "百分比",
    "employer_rate_max": "百分比",
    "member_rate_min": "百分比",
    "member_rate_max": "百分比",
    "rounding_unit": "分或元",
    "day_basis": "天/年",
    "contribution_year_start": "月日",
    DEPOSIT_RATE: "年利率",
    "alert_failed_sign_ins": "次",
    "alert_member_reads": "条",
    "alert_window_minutes": "分钟",
    "alert_export_rows": "条",
    "alert_working_hours": "北京时间",
}
"""The unit of each parameter as pages show it beside the label."""

_FEN_KEYS = frozenset({"base_floor_fen", "base_cap_fen"})
_OPTIONAL_FEN_KEYS = frozenset({"monthly_amount_min_fen", "monthly_amount_max_fen"})
_RATE_KEYS = frozenset({"employer_rate_min", "employer_rate_max", "member_rate_min", "member_rate_max"})
DAY_BASES = frozenset({360, 365})
RATE_MAX_PLACES = 7  # rates are NUMERIC(8,7) in the data standard (JGJ/T 320, ZXLL)
_INTEGER = re.compile(r"^[+-]?[0-9]{1,30}$")  # bounded: int() of a huge string costs (and fails)
_MONTH_DAY = re.compile(r"^([0-9]{2})-([0-9]{2})$")
_HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
_COUNT_KEYS = frozenset(
    {"alert_failed_sign_ins", "alert_member_reads", "alert_window_minutes", "alert_export_rows"}
)


# ----------------------------------------------------------------------------- value objects


@dataclass(frozen=True)
class DepositRate:
    """The deposit interest rates in force from ``effective_from`` (annual, decimal fractions).

    ``current_rate`` applies to the current year's deposits (当年归集), ``carried_rate`` to the
    balance carried over from earlier years (上年结转); since 2016-02-21 both are the same.
    """

    effective_from: date
    current_rate: Decimal
    carried_rate: Decimal


@dataclass(frozen=True)
class Policy:
    """The parameters in force on one day (``on``)."""

    on: date
    base_floor_fen: int
    base_cap_fen: int
    monthly_amount_min_fen: int | None
    monthly_amount_max_fen: int | None
    employer_rate_min: Decimal
    employer_rate_max: Decimal
    member_rate_min: Decimal
    member_rate_max: Decimal
    rounding_unit: RoundingUnit
    day_basis: int
    contribution_year_start: MonthDay

    def contribution_year(self, day: date) -> tuple[date, date]:
        return contribution_year(day, self)


# ---------------------------------------------------------------------------------- values


def _invalid(key: str, title: str, detail: str) -> InvalidInput:
    label = LABELS_ZH.get(key, key)
    return InvalidInput("policy.invalid_value", f"{label}：{title}", f"{key}: {detail}", field=key)


def _integer(key: str, raw: object) -> int:
    if isinstance(raw, bool):
        raise _invalid(key, "须为整数", f"{raw!r} is not an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _INTEGER.match(raw.strip()):
        return int(raw.strip())
    raise _invalid(key, "须为整数", f"{raw!r} is not an integer")


def _fen(key: str, raw: object) -> int:
    value = _integer(key, raw)
    if value < 0:
        raise _invalid(key, "金额不能为负数", f"{value} must be ≥ 0 fen")
    if value > MAX_FEN:  # the amounts it bounds are stored in 64 bits
        raise _invalid(key, "金额超出允许范围", f"{value} is beyond {MAX_FEN} fen")
    return value


def _optional_fen(key: str, raw: object) -> int | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    return _fen(key, raw)


def _rate(key: str, raw: object) -> Decimal:
    if not isinstance(raw, (str, Decimal)):
        raise _invalid(
            key, '须为字符串形式的小数，如"0.12"', f"give a decimal string, not {type(raw).__name__}"
        )
    try:
        rate = parse_rate(raw, key)
    except InvalidInput:
        raise _invalid(key, "格式错误或为负数", f"{raw!r} is not a non-negative decimal") from None
    if rate > 1:
        raise _invalid(key, "须在0至1之间（小数形式，0.12即12%）", f"{raw!r} must be between 0 and 1")
    exponent = rate.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_MAX_PLACES:
        raise _invalid(key, f"最多保留{RATE_MAX_PLACES}位小数", f"{raw!r} has too many decimal places")
    return rate


def _rounding_unit(key: str, raw: object) -> RoundingUnit:
    if isinstance(raw, RoundingUnit):
        return raw
    if isinstance(raw, str) and raw.strip() in {u.value for u in RoundingUnit}:
        return RoundingUnit(raw.strip())
    raise _invalid(key, '须为"fen"（分）或"yuan"（元）', f"{raw!r} is not 'fen' or 'yuan'")


def _day_basis(key: str, raw: object) -> int:
    value = _integer(key, raw)
    if value not in DAY_BASES:
        raise _invalid(key, "须为360或365", f"{value} is not 360 or 365")
    return value


def _month_day(key: str, raw: object) -> MonthDay:
    found = _MONTH_DAY.match(raw.strip()) if isinstance(raw, str) else None
    if found is None:
        raise _invalid(key, '须为"MM-DD"格式，如"07-01"', f"{raw!r} is not MM-DD")
    month, day = int(found[1]), int(found[2])
    try:
        date(2001, month, day)  # a common year: 02-29 cannot start a year every year
    except ValueError:
        raise _invalid(
            key, "不是有效的月日（不能为2月29日）", f"{raw!r} is not a day of every year"
        ) from None
    return month, day


def _deposit_rate(key: str, raw: object) -> tuple[Decimal, Decimal]:
    if not isinstance(raw, Mapping) or set(raw) != {"current_rate", "carried_rate"}:
        raise _invalid(
            key,
            "须同时给出当年归集利率和上年结转利率",
            "give an object {current_rate, carried_rate} with decimal strings",
        )
    return _rate(key, raw["current_rate"]), _rate(key, raw["carried_rate"])


def _count(key: str, raw: object) -> int:
    value = _integer(key, raw)
    if not 1 <= value <= 1_000_000:
        raise _invalid(key, "须为1至1000000之间的整数", f"{value} must be between 1 and 1,000,000")
    return value


Hours = tuple[int, int]  # minutes after midnight: start inclusive, end exclusive


def _hours(key: str, raw: object) -> Hours:
    found = _HOURS.match(raw.strip()) if isinstance(raw, str) else None
    if found is None:
        raise _invalid(key, '须为"HH:MM-HH:MM"格式，如"08:00-18:00"', f"{raw!r} is not HH:MM-HH:MM")
    start = int(found[1]) * 60 + int(found[2])
    end = int(found[3]) * 60 + int(found[4])
    if not start < end <= 24 * 60:
        raise _invalid(key, "结束时间须晚于开始时间", f"{raw!r}: the end must be after the start")
    return start, end


_PARSERS: dict[str, Any] = {
    **dict.fromkeys(_FEN_KEYS, _fen),
    **dict.fromkeys(_OPTIONAL_FEN_KEYS, _optional_fen),
    **dict.fromkeys(_RATE_KEYS, _rate),
    "rounding_unit": _rounding_unit,
    "day_basis": _day_basis,
    "contribution_year_start": _month_day,
    DEPOSIT_RATE: _deposit_rate,
    **dict.fromkeys(_COUNT_KEYS, _count),
    "alert_working_hours": _hours,
}


def require_known_key(key: str) -> str:
    if key not in _PARSERS:
        raise InvalidInput(
            "policy.unknown_key",
            "未知的政策参数",
            f"{key!r} is not a policy key; known keys: {', '.join((*KEYS, *PARAMS))}",
            field="key",
        )
    return key


def validate_value(key: str, raw: object) -> object:
    """The typed value of ``raw`` for ``key``, or ``InvalidInput`` (``policy.invalid_value``).

    Types: ``int`` fen (``*_fen``; ``None`` allowed for the monthly-amount limits), ``Decimal``
    rate 0..1 from a decimal string, :class:`RoundingUnit`, ``int`` day basis 360 or 365,
    ``(month, day)`` contribution-year start from ``"MM-DD"``, and for ``deposit_rate`` the pair
    ``(current_rate, carried_rate)`` from ``{"current_rate": "...", "carried_rate": "..."}``;
    the withdrawal and loan parameters (``withdrawal.<name>``, ``loan.<name>``) as their
    :class:`Param` reads them. Unknown keys are refused with ``policy.unknown_key``.
    """
    require_known_key(key)
    parsed: object = _PARSERS[key](key, raw)
    return parsed


def to_json(key: str, value: object) -> Any:
    """The JSON form of a typed value (the inverse of :func:`validate_value`)."""
    require_known_key(key)
    if key in PARAMS:
        return PARAMS[key].dump(value)
    if key == DEPOSIT_RATE:
        assert isinstance(value, tuple)
        current, carried = value
        return {"current_rate": str(current), "carried_rate": str(carried)}
    if key == "contribution_year_start":
        assert isinstance(value, tuple)
        return f"{value[0]:02d}-{value[1]:02d}"
    if key == "alert_working_hours":
        assert isinstance(value, tuple)
        return _hours_text(value)
    if isinstance(value, RoundingUnit):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def canonical(key: str, raw: object) -> Any:
    """``raw`` validated and written back as JSON (what is stored)."""
    return to_json(key, validate_value(key, raw))


# -------------------------------------------------------------------------------- resolving


def _no_value(key: str, on: date) -> InvalidInput:
    return InvalidInput(
        "policy.no_value",
        f"{LABELS_ZH.get(key, key)}在{on.isoformat()}尚无生效值",
        f"{key}: no entry effective on or before {on.isoformat()}",
        field=key,
    )


def latest(entries: Sequence[tuple[date, Any]], on: date) -> tuple[date, Any] | None:
    """The entry in force on ``on``: latest ``effective_from ≤ on``; on a tie the later one listed."""
    best: tuple[date, Any] | None = None
    for effective_from, value in entries:
        if effective_from <= on and (best is None or effective_from >= best[0]):
            best = (effective_from, value)
    return best


def resolve(entries: Mapping[str, Sequence[tuple[date, Any]]], on: date) -> Policy:
    """The :class:`Policy` in force on ``on`` from raw entries per key.

    For each key the latest entry with ``effective_from ≤ on`` wins; when two entries of a key
    share a date, the one listed later wins (list defaults first, then the center's entries).
    Keys other than the policy keys (``deposit_rate``, keys of a later version) are ignored.
    """
    raw: dict[str, Any] = {}
    for key in POLICY_KEYS:
        found = latest(entries.get(key, ()), on)
        if found is None:
            raise _no_value(key, on)
        raw[key] = found[1]
    return Policy(
        on=on,
        base_floor_fen=_fen("base_floor_fen", raw["base_floor_fen"]),
        base_cap_fen=_fen("base_cap_fen", raw["base_cap_fen"]),
        monthly_amount_min_fen=_optional_fen("monthly_amount_min_fen", raw["monthly_amount_min_fen"]),
        monthly_amount_max_fen=_optional_fen("monthly_amount_max_fen", raw["monthly_amount_max_fen"]),
        employer_rate_min=_rate("employer_rate_min", raw["employer_rate_min"]),
        employer_rate_max=_rate("employer_rate_max", raw["employer_rate_max"]),
        member_rate_min=_rate("member_rate_min", raw["member_rate_min"]),
        member_rate_max=_rate("member_rate_max", raw["member_rate_max"]),
        rounding_unit=_rounding_unit("rounding_unit", raw["rounding_unit"]),
        day_basis=_day_basis("day_basis", raw["day_basis"]),
        contribution_year_start=_month_day("contribution_year_start", raw["contribution_year_start"]),
    )


@dataclass(frozen=True)
class AlertPolicy:
    """Thresholds of the security alerts in force on a day (G4)."""

    failed_sign_ins: int  # failed sign-ins of one login within the window
    member_reads: int  # reads of members by one staff member within the window (a masked list is one)
    window_minutes: int
    export_rows: int  # rows in one export
    working_hours: Hours  # China time, on working days


def resolve_alerts(entries: Mapping[str, Sequence[tuple[date, Any]]], on: date) -> AlertPolicy:
    raw: dict[str, Any] = {}
    for key in ALERT_KEYS:
        found = latest(entries.get(key, ()), on)
        if found is None:
            raise _no_value(key, on)
        raw[key] = found[1]
    return AlertPolicy(
        failed_sign_ins=_count("alert_failed_sign_ins", raw["alert_failed_sign_ins"]),
        member_reads=_count("alert_member_reads", raw["alert_member_reads"]),
        window_minutes=_count("alert_window_minutes", raw["alert_window_minutes"]),
        export_rows=_count("alert_export_rows", raw["alert_export_rows"]),
        working_hours=_hours("alert_working_hours", raw["alert_working_hours"]),
    )


def _hours_text(value: Hours) -> str:
    (h1, m1), (h2, m2) = divmod(value[0], 60), divmod(value[1], 60)
    return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"


def consistency(policy: Policy) -> list[Finding]:
    """Findings for parameters that contradict each other (floor above cap, min above max)."""
    out: list[Finding] = []
    pairs: list[tuple[str, str, Any, Any]] = [
        ("base_floor_fen", "base_cap_fen", policy.base_floor_fen, policy.base_cap_fen),
        ("employer_rate_min", "employer_rate_max", policy.employer_rate_min, policy.employer_rate_max),
        ("member_rate_min", "member_rate_max", policy.member_rate_min, policy.member_rate_max),
    ]
    if policy.monthly_amount_min_fen is not None and policy.monthly_amount_max_fen is not None:
        pairs.append(
            (
                "monthly_amount_min_fen",
                "monthly_amount_max_fen",
                policy.monthly_amount_min_fen,
                policy.monthly_amount_max_fen,
            )
        )
    for low_key, high_key, low, high in pairs:
        if low > high:
            out.append(
                Finding(
                    "policy.invalid_value",
                    f"{LABELS_ZH[low_key]}不能高于{LABELS_ZH[high_key]}",
                    f"on {policy.on.isoformat()} {low_key} {low} > {high_key} {high}",
                    subject=low_key,
                )
            )
    return out


# ---------------------------------------------------------------------------- deposit rates


def deposit_history(entries: Sequence[tuple[date, Any]]) -> list[DepositRate]:
    """Raw ``deposit_rate`` entries as a sorted history; on a shared date the later listed wins."""
    by_date: dict[date, DepositRate] = {}
    for effective_from, raw in entries:
        current, carried = _deposit_rate(DEPOSIT_RATE, raw)
        by_date[effective_from] = DepositRate(effective_from, current, carried)
    return [by_date[d] for d in sorted(by_date)]


def deposit_rate_on(history: Sequence[DepositRate], day: date) -> DepositRate:
    """The rates that apply to a balance held on ``day`` (latest ``effective_from ≤ day``)."""
    found = latest([(r.effective_from, r) for r in history], day)
    if found is None:
        raise _no_value(DEPOSIT_RATE, day)
    rate: DepositRate = found[1]
    return rate


def deposit_rate_segments(
    history: Sequence[DepositRate], start: date, end: date
) -> list[tuple[date, date, DepositRate]]:
    """Split the days ``(start, end]`` where the deposit rate changes.

    The interval holds the days ``d`` with ``start < d ≤ end`` (``end − start`` days): the
    convention of the ledger's 积数, where a balance changed on value date ``v`` counts from
    ``v + 1``. An interest year is ``(previous 06-30, this 06-30]``.

    A rate effective on day ``c`` applies to balances held on days ``≥ c``. Each segment is
    ``(seg_start, seg_end, rate)`` with the same half-open meaning: it holds the days
    ``seg_start < d ≤ seg_end`` (``seg_end − seg_start`` days), so a change on ``c`` ends one
    segment at ``c − 1`` and starts the next after ``c − 1``. Segments are contiguous: the
    first starts at ``start``, the last ends at ``end``, each begins where the previous ended.

    Example: a change on 2016-02-21 splits ``(2015-06-30, 2016-06-30]`` into
    ``(2015-06-30, 2016-02-20]`` at the old rate (235 days) and ``(2016-02-20, 2016-06-30]`` at
    1.50% (131 days). ``end == start`` gives no segment; a day before the first entry of the
    history is refused (``policy.no_value``).
    """
    if end < start:
        raise InvalidInput(
            "policy.invalid_period",
            "计息期间的结束日不能早于起始日",
            f"end {end.isoformat()} is before start {start.isoformat()}",
        )
    if end == start:
        return []
    ordered = sorted(history, key=lambda r: r.effective_from)
    seg_start = start
    rate = deposit_rate_on(ordered, start + timedelta(days=1))
    segments: list[tuple[date, date, DepositRate]] = []
    for change in ordered:
        if start + timedelta(days=1) < change.effective_from <= end:
            seg_end = change.effective_from - timedelta(days=1)
            if seg_end > seg_start:  # two entries on one date: the later listed wins
                segments.append((seg_start, seg_end, rate))
            seg_start, rate = seg_end, change
    segments.append((seg_start, end, rate))
    return segments


# ---------------------------------------------------------------------------- contributions


def contribution_parts(
    base_fen: int, employer_rate: Decimal, member_rate: Decimal, policy: Policy
) -> tuple[int, int]:
    """``(employer part, member part)`` of a month: each ``base × rate`` rounded half up to the
    policy's unit, separately (REFERENCE §1.3). The monthly amount is their sum."""
    unit = policy.rounding_unit
    return apply_rate(base_fen, employer_rate, unit), apply_rate(base_fen, member_rate, unit)


def _yuan(fen: int) -> str:
    return f"{format_yuan(fen)}元"


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def check_base(base_fen: int, policy: Policy) -> list[Finding]:
    """Findings for a contribution base outside ``[floor, cap]``."""
    if base_fen < policy.base_floor_fen:
        return [
            Finding(
                "policy.base_below_floor",
                f"缴存基数低于下限{_yuan(policy.base_floor_fen)}",
                f"base {base_fen} fen is below the floor {policy.base_floor_fen} fen",
                subject="base_fen",
            )
        ]
    if base_fen > policy.base_cap_fen:
        return [
            Finding(
                "policy.base_above_cap",
                f"缴存基数高于上限{_yuan(policy.base_cap_fen)}",
                f"base {base_fen} fen is above the cap {policy.base_cap_fen} fen",
                subject="base_fen",
            )
        ]
    return []


def check_rates(employer_rate: Decimal, member_rate: Decimal, policy: Policy) -> list[Finding]:
    """Findings for an employer or member rate outside the policy's range."""
    out: list[Finding] = []
    for field, who, rate, low, high in (
        ("employer_rate", "单位", employer_rate, policy.employer_rate_min, policy.employer_rate_max),
        ("member_rate", "个人", member_rate, policy.member_rate_min, policy.member_rate_max),
    ):
        if not low <= rate <= high:
            out.append(
                Finding(
                    f"policy.{field}_out_of_range",
                    f"{who}缴存比例须在{_pct(low)}至{_pct(high)}之间",
                    f"{field} {rate} is outside {low}..{high}",
                    subject=field,
                )
            )
    return out


def check_monthly_amounts(employer_fen: int, member_fen: int, policy: Policy) -> list[Finding]:
    """Findings for a monthly amount (employer part + member part, 月缴存额) outside the
    policy's monthly-amount limits; a limit of ``None`` is not checked."""
    total = employer_fen + member_fen
    low, high = policy.monthly_amount_min_fen, policy.monthly_amount_max_fen
    if low is not None and total < low:
        return [
            Finding(
                "policy.monthly_amount_below_min",
                f"月缴存额低于下限{_yuan(low)}",
                f"monthly amount {total} fen is below the minimum {low} fen",
                subject="monthly_amount_fen",
            )
        ]
    if high is not None and total > high:
        return [
            Finding(
                "policy.monthly_amount_above_max",
                f"月缴存额高于上限{_yuan(high)}",
                f"monthly amount {total} fen is above the maximum {high} fen",
                subject="monthly_amount_fen",
            )
        ]
    return []


def contribution_year(day: date, year_start: Policy | MonthDay) -> tuple[date, date]:
    """The contribution year (缴存年度) holding ``day``: ``(first day, last day)``, inclusive.

    With the usual start 07-01, 2025-03-15 → (2024-07-01, 2025-06-30).
    """
    month, dom = year_start.contribution_year_start if isinstance(year_start, Policy) else year_start
    first = date(day.year if (day.month, day.day) >= (month, dom) else day.year - 1, month, dom)
    return first, date(first.year + 1, month, dom) - timedelta(days=1)


# -------------------------------------------------------------------------------- display


def describe(key: str, value: object) -> str:
    """A typed value as staff read it, in Chinese (``0.12`` → ``12%``, fen → ``2,000.00元``)."""
    if key in PARAMS:
        return PARAMS[key].show(value)
    if key == DEPOSIT_RATE:
        assert isinstance(value, tuple)
        current, carried = value
        if current == carried:
            return f"{_pct(current)}（当年归集与上年结转统一）"
        return f"当年归集{_pct(current)}，上年结转{_pct(carried)}"
    if key in _OPTIONAL_FEN_KEYS and value is None:
        return "不限"
    if key in _FEN_KEYS or key in _OPTIONAL_FEN_KEYS:
        assert isinstance(value, int)
        return _yuan(value)
    if key in _RATE_KEYS:
        assert isinstance(value, Decimal)
        return _pct(value)
    if key == "rounding_unit":
        return "元（元以下四舍五入）" if value == RoundingUnit.YUAN else "分（分以下四舍五入）"
    if key == "day_basis":
        return f"{value}天"
    if key == "contribution_year_start":
        assert isinstance(value, tuple)
        return f"{value[0]}月{value[1]}日"
    if key == "alert_working_hours":
        assert isinstance(value, tuple)
        return f"工作日 {_hours_text(value)}（北京时间）"
    if key == "alert_window_minutes":
        return f"{value}分钟"
    if key in _COUNT_KEYS:
        return f"{value}次" if key == "alert_failed_sign_ins" else f"{value}条"
    return str(value)


# ------------------------------------------------------------ withdrawal and loan parameters
# Two more kinds of policy a center sets (A5 withdrawals, A6 loans; decision 0022). The shipped
# defaults are package data beside defaults.json (``withdrawal_policy.json``,
# ``loan_policy.json``: ``{key: {note_zh, entries}}`` keyed by the parameter's *name*); a
# center's change is stored under the *key* ``<kind>.<name>`` (``withdrawal.rent_monthly_cap_fen``)
# and scheduled like every other key: effective date, maker-checker, never retroactive.

WITHDRAWAL = "withdrawal"
LOAN = "loan"
TRANSFER = "transfer"  # cross-center transfer (转移接续, decision 0030)
LIQUIDITY = "liquidity"  # fund operation and liquidity thresholds (资金运行监测, decision 0038)
KINDS: tuple[str, ...] = (WITHDRAWAL, LOAN, TRANSFER, LIQUIDITY)
KIND_ZH = {WITHDRAWAL: "提取", LOAN: "贷款", TRANSFER: "转移接续", LIQUIDITY: "资金运行"}
LOAN_TERM_MAX_MONTHS = 600  # the longest schedule ``hpf.loans.calculator.schedule`` computes (MAX_MONTHS)
DAYS_PAST_DUE_MAX = 3650  # thresholds and dunning stages: within ten years past due


@dataclass(frozen=True)
class WithdrawalPolicy:
    """The withdrawal parameters in force on one day."""

    purchase_window_months: int
    build_window_months: int
    rent_min_deposit_months: int
    rent_monthly_cap_fen: int
    rent_interval_months: int
    repay_interval_months: int
    leave_sealed_months: int
    retirement_age_male: int
    retirement_age_female: int
    housing_withdrawals_per_year: int


@dataclass(frozen=True)
class ClassificationThresholds:
    """The first day past due of each loan class after 正常 (UNVERIFIED for HPF: parameters)."""

    special_mention: int
    substandard: int
    doubtful: int
    loss: int

    def __post_init__(self) -> None:
        days = (self.special_mention, self.substandard, self.doubtful, self.loss)
        if any(isinstance(d, bool) or not isinstance(d, int) for d in days) or not (
            1 <= days[0] < days[1] < days[2] < days[3]
        ):
            raise InvalidInput(
                "loan.invalid_thresholds",
                "五级分类逾期天数阈值须为递增的正整数",
                f"thresholds must be increasing positive integers, got {days}",
            )


THRESHOLD_NAMES: tuple[str, ...] = ("special_mention", "substandard", "doubtful", "loss")


@dataclass(frozen=True)
class TransferPolicy:
    """The cross-center transfer parameters in force on one day (decision 0030)."""

    out_min_sealed_months: int  # local extra condition: sealed at least this long (0: none)
    out_decide_working_days: int  # the old center decides on a contact letter within
    total_working_days: int  # from the letter to the credit


@dataclass(frozen=True)
class LiquidityPolicy:
    """The fund operation thresholds in force on one day (decision 0038): an indicator beyond
    its threshold raises an alert on the liquidity page."""

    coverage_30_min: Decimal  # bank balances ÷ expected outflows of the next 30 days, at least
    coverage_90_min: Decimal  # the same for 90 days
    loan_ratio_max: Decimal  # 个贷率 at most
    usage_ratio_min: Decimal  # 使用率 at least (funds idle below)
    overdue_permille_max: Decimal  # 逾期率 (‰) at most
    large_movement_fen: int  # one bank movement of this much or more is shown and alerted


@dataclass(frozen=True)
class LoanPolicy:
    """The loan parameters in force on one day (``on``)."""

    on: date
    max_term_months: int
    max_age_plus_term_years: int
    max_amount_fen: int
    min_continuous_deposit_months: int
    max_loans: int
    penalty_day_basis: int
    ltv_first_home: Decimal
    ltv_second_home: Decimal
    balance_multiple: Decimal
    repayment_capacity_ratio: Decimal
    penalty_multiplier: Decimal
    classification_thresholds: ClassificationThresholds
    dunning_days: tuple[int, ...]  # days past due at which a dunning notice goes out
    # an unsettled HPF loan of the household at another center refuses a new loan (decision 0031)
    refuse_unsettled_elsewhere: bool = True
    # a person on the national credit list (a listing in force, any center) is refused a loan
    # (decision 0040)
    refuse_credit_listed: bool = True


Parser = Callable[[str, object], Any]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Param:
    """One withdrawal or loan parameter: where it belongs, what staff call it, how a raw (JSON)
    value is read (refusing with ``policy.invalid_value`` and the key as the field), shown in
    Chinese and written back as JSON."""

    kind: str
    name: str  # the field of WithdrawalPolicy / LoanPolicy and the key of the shipped file
    label_zh: str
    unit_zh: str
    parse: Parser
    show: Callable[[Any], str]
    dump: Callable[[Any], Any] = _same

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.name}"


def _whole(low: int, high: int) -> Parser:
    def parse(key: str, raw: object) -> int:
        value = _integer(key, raw)
        if not low <= value <= high:
            raise _invalid(key, f"须为{low}至{high}之间的整数", f"{value} must be between {low} and {high}")
        return value

    return parse


def _decimal_between(low: Decimal, high: Decimal) -> Parser:
    """A decimal string (never a float) within ``[low, high]``; a ratio is ``[0, 1]``."""

    def parse(key: str, raw: object) -> Decimal:
        if not isinstance(raw, (str, Decimal)):
            raise _invalid(
                key, '须为字符串形式的小数，如"0.8"', f"give a decimal string, not {type(raw).__name__}"
            )
        try:
            value = parse_rate(raw, key)
        except InvalidInput:
            raise _invalid(key, "格式错误或为负数", f"{raw!r} is not a non-negative decimal") from None
        if not low <= value <= high:
            if low == 0 and high == 1:
                title = "须在0至1之间（小数形式，0.8即80%）"
            else:
                title = f"须在{low}至{high}之间"
            raise _invalid(key, title, f"{raw!r} must be between {low} and {high}")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > RATE_MAX_PLACES:
            raise _invalid(key, f"最多保留{RATE_MAX_PLACES}位小数", f"{raw!r} has too many decimal places")
        return value

    return parse


_DAYS_PAST_DUE = _whole(1, DAYS_PAST_DUE_MAX)


def _days_past_due(key: str, raw: object) -> int:
    days: int = _DAYS_PAST_DUE(key, raw)
    return days


def _thresholds(key: str, raw: object) -> ClassificationThresholds:
    if not isinstance(raw, Mapping) or set(raw) != set(THRESHOLD_NAMES):
        raise _invalid(
            key,
            "须给出关注、次级、可疑、损失四个起始逾期天数",
            f"give an object with {', '.join(THRESHOLD_NAMES)}",
        )
    days = [_days_past_due(key, raw[name]) for name in THRESHOLD_NAMES]
    if days != sorted(set(days)):
        raise _invalid(key, "四个逾期天数须依次递增", f"{days} are not increasing")
    return ClassificationThresholds(*days)


def _dunning(key: str, raw: object) -> tuple[int, ...]:
    if not isinstance(raw, list | tuple) or not 1 <= len(raw) <= 10:
        raise _invalid(key, "须给出1至10个逾期天数", "give a list of 1 to 10 days past due")
    days = tuple(_days_past_due(key, d) for d in raw)
    if list(days) != sorted(set(days)):
        raise _invalid(key, "逾期天数须依次递增", f"{list(days)} are not increasing")
    return days


def _flag(key: str, raw: object) -> bool:
    """Yes or no: a JSON boolean, or what a clerk types (是/否)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("是", "true", "yes"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("否", "false", "no"):
        return False
    raise _invalid(key, "须为“是”或“否”", f"{raw!r} is not a yes/no value")


def _flag_zh(value: Any) -> str:
    return "是" if value else "否"


def _months_zh(value: Any) -> str:
    return f"{value}个月"


def _times_zh(value: Any) -> str:
    return f"{value}次"


def _age_zh(value: Any) -> str:
    return f"{value}周岁"


def _ratio_zh(value: Any) -> str:
    return _pct(value)


def _ltv_zh(value: Any) -> str:
    return f"{_pct(value)}（最低首付{_pct(1 - value)}）"


def _multiple_zh(value: Any) -> str:
    return f"{value.normalize():f}倍"


def _thresholds_zh(value: Any) -> str:
    t: ClassificationThresholds = value
    return f"逾期{t.special_mention}天起关注，{t.substandard}天起次级，{t.doubtful}天起可疑，{t.loss}天起损失"


def _dunning_zh(value: Any) -> str:
    return "逾期第" + "、".join(str(d) for d in value) + "天"


def _decimal_json(value: Any) -> Any:
    return str(value)


def _thresholds_json(value: Any) -> Any:
    return {name: getattr(value, name) for name in THRESHOLD_NAMES}


def _list_json(value: Any) -> Any:
    return list(value)


_RATIO = _decimal_between(Decimal(0), Decimal(1))

WITHDRAWAL_PARAMS: tuple[Param, ...] = (
    Param(WITHDRAWAL, "purchase_window_months", "购房提取申请期限", "月（自购房合同备案或不动产登记之日起）",
          _whole(1, 120), _months_zh),
    Param(WITHDRAWAL, "build_window_months", "建造、翻建、大修提取申请期限", "月（自规划许可或施工合同之日起）",
          _whole(1, 120), _months_zh),
    Param(WITHDRAWAL, "rent_min_deposit_months", "租房提取连续缴存月数下限", "月", _whole(0, 120), _months_zh),
    Param(WITHDRAWAL, "rent_monthly_cap_fen", "租房提取每月限额", "元/月（每人）", _fen, _yuan),
    Param(WITHDRAWAL, "rent_interval_months", "两次租房提取最短间隔", "月", _whole(0, 120), _months_zh),
    Param(WITHDRAWAL, "repay_interval_months", "两次按月还贷提取最短间隔", "月", _whole(0, 120), _months_zh),
    Param(WITHDRAWAL, "leave_sealed_months", "离开本市提取账户封存期", "月", _whole(0, 120), _months_zh),
    Param(WITHDRAWAL, "retirement_age_male", "退休提取年龄（男）", "周岁（以退休证明为准）", _whole(40, 80), _age_zh),
    Param(WITHDRAWAL, "retirement_age_female", "退休提取年龄（女）", "周岁（以退休证明为准）", _whole(40, 80), _age_zh),
    Param(WITHDRAWAL, "housing_withdrawals_per_year", "每年住房消费类提取次数", "次/年（超过即提示风险）",
          _whole(1, 100), _times_zh),
)  # fmt: skip

LOAN_PARAMS: tuple[Param, ...] = (
    Param(LOAN, "max_term_months", "贷款期限上限", "月", _whole(1, LOAN_TERM_MAX_MONTHS), _months_zh),
    Param(LOAN, "max_age_plus_term_years", "借款人年龄与贷款期限之和上限", "年",
          _whole(18, 100), lambda v: f"{v}年"),
    Param(LOAN, "max_amount_fen", "个人住房贷款最高额度", "元", _fen, _yuan),
    Param(LOAN, "min_continuous_deposit_months", "申请贷款连续缴存月数下限", "月", _whole(0, 120), _months_zh),
    Param(LOAN, "max_loans", "每户家庭贷款次数上限", "次", _whole(0, 10), _times_zh),
    Param(LOAN, "penalty_day_basis", "罚息计息天数基准", "天/年", _day_basis, lambda v: f"{v}天"),
    Param(LOAN, "ltv_first_home", "首套住房最高贷款比例", "百分比（房价与评估价孰低者）",
          _RATIO, _ltv_zh, _decimal_json),
    Param(LOAN, "ltv_second_home", "第二套住房最高贷款比例", "百分比（首套贷款已结清）",
          _RATIO, _ltv_zh, _decimal_json),
    Param(LOAN, "balance_multiple", "账户余额倍数", "倍（借款人及共同借款人账户余额之和）",
          _decimal_between(Decimal(0), Decimal(100)), _multiple_zh, _decimal_json),
    Param(LOAN, "repayment_capacity_ratio", "还款能力系数", "百分比（首期月供占月缴存基数之和的上限）",
          _RATIO, _ratio_zh, _decimal_json),
    Param(LOAN, "penalty_multiplier", "罚息利率倍数", "倍（贷款年利率的倍数）",
          _decimal_between(Decimal(1), Decimal(10)), _multiple_zh, _decimal_json),
    Param(LOAN, "classification_thresholds", "五级分类逾期天数阈值", "天（关注、次级、可疑、损失的起始逾期天数）",
          _thresholds, _thresholds_zh, _thresholds_json),
    Param(LOAN, "dunning_days", "催收通知节点", "天（逾期天数）", _dunning, _dunning_zh, _list_json),
    Param(LOAN, "refuse_unsettled_elsewhere", "异地未结清公积金贷款不予贷款", "是或否（经全国信息协查）",
          _flag, _flag_zh),
    Param(LOAN, "refuse_credit_listed", "列入失信名单者不予贷款", "是或否（经全国信息协查）",
          _flag, _flag_zh),
)  # fmt: skip

TRANSFER_PARAMS: tuple[Param, ...] = (
    Param(TRANSFER, "out_min_sealed_months", "转出账户封存期下限（本地附加条件）", "月（0为不设）",
          _whole(0, 120), _months_zh),
    Param(TRANSFER, "out_decide_working_days", "转出地审核联系函时限", "个工作日", _whole(1, 60),
          lambda v: f"{v}个工作日"),
    Param(TRANSFER, "total_working_days", "转移接续办结时限", "个工作日（自发出联系函起）", _whole(1, 120),
          lambda v: f"{v}个工作日"),
)  # fmt: skip

LIQUIDITY_PARAMS: tuple[Param, ...] = (
    Param(LIQUIDITY, "coverage_30_min", "30日备付率下限", "倍（银行存款÷未来30日预计支出）",
          _decimal_between(Decimal(0), Decimal(100)), _multiple_zh, _decimal_json),
    Param(LIQUIDITY, "coverage_90_min", "90日备付率下限", "倍（银行存款÷未来90日预计支出）",
          _decimal_between(Decimal(0), Decimal(100)), _multiple_zh, _decimal_json),
    Param(LIQUIDITY, "loan_ratio_max", "个贷率预警线", "百分比（个贷余额÷缴存余额）", _RATIO, _ratio_zh, _decimal_json),
    Param(LIQUIDITY, "usage_ratio_min", "使用率下限", "百分比（低于即资金闲置）", _RATIO, _ratio_zh, _decimal_json),
    Param(LIQUIDITY, "overdue_permille_max", "逾期率预警线", "‰（逾期金额÷个贷余额）",
          _decimal_between(Decimal(0), Decimal(1000)), lambda v: f"{v.normalize():f}‰", _decimal_json),
    Param(LIQUIDITY, "large_movement_fen", "大额资金变动", "元（单笔银行存款变动达到即提示）", _fen, _yuan),
)  # fmt: skip

PARAMS: dict[str, Param] = {
    p.key: p for p in (*WITHDRAWAL_PARAMS, *LOAN_PARAMS, *TRANSFER_PARAMS, *LIQUIDITY_PARAMS)
}
PARAMS_OF: dict[str, tuple[Param, ...]] = {
    WITHDRAWAL: WITHDRAWAL_PARAMS,
    LOAN: LOAN_PARAMS,
    TRANSFER: TRANSFER_PARAMS,
    LIQUIDITY: LIQUIDITY_PARAMS,
}
LABELS_ZH.update({p.key: p.label_zh for p in PARAMS.values()})
UNITS_ZH.update({p.key: p.unit_zh for p in PARAMS.values()})
_PARSERS.update({p.key: p.parse for p in PARAMS.values()})

_SHIPPED_FILES = {
    WITHDRAWAL: "withdrawal_policy.json",
    LOAN: "loan_policy.json",
    TRANSFER: "transfer_policy.json",
    LIQUIDITY: "liquidity_policy.json",
}


def kind_of_key(key: str) -> str | None:
    """``"withdrawal"``, ``"loan"`` or ``"transfer"`` for a key of those kinds, else ``None``."""
    found = PARAMS.get(key)
    return None if found is None else found.kind


@cache
def _shipped(kind: str) -> dict[str, Any]:
    """The shipped file of ``kind``, every value checked (a broken package fails loudly, once)."""
    text = resources.files("hpf.policy").joinpath(_SHIPPED_FILES[kind]).read_text("utf-8")
    keys: dict[str, Any] = json.loads(text)["keys"]
    names = {p.name for p in PARAMS_OF[kind]}
    assert set(keys) == names, f"{_SHIPPED_FILES[kind]}: {sorted(set(keys) ^ names)}"
    for p in PARAMS_OF[kind]:
        for entry in keys[p.name]["entries"]:
            p.parse(p.key, entry["value"])
    return keys


def shipped_entries(kind: str) -> dict[str, list[tuple[date, Any]]]:
    """The shipped defaults of ``kind`` as ``{name: [(effective_from, raw value), ...]}``
    (fresh lists: a caller may append a center's entries)."""
    return {
        name: [(date.fromisoformat(e["effective_from"]), e["value"]) for e in spec["entries"]]
        for name, spec in _shipped(kind).items()
    }


def shipped_note(kind: str, name: str) -> str:
    """The Chinese note on a shipped default, for staff."""
    note: str = _shipped(kind)[name].get("note_zh", "")
    return note


def _resolve_kind(kind: str, entries: Mapping[str, Sequence[tuple[date, Any]]], on: date) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for p in PARAMS_OF[kind]:
        found = latest(entries.get(p.name, ()), on)
        if found is None:
            raise _no_value(p.key, on)
        values[p.name] = p.parse(p.key, found[1])
    return values


def resolve_withdrawal_policy(
    entries: Mapping[str, Sequence[tuple[date, Any]]], on: date
) -> WithdrawalPolicy:
    """The :class:`WithdrawalPolicy` in force on ``on`` from raw entries per parameter *name*:
    per name the latest entry ``≤ on`` (on a shared date the later listed wins)."""
    return WithdrawalPolicy(**_resolve_kind(WITHDRAWAL, entries, on))


def resolve_loan_policy(entries: Mapping[str, Sequence[tuple[date, Any]]], on: date) -> LoanPolicy:
    """The :class:`LoanPolicy` in force on ``on`` from raw entries per parameter *name*."""
    return LoanPolicy(on=on, **_resolve_kind(LOAN, entries, on))


def resolve_transfer_policy(entries: Mapping[str, Sequence[tuple[date, Any]]], on: date) -> TransferPolicy:
    """The :class:`TransferPolicy` in force on ``on`` from raw entries per parameter *name*."""
    return TransferPolicy(**_resolve_kind(TRANSFER, entries, on))


def resolve_liquidity_policy(entries: Mapping[str, Sequence[tuple[date, Any]]], on: date) -> LiquidityPolicy:
    """The :class:`LiquidityPolicy` in force on ``on`` from raw entries per parameter *name*."""
    return LiquidityPolicy(**_resolve_kind(LIQUIDITY, entries, on))
