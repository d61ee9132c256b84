"""Problems to closure at the hub (decision 0040, issue 15 item 4).

A problem's life, every step a ``hub_problem_step`` row::

    found ──dispatch──▶ dispatched ──(center: accepted)──▶ rectifying
      ──(center: submitted, with evidence)──▶ submitted ──review: passes──▶ reviewed
      ──verify (another supervisor)──▶ closed
    submitted / reviewed ──send back──▶ rectifying (the center rectifies again)

The reporting run finds problems (``hpf.hub.supervision.run``) and dispatches them at once with
a deadline (working days from the policy); a supervisor may also dispatch a found problem by
hand. Each hub step that concerns the center goes to it as a signed ``SUP201`` (dispatched, sent
back, closed, overdue); the center's steps come as ``SUP202`` (:func:`take_report`), only from
the problem's own center and only in the right state. The supervisor who reviewed a
rectification cannot also verify it. :func:`flag_overdue` marks every problem past its deadline
and not yet submitted (once: ``overdue_on`` stays, the step and the notice are sent once).
A supervisor acts only on the centers of their scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update

from hpf.db.upsert import insert_new
from hpf.hub import registry, service
from hpf.hub.supervision import rules
from hpf.hub.supervision.scope import Supervisor, forbidden, require_covers
from hpf.hub.supervision.tables import hub_problem, hub_problem_step
from hpf.kernel.errors import Conflict, IllegalTransition, NotFound
from hpf.kernel.workdays import add_working_days
from hpf.messages import errors, protocol
from hpf.messages.bodies import Body, ProblemNotice, ProblemReport
from hpf.messages.envelope import Envelope

NOTICE = "SUP201"
REPORT = "SUP202"
SYSTEM = "system"
STATE_ZH = {
    "found": "已发现", "dispatched": "已交办", "rectifying": "整改中", "submitted": "已报送整改",
    "reviewed": "初审通过", "closed": "已销号",
}  # fmt: skip
STEP_ZH = {
    "found": "发现", "dispatched": "交办", "accepted": "中心接收", "submitted": "报送整改",
    "reviewed": "初审通过", "sent_back": "退回重改", "closed": "复核销号", "overdue": "逾期",
}  # fmt: skip
OPEN = ("dispatched", "rectifying")
EVENT_RULE_CODES = frozenset(
    rule for rule, _ in rules.EVENT_RULES.values()
)  # their subject is a reference  # the center owes a rectification


def send_to_center(
    conn: Connection, hub: service.Hub, center: str, message_type: str, body: Body, now: datetime
) -> str:
    """A hub-originated message to a center, queued in the hub's outbox (sealed to the center)."""
    found = registry.center_of(conn, center)
    if found is None:
        raise errors.recipient_unknown(center)
    envelope = protocol.compose(
        hub.keys, sender=hub.code, recipient=center, recipient_encrypt_key=bytes.fromhex(found.encrypt_key),
        message_type=message_type, body=body, now=now,
    )  # fmt: skip
    service.store_message(conn, envelope, route="origin", state="queued", now=now)
    return str(envelope.message_id)


def _step(
    conn: Connection, problem_id: int, step: str, state: str, actor: str, now: datetime, *,
    note: str = "", evidence: list[dict[str, Any]] | None = None, message_id: str | None = None,
) -> None:  # fmt: skip
    conn.execute(
        insert(hub_problem_step).values(
            problem_id=problem_id, step=step, state=state, actor=actor, note=note[:500],
            evidence=evidence, message_id=message_id, at=now,
        )
    )  # fmt: skip


def raise_problem(
    conn: Connection, *, center: str, month: str, rule: str, subject: str, value: str | None,
    title_zh: str, detail_zh: str, now: datetime,
) -> int | None:  # fmt: skip
    """A problem found; None when the same (center, month, rule, subject) was found before (a
    reporting run repeated, a restated month: one problem, not two)."""
    taken = insert_new(
        conn,
        hub_problem,
        {
            "center": center, "month": month, "rule": rule, "subject": subject, "value": value,
            "title_zh": title_zh[:200], "detail_zh": detail_zh[:500], "state": "found",
            "found_at": now, "updated_at": now,
        },
    )  # fmt: skip
    if not taken:
        return None
    p = hub_problem.c
    problem_id = int(
        conn.execute(
            select(p.id).where(p.center == center, p.month == month, p.rule == rule, p.subject == subject)
        ).scalar_one()
    )
    _step(conn, problem_id, "found", "found", SYSTEM, now, note=detail_zh)
    return problem_id


