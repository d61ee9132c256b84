"""The center's side of supervision (decision 0040): the problems the hub dispatches, their
rectification, and the credit list — this center's entries and the national list.

**Problems.** A ``SUP201`` from the hub (:func:`problem_notice`, the message handler) creates or
moves the center's copy: dispatched (new), sent back (rectifying again, with the hub's reason),
closed, overdue (flagged). Center staff accept a dispatched problem (:func:`accept`: rectifying)
and submit the rectification with a note and evidence files (:func:`submit`: submitted); each
goes to the hub as a ``SUP202`` in the same transaction (the outbox), the files' SHA-256 with it
(the files stay here). Every step is a ``sup_problem_step`` row.

**Credit list.** Staff list a member (a person who obtained money by fraud) or an employer (long
arrears) under a ground of ``credit_grounds.json``: the period follows from the ground (years
from the listing day). An appeal (:func:`appeal`) keeps the restriction until decided
(:func:`decide_appeal`: upheld → listed again; granted → removed); :func:`remove` lifts an entry
by hand. Each change goes to the hub as ``SUP211`` with the entry as it stands (``seq`` +1), the
member's resident ID revealed only into the message sealed to the hub. A ``SUP212``
(:func:`national_list`) replaces the center's copy of the national list.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from hpf.accounts import queries as accounts_queries
from hpf.contributions import service as contributions
from hpf.db.upsert import insert_new
from hpf.events import Event
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, IllegalTransition, NotFound, invalid
from hpf.messages.bodies import (
    CreditEntry,
    CreditListing,
    Evidence,
    NationalCreditList,
    ProblemNotice,
    ProblemReport,
    SupervisionEvent,
    SupervisionEvents,
)
from hpf.oversight.tables import (
    credit_listing,
    credit_national,
    credit_review,
    sup_evidence,
    sup_problem,
    sup_problem_step,
)
from hpf.transfers import service as transfers
from hpf.transfers.link import Incoming, current_link

GROUNDS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).with_name("credit_grounds.json")).read_text(encoding="utf-8")
)["grounds"]
STATE_ZH = {"dispatched": "待接收", "rectifying": "整改中", "submitted": "已报送待核验", "closed": "已销号"}
STEP_ZH = {
    "dispatched": "平台交办", "accepted": "已接收", "submitted": "报送整改", "sent_back": "平台退回",
    "closed": "平台销号", "overdue": "平台标记逾期",
}  # fmt: skip
CREDIT_STATE_ZH = {"listed": "已列入", "appealed": "申诉中", "removed": "已移出"}
MAX_EVIDENCE_BYTES = 5 * 1024 * 1024


def _step(
    conn: Connection, problem_id: int, step: str, state: str, actor: str, at: datetime, *,
    note: str = "", evidence: list[dict[str, Any]] | None = None, message_id: str | None = None,
) -> None:  # fmt: skip
    conn.execute(
        insert(sup_problem_step).values(
            problem_id=problem_id, step=step, state=state, actor=actor, note=note[:500],
            evidence=evidence, message_id=message_id, at=at,
        )
    )  # fmt: skip


# -- problems -----------------------------------------------------------------------------


def problem_notice(conn: Connection, ctx: Context, message: Incoming) -> None:
    """SUP201 from the hub: the problem dispatched, sent back, closed or flagged overdue."""
    body = message.body
    assert isinstance(body, ProblemNotice)
    p = sup_problem.c
    now, message_id = ctx.clock.now(), str(message.envelope.message_id)
    held = conn.execute(select(p.id, p.state).where(p.hub_ref == body.problem_ref)).first()
    if held is None:
        if body.step != "dispatched":
            raise Conflict("supervision.problem_unknown", "平台通知的问题本中心没有记录",
                           f"no problem {body.problem_ref} was dispatched here")  # fmt: skip
        problem_id = int(
            conn.execute(
                insert(sup_problem)
                .values(
                    hub_ref=body.problem_ref,
                    month=body.month,
                    rule=body.rule,
                    title_zh=body.title_zh,
                    detail_zh=body.detail_zh,
                    indicator=body.indicator,
                    value=body.value,
                    deadline=body.deadline,
                    state="dispatched",
                    overdue=False,
                    received_at=now,
                    updated_at=now,
                )
                .returning(p.id)
            ).scalar_one()
        )
        _step(conn, problem_id, "dispatched", "dispatched", message.envelope.sender, now, note=body.note,
              message_id=message_id)  # fmt: skip
        return
    problem_id, state = int(held.id), held.state
    if body.step == "sent_back":
        state = "rectifying"
        conn.execute(update(sup_problem).where(p.id == problem_id).values(state=state, updated_at=now))
    elif body.step == "closed":
        state = "closed"
        conn.execute(update(sup_problem).where(p.id == problem_id).values(state=state, updated_at=now))
    elif body.step == "overdue":
        conn.execute(update(sup_problem).where(p.id == problem_id).values(overdue=True, updated_at=now))
    _step(
        conn,
        problem_id,
        body.step,
        state,
        message.envelope.sender,
        now,
        note=body.note,
        message_id=message_id,
    )


def _problem(conn: Connection, problem_id: int) -> Any:
    row = conn.execute(select(sup_problem).where(sup_problem.c.id == problem_id)).first()
    if row is None:
        raise NotFound("supervision.problem_unknown", "问题不存在", f"no problem {problem_id}")
    return row


def _move(conn: Connection, problem_id: int, frm: str, to: str, now: datetime) -> None:
    p = sup_problem.c
    if (
        conn.execute(
            update(sup_problem).where(p.id == problem_id, p.state == frm).values(state=to, updated_at=now)
        ).rowcount
        != 1
    ):
        raise IllegalTransition("supervision.problem_state", "问题当前状态不能办理此步骤",
                                f"problem {problem_id} is not {frm}")  # fmt: skip


def accept(conn: Connection, ctx: Context, problem_id: int, note: str = "") -> None:
    """Accept a dispatched problem: rectifying (SUP202 ``accepted`` to the hub)."""
    row = _problem(conn, problem_id)
    now = ctx.clock.now()
    _move(conn, problem_id, "dispatched", "rectifying", now)
    report = ProblemReport(problem_ref=row.hub_ref, step="accepted", note=note[:500])
    message_id = transfers.send(conn, ctx, current_link().hub_code, "SUP202", report)
    _step(conn, problem_id, "accepted", "rectifying", ctx.actor, now, note=note, message_id=str(message_id))


def submit(
    conn: Connection, ctx: Context, problem_id: int, note: str, files: list[tuple[str, bytes]]
) -> None:
    """Submit the rectification: a note and at least one evidence file (SUP202 ``submitted``,
    the files' names and SHA-256)."""
    if not note.strip():
        raise invalid("supervision.note_required", "请填写整改情况说明", "a rectification says what was done")
    if not files:
        raise invalid("supervision.evidence_required", "请上传整改佐证材料", "at least one evidence file")
    row = _problem(conn, problem_id)
    now = ctx.clock.now()
    _move(conn, problem_id, "rectifying", "submitted", now)
    evidence = []
    for name, content in files:
        if not name.strip() or len(content) > MAX_EVIDENCE_BYTES:
            raise invalid(
                "supervision.evidence_invalid", "佐证材料须有文件名且不超过5MB", "name; at most 5 MB"
            )
        digest = hashlib.sha256(content).hexdigest()
        conn.execute(
            insert(sup_evidence).values(
                problem_id=problem_id, name=name.strip()[:100], sha256=digest, size=len(content),
                content=content, uploaded_by=ctx.actor, uploaded_at=now,
            )
        )  # fmt: skip
        evidence.append(Evidence(name=name.strip()[:100], sha256=digest))
    report = ProblemReport(problem_ref=row.hub_ref, step="submitted", note=note[:500], evidence=evidence)
    message_id = transfers.send(conn, ctx, current_link().hub_code, "SUP202", report)
    _step(conn, problem_id, "submitted", "submitted", ctx.actor, now, note=note,
          evidence=[e.model_dump() for e in evidence], message_id=str(message_id))  # fmt: skip


@dataclass(frozen=True)
class Problem:
    id: int
    hub_ref: int
    month: str
    rule: str
    title_zh: str
    detail_zh: str
    indicator: str | None
    value: str | None
    deadline: date
    state: str
    overdue: bool

    @property
    def state_zh(self) -> str:
        return STATE_ZH[self.state]


@dataclass(frozen=True)
class Step:
    step: str
    state: str
    actor: str
    note: str
    evidence: list[dict[str, Any]] | None
    at: datetime

    @property
    def step_zh(self) -> str:
        return STEP_ZH[self.step]


_PCOLS = [sup_problem.c[n] for n in Problem.__dataclass_fields__]


def problems(conn: Connection) -> list[Problem]:
    rows = conn.execute(select(*_PCOLS).order_by(sup_problem.c.id.desc())).all()
    return [Problem(**r._mapping) for r in rows]


def problem(conn: Connection, problem_id: int) -> tuple[Problem, list[Step]]:
    row = conn.execute(select(*_PCOLS).where(sup_problem.c.id == problem_id)).first()
    if row is None:
        raise NotFound("supervision.problem_unknown", "问题不存在", f"no problem {problem_id}")
    s = sup_problem_step.c
    steps = conn.execute(
        select(s.step, s.state, s.actor, s.note, s.evidence, s.at)
        .where(s.problem_id == problem_id)
        .order_by(s.id)
    ).all()
    return Problem(**row._mapping), [Step(**r._mapping) for r in steps]


# -- the credit list ----------------------------------------------------------------------


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _entry(conn: Connection, row: Any) -> CreditEntry:
    ground = GROUNDS[row.grounds]
    subject: dict[str, Any] = {}
    if row.kind == "person":
        subject["resident_id"] = accounts_queries.resident_ids(conn, [row.member_id])[row.member_id]
    else:
        ref = accounts_queries.employer_ref(conn, row.employer_id)
        assert ref is not None
        subject |= {"uscc": ref.uscc, "employer_name": ref.name}
    return CreditEntry(
        entry_ref=str(row.id), seq=row.seq, kind=row.kind, grounds=row.grounds, grounds_zh=ground["name_zh"],
        listed_on=row.listed_on, until=row.until, state=row.state, **subject,
    )  # fmt: skip


def _publish(conn: Connection, ctx: Context, listing_id: int) -> None:
    row = conn.execute(select(credit_listing).where(credit_listing.c.id == listing_id)).one()
    transfers.send(conn, ctx, current_link().hub_code, "SUP211", CreditListing(entries=[_entry(conn, row)]))


def list_entry(
    conn: Connection, ctx: Context, *, grounds: str, note: str, member_id: int | None = None,
    employer_id: int | None = None,
) -> int:  # fmt: skip
    """List a member or an employer of this center under ``grounds``; published to the hub."""
    ground = GROUNDS.get(grounds)
    if ground is None:
        raise invalid(
            "supervision.grounds_unknown",
            "失信认定事由不在政策目录内",
            f"no ground {grounds}",
            field="grounds",
        )
    kind = ground["kind"]
    if (kind == "person") != (member_id is not None) or (kind == "employer") != (employer_id is not None):
        raise invalid(
            "supervision.subject_mismatch", "认定事由与列入对象不符", f"ground {grounds} lists a {kind}"
        )
    if not note.strip():
        raise invalid(
            "supervision.note_required", "请填写认定依据", "the grounds' facts are required", field="note"
        )
    if member_id is not None and member_id not in accounts_queries.resident_ids(conn, [member_id]):
        raise NotFound("accounts.member_not_found", "职工不存在", f"no member {member_id}")
    if employer_id is not None and accounts_queries.employer_ref(conn, employer_id) is None:
        raise NotFound("accounts.employer_not_found", "单位不存在", f"no employer {employer_id}")
    today, now = ctx.clock.today(), ctx.clock.now()
    listing_id = int(
        conn.execute(
            insert(credit_listing)
            .values(
                kind=kind,
                member_id=member_id,
                employer_id=employer_id,
                grounds=grounds,
                note=note.strip()[:300],
                listed_on=today,
                until=_add_years(today, int(ground["years"])),
                state="listed",
                seq=1,
                listed_by=ctx.actor,
                updated_at=now,
            )
            .returning(credit_listing.c.id)
        ).scalar_one()
    )
    _publish(conn, ctx, listing_id)
    return listing_id


def _change(conn: Connection, ctx: Context, listing_id: int, frm: tuple[str, ...], **values: Any) -> None:
    c = credit_listing.c
    if (
        conn.execute(
            update(credit_listing)
            .where(c.id == listing_id, c.state.in_(frm))
            .values(seq=c.seq + 1, updated_at=ctx.clock.now(), **values)
        ).rowcount
        != 1
    ):
        raise IllegalTransition("supervision.listing_state", "失信名单条目当前状态不能办理此操作",
                                f"listing {listing_id} is not {', '.join(frm)}")  # fmt: skip
    _publish(conn, ctx, listing_id)


def appeal(conn: Connection, ctx: Context, listing_id: int, note: str) -> None:
    if not note.strip():
        raise invalid("supervision.note_required", "请填写申诉理由", "an appeal says why", field="note")
    _change(conn, ctx, listing_id, ("listed",), state="appealed", appeal_note=note.strip()[:300])


def decide_appeal(conn: Connection, ctx: Context, listing_id: int, *, granted: bool, note: str) -> None:
    if granted:
        _change(
            conn, ctx, listing_id, ("appealed",), state="removed", removed_reason=f"申诉成立：{note}"[:300]
        )
    else:
        _change(conn, ctx, listing_id, ("appealed",), state="listed")


def remove(conn: Connection, ctx: Context, listing_id: int, reason: str) -> None:
    if not reason.strip():
        raise invalid("supervision.note_required", "请填写移出原因", "a removal says why", field="reason")
    _change(
        conn, ctx, listing_id, ("listed", "appealed"), state="removed", removed_reason=reason.strip()[:300]
    )


def national_list(conn: Connection, ctx: Context, message: Incoming) -> None:
    """SUP212 from the hub: the national list in force replaces the center's copy."""
    body = message.body
    assert isinstance(body, NationalCreditList)
    conn.execute(delete(credit_national))
    if body.entries:
        conn.execute(
            insert(credit_national),
            [
                {
                    "center": e.center,
                    "entry_ref": e.entry_ref,
                    "kind": e.kind,
                    "uscc": e.uscc,
                    "employer_name": e.employer_name,
                    "grounds": e.grounds,
                    "grounds_zh": e.grounds_zh,
                    "listed_on": e.listed_on,
                    "until": e.until,
                    "state": e.state,
                    "as_of": body.as_of,
                }
                for e in body.entries
            ],
        )


# -- stricter review of a listed employer's lists ------------------------------------------------


def strict_review(conn: Connection, ctx: Context, event: Event) -> None:
    """Listener of ``remittance.submitted``: a list of an employer on the national list whose
    ground carries the ``strict_review`` restriction waits for a reviewer (``credit_review``) and
    is held — not posted, by any path — until the reviewer passes it (decision 0042)."""
    employer_id = int(event.payload["employer_id"])
    ref = accounts_queries.employer_ref(conn, employer_id)
    if ref is None:
        return
    listed = [
        n
        for n in employer_listed(conn, ref.uscc, ctx.clock.today())
        if "strict_review" in GROUNDS.get(n.grounds, {}).get("restrictions", ())
    ]
    if listed:
        remittance_id = int(event.object_id)
        insert_new(
            conn,
            credit_review,
            {
                "remittance_id": remittance_id, "employer_id": employer_id,
                "month": str(event.payload["month"]), "listed_by": listed[0].center,
                "grounds_zh": listed[0].grounds_zh, "state": "pending", "created_at": ctx.clock.now(),
            },
        )  # fmt: skip
        contributions.hold_for_review(conn, ctx, remittance_id)


def review_list(conn: Connection, ctx: Context, review_id: int, *, passed: bool, note: str) -> None:
    """A reviewer's verdict on a listed employer's held list: passed (the list is posted through
    the usual allocation, now if its money is there), or questioned with why (the list goes back
    to the employer with the note, nothing posted). The reviewer is not who filed the list
    (``supervision.same_person``). The same verdict again changes nothing; another is refused."""
    if not passed and not note.strip():
        raise invalid(
            "supervision.note_required", "请填写存疑原因", "a questioned list says why", field="note"
        )
    r = credit_review.c
    row = conn.execute(select(r.remittance_id, r.state).where(r.id == review_id)).first()
    if row is None:
        raise NotFound("supervision.review_unknown", "审核记录不存在", f"no review {review_id}")
    verdict = "passed" if passed else "questioned"
    if row.state == verdict:
        return  # a repeated verdict: done already, posted (or returned) once
    if row.state != "pending":
        raise IllegalTransition(
            "supervision.review_state", "该清册已审核", f"review {review_id} is not pending"
        )
    remittance_id = int(row.remittance_id)
    if contributions.get_remittance(conn, remittance_id).actor == ctx.actor:
        raise Conflict(
            "supervision.same_person", "清册提交人不能审核自己提交的清册", "the list's maker cannot review it"
        )
    done = conn.execute(
        update(credit_review)
        .where(r.id == review_id, r.state == "pending")
        .values(
            state=verdict,
            note=note.strip()[:300] or None,
            reviewed_by=ctx.actor,
            reviewed_at=ctx.clock.now(),
        )
    ).rowcount
    if done != 1:
        raise IllegalTransition(
            "supervision.review_state", "该清册已审核", f"review {review_id} is not pending"
        )
    if passed:
        contributions.pass_review(conn, ctx, remittance_id)
    else:
        contributions.return_list(conn, ctx, remittance_id, note)


@dataclass(frozen=True)
class Review:
    id: int
    remittance_id: int
    employer_id: int
    month: str
    listed_by: str
    grounds_zh: str
    state: str
    note: str | None
    reviewed_by: str | None

    @property
    def state_zh(self) -> str:
        return REVIEW_STATE_ZH[self.state]


REVIEW_STATE_ZH = {"pending": "待从严审核", "passed": "审核通过", "questioned": "存疑"}


def reviews(conn: Connection) -> list[Review]:
    cols = [credit_review.c[n] for n in Review.__dataclass_fields__]
    return [Review(**r._mapping) for r in conn.execute(select(*cols).order_by(credit_review.c.id.desc()))]


# -- the center's events for the hub's monitoring ---------------------------------------------


def report_events(conn: Connection, ctx: Context, month: str) -> int:
    """Send the hub (SUP213) this center's transfers past their deadline and its e-audit cases
    confirmed, for ``month``'s reporting run; how many (none: nothing is sent). The hub keeps
    each (kind, reference) once, so sending again what was sent changes nothing there."""
    from hpf.inspection import service as inspection
    from hpf.transfers import process as transfer_process

    today = ctx.clock.today()
    events = [
        SupervisionEvent(
            kind="transfer_overdue",
            ref=t.letter_no,
            detail_zh=f"转移接续{t.letter_no}超过办理时限{t.due_on.isoformat() if t.due_on else ''}未办结",
        )
        for t in transfer_process.listing(conn, today, limit=500)
        if t.overdue
    ]
    events += [
        SupervisionEvent(
            kind="audit_finding",
            ref=f"{c.rule}/{c.id}"[:40],
            detail_zh=f"电子稽查确认违规：{c.rule_title_zh}"[:300],
        )
        for c in inspection.list_cases(conn, state="confirmed", limit=500)
    ]
    if events:
        transfers.send(
            conn, ctx, current_link().hub_code, "SUP213", SupervisionEvents(month=month, events=events[:500])
        )
    return len(events[:500])


HANDLERS = {
    ("SUP201", False): problem_notice,
    ("SUP212", False): national_list,
}


@dataclass(frozen=True)
class Listing:
    id: int
    kind: str
    member_id: int | None
    employer_id: int | None
    grounds: str
    note: str
    listed_on: date
    until: date
    state: str
    appeal_note: str | None
    removed_reason: str | None

    @property
    def grounds_zh(self) -> str:
        return str(GROUNDS[self.grounds]["name_zh"])

    @property
    def state_zh(self) -> str:
        return CREDIT_STATE_ZH[self.state]


def listings(conn: Connection) -> list[Listing]:
    cols = [credit_listing.c[n] for n in Listing.__dataclass_fields__]
    return [Listing(**r._mapping) for r in conn.execute(select(*cols).order_by(credit_listing.c.id.desc()))]


@dataclass(frozen=True)
class NationalRow:
    center: str
    entry_ref: str
    kind: str
    uscc: str | None
    employer_name: str | None
    grounds: str
    grounds_zh: str
    listed_on: date
    until: date
    state: str


def national(conn: Connection) -> list[NationalRow]:
    cols = [credit_national.c[n] for n in NationalRow.__dataclass_fields__]
    return [
        NationalRow(**r._mapping)
        for r in conn.execute(select(*cols).order_by(credit_national.c.listed_on.desc()))
    ]


def employer_listed(conn: Connection, uscc: str, on: date) -> list[NationalRow]:
    """The national listings in force of an employer (by USCC) on a day: a listed employer's
    lists are reviewed more strictly (the policy's ``strict_review`` restriction)."""
    n = credit_national.c
    cols = [credit_national.c[x] for x in NationalRow.__dataclass_fields__]
    rows = conn.execute(select(*cols).where(n.uscc == uscc, n.listed_on <= on, n.until >= on)).all()
    return [NationalRow(**r._mapping) for r in rows]
