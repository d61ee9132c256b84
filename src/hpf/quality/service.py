"""The data quality scan, its scores and trend, and the correction workflow (decision 0032).

:func:`scan` runs the rules (all, or one re-scanned) over the whole center in one write
transaction: each check's failing objects go into ``quality_hit`` with ``INSERT … SELECT`` (the
decrypting checks insert their chunks' failures), its counts into ``quality_score``; then the
findings are merged set-based — new ``(rule, object)`` pairs become findings, those seen again
keep their identity (``last_seen_run_id``), those that a rule checked and no longer sees are
marked passed, closed ones seen again are reopened — each change a row of the finding's history.

A finding is worked by data stewards (``data:quality``): assigned, annotated, its fix proposed
through the owning service (a member's birth date or sex: the maker-checker kind
``member.identity``, carried out by ``hpf.accounts.service.correct_member_identity``), re-scanned
(its rule over the whole center) and closed — only once a run later than the last that saw it
checked the rule and did not see it. Every step is a history row with who and when; over HTTP
the unit of work writes its audit row too, and the scan writes its own (``data.quality.scan``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from hpf.access.permissions import Perm, Principal
from hpf.approvals import service as approvals
from hpf.audit import trail
from hpf.db.engine import write_transaction
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.quality import checks
from hpf.quality.rules import Dimension, Rule, load, rule_of
from hpf.quality.tables import quality_finding, quality_finding_event, quality_hit, quality_run, quality_score

ALL = "all"
ACTION_ZH = {
    "found": "发现",
    "seen": "再次发现",
    "passed": "复扫通过",
    "reopened": "重新出现",
    "assigned": "指派",
    "note": "备注",
    "fix_proposed": "提出更正",
    "rescan": "复扫",
    "closed": "关闭",
}
STATE_ZH = {"open": "待处理", "assigned": "处理中", "closed": "已关闭"}


def rules() -> tuple[Rule, ...]:
    return load(checks.NAMES)


def _rule(rule_id: str) -> Rule:
    found = rule_of(rule_id, rules())
    if found is None:
        raise NotFound("quality.rule_not_found", "数据质量规则不存在", f"no quality rule {rule_id!r}")
    return found


def score_of(checked: int, failing: int) -> Decimal:
    """1 − failing/checked, to four places (half up); 1 when nothing was checked."""
    if checked <= 0:
        return Decimal(1)
    return (Decimal(1) - Decimal(failing) / Decimal(checked)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


# ------------------------------------------------------------------------------------ scan


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule_id: str
    dimension: str
    table: str
    checked: int
    failing: int
    seconds: float

    @property
    def score(self) -> Decimal:
        return score_of(self.checked, self.failing)


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """A run: its id and date, every rule's counts, the findings opened, seen again, passed."""

    run_id: int
    at: date
    scope: str
    results: tuple[RuleResult, ...]
    new: int
    passed: int
    reopened: int
    seconds: float

    @property
    def failing(self) -> int:
        return sum(r.failing for r in self.results)

    def by(self, level: str) -> dict[str, tuple[int, int]]:
        """(checked, failing) per ``dimension`` or ``table``."""
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in self.results:
            key = r.dimension if level == "dimension" else r.table
            sums[key][0] += r.checked
            sums[key][1] += r.failing
        return {k: (v[0], v[1]) for k, v in sums.items()}


def scan(
    engine: Engine,
    *,
    at: date,
    actor: str = "system",
    only: str | None = None,
    ctx: Context | None = None,
    workers: int = 1,
) -> ScanSummary:
    """Run every rule (or ``only`` that one) over the whole center as of ``at`` and store the
    run, its hits, scores and the merged findings; the run's row in the audit log when ``ctx``
    is given (the CLI, the re-scan action). ``workers`` > 1: the ID numbers are revealed and
    checked in that many forked processes (a single-threaded caller only: the CLI, a bench)."""
    with write_transaction(engine) as conn:
        summary = scan_in(conn, at=at, actor=actor, only=only, workers=workers)
        if ctx is not None:
            trail.append(
                conn, ctx, role="cli" if ctx.source == "cli" else "staff", source_ip=None,
                action="data.quality.scan", object_type="quality_run", object_id=summary.run_id,
                purpose="数据质量检查", detail={"scope": summary.scope, "failing": summary.failing},
            )  # fmt: skip
    return summary