def _row(conn: Connection, problem_id: int) -> Any:
    row = conn.execute(select(hub_problem).where(hub_problem.c.id == problem_id)).first()
    if row is None:
        raise NotFound("supervision.problem_unknown", "问题不存在", f"no problem {problem_id}")
    return row


NoticeStep = Literal["dispatched", "sent_back", "closed", "overdue"]


def _notice(row: Any, step: NoticeStep, note: str = "") -> ProblemNotice:
    return ProblemNotice(
        problem_ref=int(row.id), step=step, month=row.month, rule=row.rule, title_zh=row.title_zh,
        detail_zh=row.detail_zh, indicator=None if row.rule in EVENT_RULE_CODES else row.subject,
        value=row.value, deadline=row.deadline, note=note[:500],
    )  # fmt: skip


def _move(
    conn: Connection, problem_id: int, frm: tuple[str, ...], to: str, now: datetime, **values: Any
) -> None:
    p = hub_problem.c
    moved = conn.execute(
        update(hub_problem)
        .where(p.id == problem_id, p.state.in_(frm))
        .values(state=to, updated_at=now, **values)
    ).rowcount
    if moved != 1:
        raise IllegalTransition(
            "supervision.problem_state", "问题当前状态不能办理此步骤",
            f"problem {problem_id} is not in {', '.join(frm)}",
        )  # fmt: skip


def dispatch(
    conn: Connection, hub: service.Hub, problem_id: int, actor: Supervisor | None, today: date,
    now: datetime, *, working_days: int, note: str = "",
) -> date:  # fmt: skip
    """Dispatch a found problem to its center with a deadline (``actor`` None: the reporting
    run itself); the deadline."""
    row = _row(conn, problem_id)
    if actor is not None:
        require_covers(conn, actor, row.center)
    deadline = add_working_days(today, working_days)
    login = actor.login if actor else SYSTEM
    _move(conn, problem_id, ("found",), "dispatched", now, deadline=deadline, dispatched_by=login)
    row = _row(conn, problem_id)
    message_id = send_to_center(conn, hub, row.center, NOTICE, _notice(row, "dispatched", note), now)
    _step(conn, problem_id, "dispatched", "dispatched", login, now, note=note or f"整改期限{deadline}",
          message_id=message_id)  # fmt: skip
    return deadline


def take_report(conn: Connection, envelope: Envelope, body: Body, now: datetime) -> None:
    """A center's SUP202: accepted (dispatched → rectifying) or submitted with its evidence
    (rectifying → submitted). Only the problem's own center; a step out of order is refused."""
    assert isinstance(body, ProblemReport)
    row = conn.execute(select(hub_problem).where(hub_problem.c.id == body.problem_ref)).first()
    if row is None or row.center != envelope.sender:
        raise Conflict(
            "supervision.problem_not_yours", "该问题不属于发送中心",
            f"problem {body.problem_ref} is not {envelope.sender}'s",
        )  # fmt: skip
    frm, to = (("dispatched",), "rectifying") if body.step == "accepted" else (("rectifying",), "submitted")
    _move(conn, row.id, frm, to, now)
    evidence = [e.model_dump() for e in body.evidence] or None
    _step(conn, row.id, body.step, to, envelope.sender, now, note=body.note, evidence=evidence,
          message_id=str(envelope.message_id))  # fmt: skip


def review(
    conn: Connection,
    hub: service.Hub,
    problem_id: int,
    who: Supervisor,
    *,
    passed: bool,
    note: str,
    now: datetime,
) -> str:
    """The first look at a submitted rectification: passes (reviewed, waiting for another
    supervisor's verification) or is sent back to the center (rectifying)."""
    row = _row(conn, problem_id)
    require_covers(conn, who, row.center)
    if passed:
        _move(conn, problem_id, ("submitted",), "reviewed", now, reviewed_by=who.login)
        _step(conn, problem_id, "reviewed", "reviewed", who.login, now, note=note)
        return "reviewed"
    return send_back(conn, hub, problem_id, who, note=note, now=now)


