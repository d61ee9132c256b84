"""Supervision rules, pure (decision 0040): the policy document, a center's score and class from
its indicator values, the monitoring lines over the month and the month before.

**Scoring.** Each indicator of the policy has a weight (the weights add up to 100), a *good*
threshold and a *warning* line, and a direction (``lower`` is better: 个贷率, 逾期率; ``higher``
is better: 缴存率, 使用率). A value on the good side of *good* scores the whole weight; between
*good* and the *warning* line (both included) half of it; beyond the warning line, or not
reported, nothing. The score is the sum (two decimals, ROUND_HALF_UP); the class is the first
grade whose ``min_score`` the score reaches. The indicators that *decided* the class are those
that lost points, each with its band (``warning``: half, ``beyond``: none, ``missing``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from hpf.kernel.errors import invalid

SHIPPED = Path(__file__).with_name("policy.json")
TWO = Decimal("0.01")
GRADE_ZH = {"A": "优秀", "B": "良好", "C": "一般", "D": "较差"}
BAND_ZH = {"good": "达标", "warning": "预警区间", "beyond": "超出警戒线", "missing": "未报送"}


@dataclass(frozen=True)
class Indicator:
    code: str
    name_zh: str
    better: str  # lower | higher
    good: Decimal
    warning: Decimal
    weight: int

    def band(self, value: Decimal | None) -> str:
        if value is None:
            return "missing"
        if self.better == "lower":
            return "good" if value < self.good else "warning" if value <= self.warning else "beyond"
        return "good" if value > self.good else "warning" if value >= self.warning else "beyond"

    def points(self, band: str) -> Decimal:
        return {"good": Decimal(self.weight), "warning": Decimal(self.weight) / 2}.get(band, Decimal(0))


@dataclass(frozen=True)
class Grade:
    grade: str
    min_score: Decimal
    name_zh: str


@dataclass(frozen=True)
class Policy:
    version: int  # 0: the shipped document
    effective_from: date
    indicators: tuple[Indicator, ...]
    grades: tuple[Grade, ...]  # highest first
    monitor: dict[str, Any]
    credit: dict[str, Any]
    document: dict[str, Any]

    @property
    def deadline_working_days(self) -> int:
        return int(self.monitor["deadline_working_days"])


def _bad(detail: str) -> Exception:
    return invalid("supervision.policy_invalid", f"监督政策不合规：{detail}", detail)


def parse(document: dict[str, Any], *, version: int = 0, effective_from: date = date(2000, 1, 1)) -> Policy:
    """A policy from its document, checked: weights add up to 100, good on the right side of the
    warning line, grades descending to 0, monitoring lines and credit grounds present."""
    try:
        indicators = tuple(
            Indicator(
                code=code,
                name_zh=str(spec["name_zh"]),
                better=str(spec["better"]),
                good=Decimal(str(spec["good"])),
                warning=Decimal(str(spec["warning"])),
                weight=int(spec["weight"]),
            )
            for code, spec in sorted(document["indicators"].items())
        )
        grades = tuple(
            sorted(
                (
                    Grade(str(g["grade"]), Decimal(str(g["min_score"])), str(g["name_zh"]))
                    for g in document["grades"]
                ),
                key=lambda g: g.min_score,
                reverse=True,
            )
        )
        monitor, credit = dict(document["monitor"]), dict(document["credit"])
        int(monitor["deadline_working_days"])
        for key in ("loan_ratio", "overdue_rising", "fund_movement"):
            dict(monitor[key])
        dict(credit["grounds"])
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise _bad(f"document does not parse: {exc!r}") from exc
    if sum(i.weight for i in indicators) != 100:
        raise _bad("the weights must add up to 100")
    for i in indicators:
        if i.better not in ("lower", "higher") or i.weight < 0:
            raise _bad(f"{i.code}: better is lower or higher, the weight not negative")
        if (i.better == "lower" and i.good > i.warning) or (i.better == "higher" and i.good < i.warning):
            raise _bad(f"{i.code}: the good threshold must be on the good side of the warning line")
    if not grades or grades[-1].min_score != 0:
        raise _bad("the lowest grade must start at 0")
    for g in credit["grounds"].values():
        if g.get("kind") not in ("person", "employer") or int(g.get("years", 0)) <= 0:
            raise _bad("each credit ground names a kind (person or employer) and a period in years")
    return Policy(version, effective_from, indicators, grades, monitor, credit, document)


def shipped() -> Policy:
    return parse(json.loads(SHIPPED.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Deciding:
    indicator: str
    name_zh: str
    value: str | None
    band: str
    points: str
    weight: int


@dataclass(frozen=True)
class Classification:
    score: Decimal
    grade: str
    deciding: tuple[Deciding, ...]  # the indicators that lost points, most points lost first


def classify(policy: Policy, values: dict[str, Decimal]) -> Classification:
    """The score and class of one center's month from its indicator values (see the module)."""
    score, lost = Decimal(0), []
    for i in policy.indicators:
        value = values.get(i.code)
        band = i.band(value)
        points = i.points(band)
        score += points
        if band != "good":
            lost.append(
                (Decimal(i.weight) - points, Deciding(i.code, i.name_zh, None if value is None else str(value),
                                                      band, str(points), i.weight))
            )  # fmt: skip
    score = score.quantize(TWO, ROUND_HALF_UP)
    grade = next(g.grade for g in policy.grades if score >= g.min_score)
    lost.sort(key=lambda x: (-x[0], x[1].indicator))
    return Classification(score, grade, tuple(d for _, d in lost))