def scan_in(
    conn: Connection,
    *,
    at: date,
    actor: str,
    only: str | None = None,
    workers: int = 1,
    objects: tuple[str, ...] | None = None,
) -> ScanSummary:
    """:func:`scan` in the caller's transaction; ``objects`` (with ``only``): re-scan the rule for
    these objects alone — a run of scope ``<rule>#`` without scores, which can mark only them
    passed (a finding's re-scan: a request need not judge the whole center)."""
    if objects is not None and only is None:
        raise InvalidInput("quality.objects_need_rule", "复扫指定对象时须指定规则", "objects need a rule")
    selected = rules() if only is None else (_rule(only),)
    started = time.perf_counter()
    now = _now()
    run_id = conn.execute(
        insert(quality_run)
        .values(
            business_date=at,
            scope=_scope(only, objects),
            actor=actor,
            started_at=now,
            rules=len(selected),
            findings=0,
        )
        .returning(quality_run.c.id)
    ).scalar_one()
    given = checks.ScanInput.of(conn, at, workers=workers, objects=objects)
    results = [_run_rule(conn, given, run_id, rule) for rule in selected]
    if objects is None:
        _store_scores(conn, run_id, results)
    new, passed, reopened = _merge(conn, run_id, [r.id for r in selected], actor, now, objects)
    conn.execute(
        update(quality_run)
        .where(quality_run.c.id == run_id)
        .values(
            finished_at=_now(),
            findings=sum(r.failing for r in results),
            seconds={r.rule_id: round(r.seconds, 3) for r in results}
            | {"decrypt": round(_decrypt_seconds(given), 3)},
        )
    )
    return ScanSummary(
        run_id, at, _scope(only, objects), tuple(results), new, passed, reopened,
        round(time.perf_counter() - started, 3),
    )  # fmt: skip


def _scope(only: str | None, objects: tuple[str, ...] | None) -> str:
    return ALL if only is None else only if objects is None else f"{only}#"


def _decrypt_seconds(given: checks.ScanInput) -> float:
    found = given.memo.get("resident_id")
    return float(found.seconds_decrypting) if found is not None else 0.0


def _now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def _run_rule(conn: Connection, given: checks.ScanInput, run_id: int, rule: Rule) -> RuleResult:
    started = time.perf_counter()
    result = checks.CHECKS[rule.check](given, rule.params)
    if isinstance(result, checks.SetCheck):
        checked = int(conn.scalar(result.checked) or 0) if given.objects is None else len(given.objects)
        failing = result.failing.subquery("failing")
        only = [failing.c.object.in_(given.objects)] if given.objects is not None else []
        # A check may name an object twice (one per failing row): one hit per object.
        conn.execute(
            insert(quality_hit).from_select(
                ["run_id", "rule_id", "object", "detail"],
                select(literal(run_id), literal(rule.id), failing.c.object, func.max(failing.c.detail))
                .where(*only)
                .group_by(failing.c.object),
            )
        )
    else:
        checked = result.checked
        seen: dict[str, str | None] = {}
        for obj, detail in result.failing:
            seen.setdefault(obj, detail)
        rows = [{"run_id": run_id, "rule_id": rule.id, "object": o, "detail": d} for o, d in seen.items()]
        for start in range(0, len(rows), 5000):
            conn.execute(insert(quality_hit), rows[start : start + 5000])
    failing_count = int(
        conn.scalar(
            select(func.count())
            .select_from(quality_hit)
            .where(quality_hit.c.run_id == run_id, quality_hit.c.rule_id == rule.id)
        )
        or 0
    )
    return RuleResult(
        rule.id, rule.dimension.value, rule.table, checked, failing_count, time.perf_counter() - started
    )


