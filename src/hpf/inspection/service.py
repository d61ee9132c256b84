"""The electronic audit's use cases: run the pack over the whole center, open and handle cases.

:func:`scan` runs every rule of the pack (``rules.json``, SQL in ``pack.py``) in one read of the
center as of a business day, stores the run and its findings, and opens a case for each finding
no case holds yet (a case is one per rule and object: found again in a later run, it is the same
case, its ``last_run_id`` moved on). The case steps — assign, note (investigate), confirm with
the money to recover, clear with a reason — each lock the case, check the state machine
(``rules.next_state``), write a step row, an audit-log row and a business event
(``inspection_case.<step>``) in the caller's transaction, so that the hub's supervision can
receive them once it exists.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from hpf import events
from hpf.audit import trail
from hpf.db.engine import write_transaction
from hpf.inspection.pack import FINDERS, Limits
from hpf.inspection.rules import (
    CONCLUDED,
    STATE_ZH,
    STEP_ZH,
    CaseState,
    Rule,
    Step,
    next_state,
    require_recovery,
    require_text,
    rule_of,
    rules,
)
from hpf.inspection.tables import inspection_case, inspection_case_step, inspection_finding, inspection_run
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.policy.queries import policy_at, withdrawal_policy_at

SCAN_ROLE = "system"  # the audit log's role of the scan itself
FactValue = str | int | None  # a fact as stored: codes, ids and dates as text, amounts in fen
Facts = dict[str, FactValue]


@dataclass(frozen=True)
class ScanFinding:
    """One finding of a run: the rule, the object it names, and the facts the rule read."""

    rule: str
    object: str
    severity: str
    facts: Facts
    case_id: int

    def to_json(self) -> Facts:
        """The ``--json`` line: ``{"rule", "object", "severity", "case", **facts}``."""
        return {"rule": self.rule, "object": self.object, "severity": self.severity, "case": self.case_id,
                **self.facts}  # fmt: skip


@dataclass(frozen=True)
class InspectionSummary:
    """What a run found: every finding, the count per rule, the cases it opened."""

    run_id: int
    business_date: date
    findings: tuple[ScanFinding, ...]
    by_rule: Mapping[str, int]
    new_cases: int
    seconds: float
    rule_seconds: Mapping[str, float] = field(default_factory=dict)


def limits_at(conn: Connection, at: date) -> Limits:
    """The policy values the rules compare against, in force on ``at``."""
    policy, withdrawal = policy_at(conn, at), withdrawal_policy_at(conn, at)
    return Limits(
        base_floor_fen=policy.base_floor_fen,
        base_cap_fen=policy.base_cap_fen,
        employer_rate_min=policy.employer_rate_min,
        employer_rate_max=policy.employer_rate_max,
        member_rate_min=policy.member_rate_min,
        member_rate_max=policy.member_rate_max,
        rent_monthly_cap_fen=withdrawal.rent_monthly_cap_fen,
    )


def _json(value: Any) -> FactValue:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 0.1300 (PostgreSQL) and 0.13 (SQLite) read alike
    if value is None or isinstance(value, str | int):
        return value
    return str(value)


@dataclass(frozen=True)
class Found:
    """What a rule's statement answered about one object: its identifier and the facts read."""

    object: str
    facts: Facts


def find(conn: Connection, at: date, chosen: Sequence[Rule] | None = None) -> dict[str, list[Found]]:
    """Each rule's findings on ``at``, one per object (the last row of a rule that reports an
    object twice wins), by object. Reads only."""
    limits = limits_at(conn, at)
    found: dict[str, list[Found]] = {}
    for rule in chosen or rules():
        by_object: dict[str, Found] = {}
        for row in conn.execute(FINDERS[rule.id](rule, at, limits)).mappings():
            obj = str(row["object"])
            by_object[obj] = Found(obj, {k: _json(v) for k, v in row.items() if k != "object"})
        found[rule.id] = [by_object[k] for k in sorted(by_object)]
    return found


def scan(engine: Engine, *, at: date, ctx: Context | None = None) -> InspectionSummary:
    """Run the whole pack over the center as of ``at``; store the run, findings and new cases."""
    ctx = ctx or Context(actor="inspection", clock=FixedClock(at), center_code="", source="inspection")
    started, clock = ctx.clock.now(), time.perf_counter()
    with write_transaction(engine) as conn:
        found: dict[str, list[Found]] = {}
        took: dict[str, float] = {}
        for rule in rules():
            t0 = time.perf_counter()
            found |= find(conn, at, [rule])
            took[rule.id] = round(time.perf_counter() - t0, 3)
        return _store(conn, ctx, at, started, found, took, clock)