@dataclass(frozen=True)
class Signal:
    """A monitoring rule's finding for one center and month: a problem to raise."""

    rule: str
    subject: str  # the indicator's code, or the event's reference
    value: str | None
    title_zh: str
    detail_zh: str


def monitor(policy: Policy, values: dict[str, Decimal], previous: dict[str, Decimal]) -> list[Signal]:
    """The monitoring lines over one center's month (``previous``: the month before)."""
    m, found = policy.monitor, []
    names = {i.code: i.name_zh for i in policy.indicators}
    ratio = m["loan_ratio"]
    code, line = str(ratio["indicator"]), Decimal(str(ratio["line"]))
    if (v := values.get(code)) is not None and v > line:
        found.append(
            Signal("M-LOAN-RATIO", code, str(v), f"{names.get(code, '个贷率')}超过警戒线",
                   f"本月{names.get(code, '个贷率')}为{v}%，超过警戒线{line}%，流动性风险上升")
        )  # fmt: skip
    rising = m["overdue_rising"]
    code, rise = str(rising["indicator"]), Decimal(str(rising["rise"]))
    now_v, before = values.get(code), previous.get(code)
    if now_v is not None and before is not None and now_v - before >= rise:
        found.append(
            Signal("M-OVERDUE-RISING", code, str(now_v), "个贷逾期率上升",
                   f"个贷逾期率由上月{before}%升至本月{now_v}%，升幅达到{rise}个百分点")
        )  # fmt: skip
    move = m["fund_movement"]
    code, ratio_line = str(move["indicator"]), Decimal(str(move["change_ratio"]))
    now_v, before = values.get(code), previous.get(code)
    if now_v is not None and before is not None and before != 0:
        change = (now_v - before) / before
        if abs(change) >= ratio_line:
            pct = (change * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
            found.append(
                Signal("M-FUND-MOVEMENT", code, str(now_v), "资金大额异动",
                       f"归集余额较上月变动{pct}%，达到大额异动线{(ratio_line * 100).normalize()}%")
            )  # fmt: skip
    return found


EVENT_RULES = {"transfer_overdue": ("M-TRANSFER-OVERDUE", "转移接续超期未办结"),
               "audit_finding": ("M-AUDIT-FINDING", "电子稽查发现问题")}  # fmt: skip