def _store_scores(conn: Connection, run_id: int, results: Sequence[RuleResult]) -> None:
    rows = [
        {"run_id": run_id, "level": "rule", "key": r.rule_id, "checked": r.checked, "failing": r.failing}
        for r in results
    ]
    for level, attr in (("table", "table"), ("dimension", "dimension")):
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in results:
            sums[getattr(r, attr)][0] += r.checked
            sums[getattr(r, attr)][1] += r.failing
        rows += [
            {"run_id": run_id, "level": level, "key": k, "checked": c, "failing": f}
            for k, (c, f) in sums.items()
        ]
    conn.execute(insert(quality_score), rows)


def _history_from(conn: Connection, run_id: int, action: str, actor: str, now: datetime, where: Any) -> None:
    """One history row per finding matching ``where``, set-based."""
    f = quality_finding
    conn.execute(
        insert(quality_finding_event).from_select(
            ["finding_id", "run_id", "action", "actor", "at"],
            select(
                f.c.id,
                literal(run_id),
                literal(action),
                literal(actor),
                literal(now, quality_run.c.started_at.type),
            ).where(where),
        )
    )


def _merge(
    conn: Connection,
    run_id: int,
    rule_ids: list[str],
    actor: str,
    now: datetime,
    objects: tuple[str, ...] | None = None,
) -> tuple[int, int, int]:
    """Findings from this run's hits: new, seen again (closed or passed ones reopened), passed."""
    f, h = quality_finding, quality_hit
    hit_now = exists().where(h.c.run_id == run_id, h.c.rule_id == f.c.rule_id, h.c.object == f.c.object)
    # Seen again after passing or closing: reopened, its identity kept.
    back = and_(hit_now, or_(f.c.state == "closed", f.c.passed_run_id.is_not(None)))
    reopened = int(conn.scalar(select(func.count()).select_from(f).where(back)) or 0)
    if reopened:
        _history_from(conn, run_id, "reopened", actor, now, back)
        conn.execute(
            update(f)
            .where(back)
            .values(
                state=func.coalesce(func.nullif(f.c.state, "closed"), "open"),
                passed_run_id=None,
                closed_at=None,
                version=f.c.version + 1,
            )
        )
    # Still there: last seen now, with this run's detail.
    detail = (
        select(h.c.detail)
        .where(h.c.run_id == run_id, h.c.rule_id == f.c.rule_id, h.c.object == f.c.object)
        .scalar_subquery()
    )
    conn.execute(update(f).where(hit_now).values(last_seen_run_id=run_id, detail=detail))
    # New pairs.
    known = exists().where(f.c.rule_id == h.c.rule_id, f.c.object == h.c.object)
    conn.execute(
        insert(f).from_select(
            ["rule_id", "object", "first_run_id", "last_seen_run_id", "detail", "state", "version"],
            select(
                h.c.rule_id, h.c.object, h.c.run_id, h.c.run_id, h.c.detail, literal("open"), literal(1)
            ).where(h.c.run_id == run_id, ~known),
        )
    )
    new = int(conn.scalar(select(func.count()).select_from(f).where(f.c.first_run_id == run_id)) or 0)
    _history_from(conn, run_id, "found", actor, now, f.c.first_run_id == run_id)
    # Checked by this run and not seen: passed (closable).
    gone = and_(
        f.c.rule_id.in_(rule_ids),
        f.c.state != "closed",
        f.c.passed_run_id.is_(None),
        f.c.last_seen_run_id < run_id,
        ~hit_now,
        *([f.c.object.in_(objects)] if objects is not None else []),
    )
    passed = int(conn.scalar(select(func.count()).select_from(f).where(gone)) or 0)
    if passed:
        _history_from(conn, run_id, "passed", actor, now, gone)
        conn.execute(update(f).where(gone).values(passed_run_id=run_id, version=f.c.version + 1))
    return new, passed, reopened


# ------------------------------------------------------------------------------ reads


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: int
    business_date: date
    scope: str
    actor: str
    started_at: datetime
    findings: int


