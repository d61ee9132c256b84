"""The monthly reporting run at the hub (decision 0040): classify every center of the month and
raise and dispatch the problems its monitoring lines find — in one transaction, right after the
month's reports are taken, so that a center whose data crosses a warning line gets its problem
within the same reporting run.

Inputs come through the seam ``hpf.hub.supervision.inputs.indicator_values`` (this month and
the month before, for the rising and movement lines) and the hub events of the month
(``hub_sup_event``: transfer deadlines missed, e-audit findings a center sent). The month is
classified under the policy in force on its last day; a rerun (a restated month) classifies
anew and raises only problems not raised before.
"""

from __future__ import annotations

import calendar
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, select

from hpf.db.upsert import insert_new, upsert
from hpf.hub import registry, service
from hpf.hub.supervision import inputs, problems, rules
from hpf.hub.supervision.policy import policy_for
from hpf.hub.supervision.scope import Supervisor
from hpf.hub.supervision.tables import hub_center_class, hub_indicator_value, hub_sup_event


def month_end(month: str) -> date:
    year, mon = int(month[:4]), int(month[5:7])
    return date(year, mon, calendar.monthrange(year, mon)[1])


@dataclass
class RunSummary:
    month: str
    policy_version: int
    classified: dict[str, str] = field(default_factory=dict)  # center → grade
    problems: list[int] = field(default_factory=list)  # raised and dispatched now


def record_event(
    conn: Connection, *, center: str, month: str, kind: str, ref: str, detail_zh: str, now: datetime
) -> bool:
    """A hub event the monitoring reads (a transfer deadline missed, an e-audit finding)."""
    if kind not in rules.EVENT_RULES:
        raise ValueError(f"unknown event kind {kind}")
    return insert_new(
        conn, hub_sup_event,
        {"center": center, "month": month, "kind": kind, "ref": ref[:40], "detail_zh": detail_zh[:300], "recorded_at": now},
    )  # fmt: skip


def take_report(
    conn: Connection, hub: service.Hub, *, center: str, month: str, values: dict[str, Decimal], now: datetime
) -> RunSummary:
    """A center's month became current in the national warehouse (SUP101, decision 0039): its
    figures replace what the seam held for it, and the month's reporting run follows in the same
    transaction — the center gets its problem with the report that crossed the line."""
    v = hub_indicator_value.c
    conn.execute(delete(hub_indicator_value).where(v.center == center, v.month == month))
    inputs.record_values(conn, center, month, values, now)
    return reporting_run(conn, hub, month, today=(now + timedelta(hours=8)).date(), now=now)


def reporting_run(
    conn: Connection, hub: service.Hub, month: str, *, today: date, now: datetime
) -> RunSummary:
    policy = policy_for(conn, month_end(month))
    current = inputs.by_center(inputs.indicator_values(conn, month))
    previous = inputs.by_center(inputs.indicator_values(conn, inputs.months_back(month)))
    summary = RunSummary(month, policy.version)
    active = [c for c in registry.centers(conn) if c.active]
    e = hub_sup_event.c
    events = conn.execute(
        select(e.center, e.kind, e.ref, e.detail_zh).where(e.month == month).order_by(e.id)
    ).all()
    for center in active:
        values = current.get(center.code)
        if values is None:
            continue  # not reported this month: nothing to classify (the warehouse says who is late)
        found = rules.classify(policy, values)
        upsert(
            conn, hub_center_class, ["center", "month"],
            {"center": center.code, "month": month, "policy_version": policy.version, "score": found.score,
             "grade": found.grade, "deciding": [asdict(d) for d in found.deciding], "computed_at": now},
        )  # fmt: skip
        summary.classified[center.code] = found.grade
        signals = rules.monitor(policy, values, previous.get(center.code, {}))
        for ev in events:
            if ev.center == center.code and ev.kind in policy.monitor.get("events", []):
                rule, title = rules.EVENT_RULES[ev.kind]
                signals.append(rules.Signal(rule, ev.ref, None, title, ev.detail_zh))
        for signal in signals:
            problem_id = problems.raise_problem(
                conn, center=center.code, month=month, rule=signal.rule, subject=signal.subject,
                value=signal.value, title_zh=signal.title_zh, detail_zh=signal.detail_zh, now=now,
            )  # fmt: skip
            if problem_id is not None:
                problems.dispatch(
                    conn, hub, problem_id, None, today, now, working_days=policy.deadline_working_days
                )
                summary.problems.append(problem_id)
    return summary


class HistoryRow(NamedTuple):
    month: str
    score: Decimal
    grade: str
    deciding: list[dict[str, Any]]


class ValueRow(NamedTuple):
    center: str
    month: str
    indicator: str
    value: Decimal


def months_classified(conn: Connection) -> list[str]:
    """The months with classes, newest first."""
    k = hub_center_class.c
    return [str(m) for m in conn.scalars(select(k.month).distinct().order_by(k.month.desc()))]


def center_history(conn: Connection, center: str) -> list[HistoryRow]:
    k = hub_center_class.c
    rows = conn.execute(
        select(k.month, k.score, k.grade, k.deciding).where(k.center == center).order_by(k.month)
    ).all()
    return [HistoryRow(r.month, Decimal(r.score), r.grade, list(r.deciding)) for r in rows]


def reported(conn: Connection, *, center: str | None = None, indicator: str | None = None) -> list[ValueRow]:
    """Reported values (through the seam's table) of a center or of an indicator, by month."""
    v = hub_indicator_value.c
    query = select(v.center, v.month, v.indicator, v.value).order_by(v.month, v.center, v.indicator)
    if center is not None:
        query = query.where(v.center == center)
    if indicator is not None:
        query = query.where(v.indicator == indicator)
    return [
        ValueRow(r.center, r.month, r.indicator, Decimal(r.value).normalize()) for r in conn.execute(query)
    ]


@dataclass(frozen=True)
class CenterClass:
    center: str
    name: str
    province: str
    month: str
    score: Decimal
    grade: str
    deciding: list[dict[str, Any]]
    policy_version: int

    @property
    def grade_zh(self) -> str:
        return rules.GRADE_ZH.get(self.grade, self.grade)


def classes(conn: Connection, who: Supervisor, month: str) -> list[CenterClass]:
    """The month's classes of the centers in the supervisor's scope, best score first."""
    k = hub_center_class.c
    centers = {c.code: c for c in registry.centers(conn) if who.covers(c.province)}
    rows = conn.execute(
        select(hub_center_class).where(k.month == month).order_by(k.score.desc(), k.center)
    ).all()
    return [
        CenterClass(
            r.center,
            centers[r.center].name,
            centers[r.center].province,
            r.month,
            Decimal(r.score),
            r.grade,
            list(r.deciding),
            int(r.policy_version),
        )
        for r in rows
        if r.center in centers
    ]


def tiers(conn: Connection, who: Supervisor, month: str) -> dict[str, dict[str, int]]:
    """Center → province → nation: how many centers of each grade, by province of the scope."""
    found: dict[str, dict[str, int]] = {}
    for row in classes(conn, who, month):
        by_grade = found.setdefault(row.province, {})
        by_grade[row.grade] = by_grade.get(row.grade, 0) + 1
    return found