def _store(
    conn: Connection, ctx: Context, at: date, started: datetime, found: dict[str, list[Found]],
    took: dict[str, float], clock: float,
) -> InspectionSummary:  # fmt: skip
    by_rule = {rule_id: len(rows) for rule_id, rows in found.items()}
    run_id = conn.execute(
        insert(inspection_run).returning(inspection_run.c.id),
        {"business_date": at, "started_at": started, "finished_at": ctx.clock.now(), "actor": ctx.actor[:64],
         "findings": sum(by_rule.values()), "new_cases": 0, "by_rule": by_rule},
    ).scalar_one()  # fmt: skip
    rows = [
        {"run_id": run_id, "rule": rule_id, "object": r.object, "facts": r.facts}
        for rule_id, found_rows in found.items()
        for r in found_rows
    ]  # fmt: skip
    if rows:
        conn.execute(insert(inspection_finding), rows)
    cases = _cases_of(conn, [(r["rule"], r["object"]) for r in rows])
    fresh = [(r["rule"], r["object"]) for r in rows if (r["rule"], r["object"]) not in cases]
    for rule_id, obj in fresh:
        cases[(rule_id, obj)] = _open_case(conn, ctx, run_id, rule_id, obj)
    seen = [cases[(r["rule"], r["object"])] for r in rows]
    for chunk in range(0, len(seen), 1000):
        conn.execute(
            update(inspection_case)
            .where(inspection_case.c.id.in_(seen[chunk : chunk + 1000]))
            .values(last_run_id=run_id)
        )
    conn.execute(update(inspection_run).where(inspection_run.c.id == run_id).values(new_cases=len(fresh)))
    trail.append(
        conn, ctx, role=SCAN_ROLE, source_ip=None, action="inspection.scan", object_type="inspection_run",
        object_id=run_id, purpose="电子稽查", detail={"findings": len(rows), "new_cases": len(fresh)},
    )  # fmt: skip
    events.record(conn, ctx, "inspection_run.finished", "inspection_run", run_id,
                  {"business_date": at, "findings": len(rows), "new_cases": len(fresh), "by_rule": by_rule})  # fmt: skip
    severity = {rule.id: rule.severity.value for rule in rules()}
    findings = tuple(
        ScanFinding(r["rule"], r["object"], severity[r["rule"]], r["facts"], cases[(r["rule"], r["object"])])
        for r in rows
    )
    return InspectionSummary(
        int(run_id), at, findings, by_rule, len(fresh), round(time.perf_counter() - clock, 3), took
    )