@dataclass(frozen=True, slots=True)
class ScoreRow:
    level: str
    key: str
    label_zh: str
    checked: int
    failing: int
    score: Decimal
    trend: tuple[tuple[int, str, Decimal], ...]  # (run id, business date, score) of full runs, oldest first


@dataclass(frozen=True, slots=True)
class ScoreCard:
    run: RunInfo | None
    dimensions: tuple[ScoreRow, ...]
    tables: tuple[ScoreRow, ...]
    rules: tuple[ScoreRow, ...]
    open_findings: Mapping[str, int]  # rule id → findings not closed


def _run_info(row: Any) -> RunInfo:
    return RunInfo(row.id, row.business_date, row.scope, row.actor, row.started_at, row.findings)


def latest_run(conn: Connection) -> RunInfo | None:
    row = conn.execute(
        select(quality_run).where(quality_run.c.scope == ALL).order_by(quality_run.c.id.desc()).limit(1)
    ).first()
    return None if row is None else _run_info(row)


def _label(level: str, key: str) -> str:
    if level == "dimension":
        return Dimension(key).label_zh
    if level == "table":
        from hpf.quality.rules import TABLE_ZH

        return TABLE_ZH.get(key, key)
    found = rule_of(key, rules())
    return found.title_zh if found else key


def scorecard(conn: Connection, *, runs: int = 12) -> ScoreCard:
    """The latest full run's scores by dimension, table and rule, each with its trend over the
    last ``runs`` full runs."""
    latest = latest_run(conn)
    if latest is None:
        return ScoreCard(None, (), (), (), {})
    recent = conn.execute(
        select(quality_run.c.id, quality_run.c.business_date)
        .where(quality_run.c.scope == ALL)
        .order_by(quality_run.c.id.desc())
        .limit(runs)
    ).all()
    dates = {r.id: r.business_date for r in recent}
    rows = conn.execute(select(quality_score).where(quality_score.c.run_id.in_(list(dates)))).all()
    trend: dict[tuple[str, str], list[tuple[int, str, Decimal]]] = defaultdict(list)
    current: dict[tuple[str, str], tuple[int, int]] = {}
    for r in rows:
        trend[(r.level, r.key)].append(
            (r.run_id, dates[r.run_id].isoformat(), score_of(r.checked, r.failing))
        )
        if r.run_id == latest.id:
            current[(r.level, r.key)] = (r.checked, r.failing)
    order = {rule.id: i for i, rule in enumerate(rules())}

    def level(name: str) -> tuple[ScoreRow, ...]:
        keys = [k for (lv, k) in current if lv == name]
        if name == "rule":
            keys.sort(key=lambda k: order.get(k, 999))
        elif name == "dimension":
            keys.sort(key=lambda k: list(Dimension).index(Dimension(k)))
        else:
            keys.sort()
        return tuple(
            ScoreRow(
                name,
                k,
                _label(name, k),
                *current[(name, k)],
                score_of(*current[(name, k)]),
                tuple(sorted(trend[(name, k)])),
            )
            for k in keys
        )

    counts = conn.execute(
        select(quality_finding.c.rule_id, func.count())
        .where(quality_finding.c.state != "closed", quality_finding.c.passed_run_id.is_(None))
        .group_by(quality_finding.c.rule_id)
    ).all()
    return ScoreCard(
        latest, level("dimension"), level("table"), level("rule"), {k: int(n) for k, n in counts}
    )


@dataclass(frozen=True, slots=True)
class FindingView:
    id: int
    rule_id: str
    object: str
    detail: str | None
    state: str
    state_zh: str
    assignee: str | None
    first_run_id: int
    last_seen_run_id: int
    passed_run_id: int | None
    closable: bool
    version: int


def _view(row: Any) -> FindingView:
    closable = row.state != "closed" and row.passed_run_id is not None
    return FindingView(
        row.id, row.rule_id, row.object, row.detail, row.state, STATE_ZH[row.state], row.assignee,
        row.first_run_id, row.last_seen_run_id, row.passed_run_id, closable, row.version,
    )  # fmt: skip