def send_back(
    conn: Connection, hub: service.Hub, problem_id: int, who: Supervisor, *, note: str, now: datetime
) -> str:
    row = _row(conn, problem_id)
    require_covers(conn, who, row.center)
    if not note.strip():
        raise Conflict("supervision.note_required", "退回须写明原因", "a sending back says why")
    _move(conn, problem_id, ("submitted", "reviewed"), "rectifying", now, reviewed_by=None)
    message_id = send_to_center(
        conn, hub, row.center, NOTICE, _notice(_row(conn, problem_id), "sent_back", note), now
    )
    _step(conn, problem_id, "sent_back", "rectifying", who.login, now, note=note, message_id=message_id)
    return "rectifying"


def verify(
    conn: Connection, hub: service.Hub, problem_id: int, who: Supervisor, *, note: str, now: datetime
) -> str:
    """Close a reviewed problem: a different supervisor than the reviewer verifies it."""
    row = _row(conn, problem_id)
    require_covers(conn, who, row.center)
    if row.state == "reviewed" and row.reviewed_by == who.login:
        raise forbidden(
            "supervision.same_person", "初审人不能复核销号同一问题", "the reviewer cannot also verify"
        )
    _move(conn, problem_id, ("reviewed",), "closed", now)
    message_id = send_to_center(
        conn, hub, row.center, NOTICE, _notice(_row(conn, problem_id), "closed", note), now
    )
    _step(conn, problem_id, "closed", "closed", who.login, now, note=note, message_id=message_id)
    return "closed"


def flag_overdue(conn: Connection, hub: service.Hub, today: date, now: datetime) -> list[int]:
    """Flag every problem past its deadline whose center has not submitted (once each)."""
    p = hub_problem.c
    rows = conn.execute(
        select(hub_problem)
        .where(p.state.in_(OPEN), p.deadline < today, p.overdue_on.is_(None))
        .order_by(p.id)
    ).all()
    for row in rows:
        conn.execute(update(hub_problem).where(p.id == row.id).values(overdue_on=today, updated_at=now))
        message_id = send_to_center(
            conn, hub, row.center, NOTICE, _notice(row, "overdue", f"已超过整改期限{row.deadline}"), now
        )
        _step(
            conn,
            row.id,
            "overdue",
            row.state,
            SYSTEM,
            now,
            note=f"超过整改期限{row.deadline}",
            message_id=message_id,
        )
    return [int(r.id) for r in rows]


@dataclass(frozen=True)
class Problem:
    id: int
    center: str
    month: str
    rule: str
    subject: str
    value: str | None
    title_zh: str
    detail_zh: str
    state: str
    deadline: date | None
    overdue_on: date | None
    dispatched_by: str | None
    reviewed_by: str | None

    @property
    def state_zh(self) -> str:
        return STATE_ZH[self.state]

    def overdue(self, today: date) -> bool:
        return self.overdue_on is not None or (
            self.state in OPEN and self.deadline is not None and self.deadline < today
        )


@dataclass(frozen=True)
class Step:
    step: str
    state: str
    actor: str
    note: str
    evidence: list[dict[str, Any]] | None
    message_id: str | None
    at: datetime

    @property
    def step_zh(self) -> str:
        return STEP_ZH[self.step]


_COLUMNS = [c for c in hub_problem.c if c.name not in ("found_at", "updated_at")]


def problems(
    conn: Connection, who: Supervisor, *, open_only: bool = False, center: str | None = None
) -> list[Problem]:
    """The problems of the supervisor's scope, newest first."""
    p = hub_problem.c
    query = select(*_COLUMNS).order_by(p.id.desc())
    if open_only:
        query = query.where(p.state != "closed")
    if center is not None:
        query = query.where(p.center == center)
    in_scope = {c.code for c in registry.centers(conn) if who.covers(c.province)}
    return [Problem(**r._mapping) for r in conn.execute(query) if r.center in in_scope]


def problem(conn: Connection, who: Supervisor, problem_id: int) -> tuple[Problem, list[Step]]:
    row = _row(conn, problem_id)
    require_covers(conn, who, row.center)
    s = hub_problem_step.c
    steps = conn.execute(
        select(s.step, s.state, s.actor, s.note, s.evidence, s.message_id, s.at)
        .where(s.problem_id == problem_id)
        .order_by(s.id)
    ).all()
    return Problem(**{c.name: row._mapping[c.name] for c in _COLUMNS}), [Step(**r._mapping) for r in steps]