def _cases_of(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The ids of the cases that exist for these (rule, object) pairs."""
    found: dict[tuple[str, str], int] = {}
    by_rule: dict[str, list[str]] = {}
    for rule_id, obj in keys:
        by_rule.setdefault(rule_id, []).append(obj)
    c = inspection_case.c
    for rule_id, objects in by_rule.items():
        for start in range(0, len(objects), 1000):
            for case_id, obj in conn.execute(
                select(c.id, c.object).where(c.rule == rule_id, c.object.in_(objects[start : start + 1000]))
            ):
                found[(rule_id, str(obj))] = int(case_id)
    return found


def _open_case(conn: Connection, ctx: Context, run_id: int, rule_id: str, obj: str) -> int:
    case_id = int(
        conn.execute(
            insert(inspection_case).returning(inspection_case.c.id),
            {"rule": rule_id, "object": obj, "state": CaseState.OPEN.value, "opened_run_id": run_id,
             "last_run_id": run_id, "opened_on": ctx.clock.today(), "version": 1},
        ).scalar_one()
    )  # fmt: skip
    _step(conn, ctx, case_id, Step.OPENED, role=SCAN_ROLE, state=CaseState.OPEN, rule_id=rule_id, obj=obj)
    return case_id


def _step(
    conn: Connection, ctx: Context, case_id: int, step: Step, *, role: str, state: CaseState, rule_id: str,
    obj: str, note: str | None = None, assignee: str | None = None, amount_fen: int | None = None,
) -> None:  # fmt: skip
    """The step's row, its audit-log row and its business event, in the caller's transaction."""
    conn.execute(
        insert(inspection_case_step),
        {"case_id": case_id, "step": step.value, "business_date": ctx.clock.today(),
         "recorded_at": ctx.clock.now(), "actor": ctx.actor[:64], "note": note, "assignee": assignee,
         "amount_fen": amount_fen},
    )  # fmt: skip
    detail: dict[str, Any] = {"rule": rule_id, "object": obj, "state": state.value}
    if assignee is not None:
        detail["assignee"] = assignee
    if amount_fen is not None:
        detail["recover_fen"] = amount_fen
    trail.append(
        conn, ctx, role=role, source_ip=None, action=f"inspection.case.{step.value}",
        object_type="inspection_case", object_id=case_id, purpose=f"电子稽查：{STEP_ZH[step]}", detail=detail,
    )  # fmt: skip
    events.record(conn, ctx, f"inspection_case.{step.value}", "inspection_case", case_id, detail)


# ------------------------------------------------------------------------------ case steps


def _locked(conn: Connection, case_id: int) -> Any:
    row = conn.execute(
        select(inspection_case).where(inspection_case.c.id == case_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound("inspection.case_not_found", "稽查案件不存在", f"no case {case_id}")
    return row


def _move(
    conn: Connection, ctx: Context, case_id: int, step: Step, role: str, version: int | None,
    values: dict[str, Any], note: str | None = None, assignee: str | None = None, amount_fen: int | None = None,
) -> None:  # fmt: skip
    row = _locked(conn, case_id)
    if version is not None and version != row.version:
        raise Conflict(
            "inspection.case_changed",
            "案件已被他人更新，请刷新后重试",
            f"case {case_id} is at version {row.version}, not {version}",
            version=row.version,
        )
    state = next_state(CaseState(row.state), step)
    conn.execute(
        update(inspection_case)
        .where(inspection_case.c.id == case_id)
        .values(state=state.value, version=row.version + 1, **values)
    )
    _step(conn, ctx, case_id, step, role=role, state=state, rule_id=row.rule, obj=row.object, note=note,
          assignee=assignee, amount_fen=amount_fen)  # fmt: skip


def assign(
    conn: Connection, ctx: Context, case_id: int, assignee: str, *, role: str, version: int | None = None
) -> None:
    """Give the case to an auditor (by login); a concluded case is not re-assigned."""
    login = require_text(assignee, "assignee", "承办人", limit=64).lower()
    _move(conn, ctx, case_id, Step.ASSIGNED, role, version, {"assignee": login}, assignee=login)


def note(
    conn: Connection, ctx: Context, case_id: int, text: str, *, role: str, version: int | None = None
) -> None:
    """An investigation note (调查记录): the case is under investigation."""
    _move(conn, ctx, case_id, Step.NOTED, role, version, {}, note=require_text(text, "note", "调查记录"))


def confirm(
    conn: Connection, ctx: Context, case_id: int, recover_fen: object, conclusion: str, *, role: str,
    version: int | None = None,
) -> None:  # fmt: skip
    """Conclude: the finding is a breach; ``recover_fen`` is the money to recover (0 if none)."""
    amount = require_recovery(recover_fen)
    reason = require_text(conclusion, "conclusion", "认定意见")
    values = {"recover_fen": amount, "conclusion": reason, "concluded_on": ctx.clock.today()}
    _move(conn, ctx, case_id, Step.CONFIRMED, role, version, values, note=reason, amount_fen=amount)


def clear(
    conn: Connection, ctx: Context, case_id: int, reason: str, *, role: str, version: int | None = None
) -> None:
    """Conclude: the finding is explained (排除), with the reason."""
    text = require_text(reason, "reason", "排除理由")
    values = {"recover_fen": None, "conclusion": text, "concluded_on": ctx.clock.today()}
    _move(conn, ctx, case_id, Step.CLEARED, role, version, values, note=text)


# ----------------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class CaseRow:
    id: int
    rule: str
    rule_title_zh: str
    severity: str
    object_kind: str
    object: str
    state: str
    state_zh: str
    opened_on: date
    assignee: str | None
    recover_fen: int | None
    version: int


@dataclass(frozen=True)
class RuleCount:
    rule: str
    title_zh: str
    severity: str
    open: int  # not concluded
    confirmed: int
    cleared: int


@dataclass(frozen=True)
class CaseStepRow:
    step: str
    step_zh: str
    business_date: date
    recorded_at: datetime
    actor: str
    note: str | None
    assignee: str | None
    amount_fen: int | None


@dataclass(frozen=True)
class CaseDetail:
    case: CaseRow
    action_zh: str
    conclusion: str | None
    concluded_on: date | None
    last_seen_on: date
    still_found: bool  # the latest run found it again
    facts: Facts
    steps: tuple[CaseStepRow, ...]


def _case_row(r: Any) -> CaseRow:
    rule = rule_of(r.rule)
    state = CaseState(r.state)
    return CaseRow(
        id=int(r.id), rule=r.rule, rule_title_zh=rule.title_zh, severity=rule.severity.value,
        object_kind=rule.object, object=r.object, state=state.value, state_zh=STATE_ZH[state],
        opened_on=r.opened_on, assignee=r.assignee, recover_fen=r.recover_fen, version=int(r.version),
    )  # fmt: skip


STATE_FILTERS = (*(s.value for s in CaseState), "active", "concluded")


def checked_state(state: str | None) -> str | None:
    """A case-state filter: a state, ``active`` (not concluded) or ``concluded``; refused otherwise."""
    if state in (None, ""):
        return None
    if state not in STATE_FILTERS:
        raise InvalidInput(
            "inspection.state_filter", "案件状态筛选条件无效", f"state {state!r}", field="state"
        )
    return state


def list_cases(
    conn: Connection, *, rule: str | None = None, state: str | None = None, assignee: str | None = None,
    limit: int = 50, offset: int = 0,
) -> list[CaseRow]:  # fmt: skip
    """Cases, newest first, filtered by rule, state (``concluded``: either conclusion) and assignee."""
    c = inspection_case.c
    stmt = select(inspection_case).order_by(c.id.desc()).limit(limit).offset(offset)
    if rule:
        stmt = stmt.where(c.rule == rule_of(rule).id)
    state = checked_state(state)
    if state == "concluded":
        stmt = stmt.where(c.state.in_([s.value for s in CONCLUDED]))
    elif state == "active":
        stmt = stmt.where(c.state.not_in([s.value for s in CONCLUDED]))
    elif state:
        stmt = stmt.where(c.state == CaseState(state).value)
    if assignee:
        stmt = stmt.where(c.assignee == assignee.lower())
    return [_case_row(r) for r in conn.execute(stmt)]


def counts_by_rule(conn: Connection) -> list[RuleCount]:
    """Every rule of the pack with its cases: not concluded, confirmed, cleared (counted in SQL)."""
    c = inspection_case.c
    counts: dict[tuple[str, str], int] = {
        (r.rule, r.state): int(r.n)
        for r in conn.execute(select(c.rule, c.state, func.count().label("n")).group_by(c.rule, c.state))
    }
    out = []
    for rule in rules():
        confirmed = counts.get((rule.id, CaseState.CONFIRMED.value), 0)
        cleared = counts.get((rule.id, CaseState.CLEARED.value), 0)
        total = sum(n for (rule_id, _), n in counts.items() if rule_id == rule.id)
        out.append(
            RuleCount(
                rule.id, rule.title_zh, rule.severity.value, total - confirmed - cleared, confirmed, cleared
            )
        )
    return out


def case_detail(conn: Connection, case_id: int) -> CaseDetail:
    row = conn.execute(select(inspection_case).where(inspection_case.c.id == case_id)).first()
    if row is None:
        raise NotFound("inspection.case_not_found", "稽查案件不存在", f"no case {case_id}")
    f, run = inspection_finding.c, inspection_run.c
    facts = conn.execute(
        select(f.facts).where(f.rule == row.rule, f.object == row.object).order_by(f.id.desc()).limit(1)
    ).scalar()
    seen_on: date = conn.execute(select(run.business_date).where(run.id == row.last_run_id)).scalar_one()
    latest = conn.scalar(select(func.max(run.id)))
    s = inspection_case_step.c
    steps = tuple(
        CaseStepRow(
            r.step,
            STEP_ZH[Step(r.step)],
            r.business_date,
            r.recorded_at,
            r.actor,
            r.note,
            r.assignee,
            r.amount_fen,
        )
        for r in conn.execute(select(inspection_case_step).where(s.case_id == case_id).order_by(s.id))
    )
    return CaseDetail(
        case=_case_row(row), action_zh=rule_of(row.rule).action_zh, conclusion=row.conclusion,
        concluded_on=row.concluded_on, last_seen_on=seen_on, still_found=latest == row.last_run_id,
        facts=dict(facts or {}), steps=steps,
    )  # fmt: skip


@dataclass(frozen=True)
class RunRow:
    id: int
    business_date: date
    finished_at: datetime
    actor: str
    findings: int
    new_cases: int


def latest_runs(conn: Connection, limit: int = 10) -> list[RunRow]:
    r = inspection_run.c
    return [
        RunRow(int(x.id), x.business_date, x.finished_at, x.actor, int(x.findings), int(x.new_cases))
        for x in conn.execute(
            select(r.id, r.business_date, r.finished_at, r.actor, r.findings, r.new_cases)
            .order_by(r.id.desc())
            .limit(limit)
        )
    ]