def findings(
    conn: Connection, rule_id: str, *, state: str | None = None, limit: int = 100, offset: int = 0
) -> list[FindingView]:
    """A rule's findings, oldest first; ``state``: open, assigned, closed, or ``passed`` (not
    closed, its rule passed since)."""
    _rule(rule_id)
    f = quality_finding
    query = select(f).where(f.c.rule_id == rule_id)
    if state == "passed":
        query = query.where(f.c.state != "closed", f.c.passed_run_id.is_not(None))
    elif state in STATE_ZH:
        query = query.where(f.c.state == state)
    elif state:
        raise InvalidInput("quality.state", "状态筛选条件无效", f"state {state!r}", field="state")
    rows = conn.execute(query.order_by(f.c.id).limit(limit).offset(offset)).all()
    return [_view(r) for r in rows]


def current_findings(conn: Connection, run_id: int | None = None) -> list[tuple[str, str, str | None]]:
    """(rule, object, detail) of everything the run found (default: the latest full run)."""
    if run_id is None:
        latest = latest_run(conn)
        if latest is None:
            return []
        run_id = latest.id
    h = quality_hit
    rows = conn.execute(
        select(h.c.rule_id, h.c.object, h.c.detail)
        .where(h.c.run_id == run_id)
        .order_by(h.c.rule_id, h.c.object)
    ).all()
    return [(r.rule_id, r.object, r.detail) for r in rows]


@dataclass(frozen=True, slots=True)
class HistoryStep:
    action: str
    action_zh: str
    actor: str
    at: datetime
    run_id: int | None
    note: str | None
    details: Mapping[str, Any] | None


def get_finding(conn: Connection, finding_id: int) -> FindingView:
    row = conn.execute(select(quality_finding).where(quality_finding.c.id == finding_id)).first()
    if row is None:
        raise NotFound("quality.finding_not_found", "发现项不存在", f"no finding {finding_id}")
    return _view(row)


def finding_history(conn: Connection, finding_id: int) -> list[HistoryStep]:
    get_finding(conn, finding_id)
    e = quality_finding_event
    rows = conn.execute(select(e).where(e.c.finding_id == finding_id).order_by(e.c.id)).all()
    return [
        HistoryStep(
            r.action, ACTION_ZH.get(r.action, r.action), r.actor, _aware(r.at), r.run_id, r.note, r.details
        )
        for r in rows
    ]


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- the workflow


def _event(
    conn: Connection,
    ctx: Context,
    finding_id: int,
    action: str,
    *,
    note: str | None = None,
    details: Mapping[str, Any] | None = None,
    run_id: int | None = None,
) -> None:
    conn.execute(
        insert(quality_finding_event).values(
            finding_id=finding_id, run_id=run_id, action=action, actor=ctx.actor, at=ctx.clock.now(),
            note=note, details=dict(details) if details else None,
        )
    )  # fmt: skip


def _open_finding(conn: Connection, finding_id: int) -> FindingView:
    found = get_finding(conn, finding_id)
    if found.state == "closed":
        raise Conflict("quality.finding_closed", "发现项已关闭", f"finding {finding_id} is closed")
    return found


def _note_text(note: str | None, *, required: bool = False) -> str | None:
    text = " ".join((note or "").split())[:400]
    if required and not text:
        raise InvalidInput("quality.note_required", "请填写说明", "a note is required", field="note")
    return text or None


def assign(
    conn: Connection, ctx: Context, finding_id: int, assignee: str, note: str | None = None
) -> FindingView:
    """Give the finding to a staff member (a login); open → assigned."""
    _open_finding(conn, finding_id)
    who = " ".join(assignee.split())[:64]
    if not who:
        raise InvalidInput(
            "quality.assignee_required", "请指定处理人", "assignee is required", field="assignee"
        )
    conn.execute(
        update(quality_finding)
        .where(quality_finding.c.id == finding_id)
        .values(state="assigned", assignee=who, version=quality_finding.c.version + 1)
    )
    _event(conn, ctx, finding_id, "assigned", note=_note_text(note), details={"assignee": who})
    return get_finding(conn, finding_id)


def add_note(conn: Connection, ctx: Context, finding_id: int, note: str) -> FindingView:
    get_finding(conn, finding_id)
    _event(conn, ctx, finding_id, "note", note=_note_text(note, required=True))
    return get_finding(conn, finding_id)


IDENTITY_RULES = {"Q-CON-ID-BIRTH": "birth_date", "Q-CON-ID-SEX": "gender"}


def propose_identity_fix(
    conn: Connection, ctx: Context, maker: Principal, finding_id: int, value: str, note: str | None = None
) -> approvals.ApprovalRequest:
    """A finding of a member's birth date or sex against the ID number: propose the correction
    (maker-checker kind ``member.identity``; the accounts service checks the value against the ID
    number and writes the account's history when a second steward approves)."""
    found = _open_finding(conn, finding_id)
    fieldname = IDENTITY_RULES.get(found.rule_id)
    if fieldname is None:
        raise InvalidInput(
            "quality.fix_not_here",
            "该规则的发现项须在其业务页面更正",
            f"findings of {found.rule_id} are fixed through {_rule(found.rule_id).fix_service}",
        )
    reason = f"数据质量更正（发现项 {finding_id}，规则 {found.rule_id}）"
    if note := _note_text(note):
        reason = f"{reason}：{note}"[:200]
    request = approvals.submit(
        conn, ctx, maker, approvals.MEMBER_IDENTITY,
        {"account_no": found.object, "changes": {fieldname: value}, "reason": reason},
        f"更正个人账户 {found.object} 的{'出生日期' if fieldname == 'birth_date' else '性别'}（数据质量发现项 {finding_id}）",
    )  # fmt: skip
    _event(conn, ctx, finding_id, "fix_proposed", note=note, details={"approval_request": request.id})
    return request


def record_rescan(conn: Connection, ctx: Context, finding_id: int, summary: ScanSummary) -> FindingView:
    """The history row of a re-scan asked from the finding (the scan itself: :func:`scan`)."""
    found = get_finding(conn, finding_id)
    _event(
        conn, ctx, finding_id, "rescan", run_id=summary.run_id,
        details={"passed": found.passed_run_id is not None and found.passed_run_id >= summary.run_id},
    )  # fmt: skip
    return get_finding(conn, finding_id)


def rescan_in(conn: Connection, ctx: Context, finding_id: int) -> FindingView:
    """Re-run the finding's rule for its object alone, in the caller's transaction (the
    request's unit of work), and record it on the finding."""
    found = _open_finding(conn, finding_id)
    summary = scan_in(
        conn, at=ctx.clock.today(), actor=ctx.actor, only=found.rule_id, objects=(found.object,)
    )
    return record_rescan(conn, ctx, finding_id, summary)


def close(conn: Connection, ctx: Context, finding_id: int, note: str | None = None) -> FindingView:
    """Close the finding: only when a run later than the last that saw it checked its rule and
    did not see it (the rule passes for the object)."""
    found = _open_finding(conn, finding_id)
    if found.passed_run_id is None:
        raise Conflict(
            "quality.not_passed",
            "规则对该对象尚未通过复扫，不能关闭",
            f"finding {finding_id}: no run since run {found.last_seen_run_id} passed rule {found.rule_id}",
        )
    done = conn.execute(
        update(quality_finding)
        .where(quality_finding.c.id == finding_id, quality_finding.c.version == found.version)
        .values(state="closed", closed_at=ctx.clock.now(), version=quality_finding.c.version + 1)
    )
    if done.rowcount != 1:
        raise Conflict(
            "quality.concurrent_update", "发现项已被他人处理，请刷新后重试", f"finding {finding_id} changed"
        )
    _event(conn, ctx, finding_id, "closed", note=_note_text(note), run_id=found.passed_run_id)
    return get_finding(conn, finding_id)


def may_work(principal: Principal) -> bool:
    return principal.may(Perm.DATA_QUALITY)
