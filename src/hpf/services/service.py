"""Applications (E2): every request is an instance of a catalog item, moved through one state
machine, with its materials, its deadline on the working-day clock, review and a rating.

submitted → accepted → under_review → approved → executed; or rejected (by the center), or
withdrawn (by the applicant) before a decision; or failed (approved, but the work — a payout —
could not be done). Every move is a row of ``application_transition`` (who, when, why) written
with the change, and an application that ends is sealed into the archive (``archives.seal``)
in the same transaction.

- **Submit** stores the request (idempotent per applicant and key) and shows the member the
  handler's evaluation at once; a handler that cannot read the payload refuses it.
- **Complete** (受理): the required materials are all there, so the center accepts — online the
  system accepts on the center's behalf, at the counter the clerk does. The due date is the
  item's time limit in working days from the acceptance date. Review starts at once: the handler
  evaluates again, and when every rule passes and no risk flag is raised the application is
  approved straight through (``decided_by = "system"``). Otherwise it waits in the review queue.
- **Approve** by staff (maker-checker): not the applicant, not whoever accepted it; the rules must
  still pass (a reviewer clears risk flags, never a failed rule). **Reject** needs a reason.
- The handler's ``on_approved`` runs once at approval; its outputs are stored. The owner reports
  the end later with :func:`mark_executed` / :func:`mark_failed` unless it said ``executed``.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from hpf import events
from hpf.access.permissions import Principal
from hpf.accounts import service as accounts
from hpf.db.engine import read_phase
from hpf.db.upsert import insert_new
from hpf.identity.identity import Forbidden
from hpf.kernel import network
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError, InvalidInput, NotFound
from hpf.kernel.records import fields_of
from hpf.kernel.workdays import working_days_between
from hpf.protection import protect
from hpf.protection.masking import mask
from hpf.protection.protect import reveal, seal
from hpf.services import archives, catalog, rules
from hpf.services.handlers import Evaluation, evaluation_to_json, handler_for
from hpf.services.rules import State
from hpf.services.tables import (
    application,
    application_blob,
    application_material,
    application_secret,
    application_transition,
)

SYSTEM = "system"  # the actor of automatic acceptance and straight-through approval


# ------------------------------------------------------------------------------------ reading


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC))


@dataclasses.dataclass(frozen=True, slots=True)
class Application:
    """An application as stored, its fields in the order of its columns.

    ``payload`` is the form as submitted, an open-ended JSON object whose fields the item
    defines (``catalog.json``), with its personal numbers masked (:func:`with_secrets` gives it
    in full); ``evaluation`` is the latest evaluation as stored (``handlers.evaluation_to_json``)
    and ``outputs`` what the handler's ``on_approved`` returned, both JSON objects.
    """

    id: int
    item_code: str
    catalog_version: str
    applicant_kind: str  # member | employer | heir | staff
    applicant_id: int
    applicant_login: str
    member_id: int | None
    employer_id: int | None
    channel: str  # online | counter
    payload: Mapping[str, Any]
    state: str
    submitted_on: date
    accepted_on: date | None
    accepted_by: str | None
    due_on: date | None
    fast_track: str | None  # served first, with a shorter limit, and why (诚信单位; decision 0042)
    evaluation: Mapping[str, Any] | None
    amount_fen: int | None
    decision: str | None  # approved | rejected
    decision_reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    outputs: Mapping[str, Any] | None
    idempotency_key: str | None
    rating: int | None
    rating_comment: str | None
    rated_at: datetime | None
    created_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ApplicationView(Application):
    """An application as a page or the API shows it: with its deadline and its state in Chinese."""

    overdue: bool
    working_days_left: int | None  # to the due date; None before acceptance
    state_zh: str


@dataclasses.dataclass(frozen=True, slots=True)
class Transition:
    """One move of an application's state (``from_state`` None: the submission itself)."""

    id: int
    application_id: int
    from_state: str | None
    to_state: str
    actor: str
    business_date: date
    recorded_at: datetime
    reason: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Material:
    """A file attached to an application (its bytes stored once per SHA-256)."""

    id: int
    application_id: int
    material_code: str
    file_name: str
    file_type: str  # pdf | jpg | png, from the bytes
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


def _application_of(row: Mapping[Any, Any]) -> Application:
    return Application(
        id=row["id"], item_code=row["item_code"], catalog_version=row["catalog_version"],
        applicant_kind=row["applicant_kind"], applicant_id=row["applicant_id"],
        applicant_login=row["applicant_login"], member_id=row["member_id"], employer_id=row["employer_id"],
        channel=row["channel"], payload=row["payload"], state=row["state"], submitted_on=row["submitted_on"],
        accepted_on=row["accepted_on"], accepted_by=row["accepted_by"], due_on=row["due_on"],
        fast_track=row["fast_track"],
        evaluation=row["evaluation"], amount_fen=row["amount_fen"], decision=row["decision"],
        decision_reason=row["decision_reason"], decided_by=row["decided_by"],
        decided_at=_aware(row["decided_at"]), outputs=row["outputs"], idempotency_key=row["idempotency_key"],
        rating=row["rating"], rating_comment=row["rating_comment"], rated_at=_aware(row["rated_at"]),
        created_at=_aware_at(row["created_at"]),
    )  # fmt: skip


def _transition_of(row: Mapping[Any, Any]) -> Transition:
    return Transition(
        id=row["id"], application_id=row["application_id"], from_state=row["from_state"],
        to_state=row["to_state"], actor=row["actor"], business_date=row["business_date"],
        recorded_at=_aware_at(row["recorded_at"]), reason=row["reason"],
    )  # fmt: skip


def _material_of(row: Mapping[Any, Any]) -> Material:
    return Material(
        id=row["id"], application_id=row["application_id"], material_code=row["material_code"],
        file_name=row["file_name"], file_type=row["file_type"], size_bytes=row["size_bytes"],
        sha256=row["sha256"], uploaded_by=row["uploaded_by"], uploaded_at=_aware_at(row["uploaded_at"]),
    )  # fmt: skip


def _aware_at(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def not_found(application_id: object) -> NotFound:
    return NotFound("application.not_found", "申请不存在", f"no application {application_id}")


# The statements every application request runs, several times, built once: building a Core
# statement and its cache key costs more than SQLite's own work for a lookup by key.
_BY_ID = select(application).where(application.c.id == bindparam("application_id"))
_SECRETS = select(application_secret.c.name, application_secret.c.value_enc).where(
    application_secret.c.application_id == bindparam("application_id")
)
_MATERIALS = (
    select(application_material)
    .where(application_material.c.application_id == bindparam("application_id"))
    .order_by(application_material.c.id)
)
_TRANSITION = insert(application_transition)
_LOCK = select(application.c.id).where(application.c.id == bindparam("application_id")).with_for_update()
_ADD_MATERIAL = insert(application_material).returning(application_material)
_MATERIAL_COUNT = (
    select(func.count())
    .select_from(application_material)
    .where(application_material.c.application_id == bindparam("application_id"))
)
_BLOB = select(application_blob.c.id).where(application_blob.c.sha256 == bindparam("sha256"))
_INSERT_BLOB = insert(application_blob)
_STORE_EVALUATION = (
    update(application)
    .where(application.c.id == bindparam("b_id"))
    .values(
        evaluation=bindparam("v_evaluation", type_=application.c.evaluation.type),
        amount_fen=bindparam("v_amount_fen", type_=application.c.amount_fen.type),
    )
    .returning(application)
)
_STORE_OUTPUTS = (
    update(application)
    .where(application.c.id == bindparam("b_id"))
    .values(outputs=bindparam("v_outputs", type_=application.c.outputs.type))
    .returning(application)
)
_FAST_TRACK = (
    update(application)
    .where(application.c.id == bindparam("b_id"))
    .values(fast_track=bindparam("v_fast_track"), due_on=bindparam("v_due_on"))
)
_MOVES: dict[tuple[str, ...], Any] = {}


def _move_statement(columns: tuple[str, ...]) -> Any:
    """The UPDATE of one transition setting ``columns`` besides the state, built once per set of
    columns: the application's id and the state it leaves in the WHERE (a concurrent move loses)."""
    found = _MOVES.get(columns)
    if found is None:
        found = (
            update(application)
            .where(application.c.id == bindparam("b_id"), application.c.state == bindparam("b_from"))
            .values({c: bindparam(f"v_{c}", type_=application.c[c].type) for c in ("state", *columns)})
            .returning(application)
        )
        _MOVES[columns] = found
    return found


def find(conn: Connection, application_id: int) -> Application | None:
    row = conn.execute(_BY_ID, {"application_id": application_id}).mappings().first()
    return None if row is None else _application_of(row)


def get(conn: Connection, application_id: int) -> Application:
    found = find(conn, application_id)
    if found is None:
        raise not_found(application_id)
    return found


def _owners(
    kind: str, member_id: int | None, employer_id: int | None, channel: str
) -> tuple[int | None, int | None]:
    if kind == "member":  # shared with the employer that filed it online for its staff (bulk, 0044)
        return member_id, (employer_id if channel == "online" else None)
    if kind == "employer":
        return None, employer_id
    return None, None  # heirs and staff items: the center's


def owner_ids(row: Application) -> tuple[int | None, int | None]:
    """(member id, employer id) of whoever owns the application: a member their own requests
    (made online or for them at the counter), an employer the requests it made (its own, and its
    staff's it filed for them: ``hpf.services.bulk``)."""
    return _owners(row.applicant_kind, row.member_id, row.employer_id, row.channel)


def application_owner(conn: Connection, application_id: str) -> tuple[int | None, int | None]:
    """The owners of an application, for scope checks; (None, None) when there is none."""
    return owner_of(conn, int(application_id)) or (None, None)


def owner_of(conn: Connection, application_id: int) -> tuple[int | None, int | None] | None:
    """The owners of an application, ``None`` when there is no such application (scope checks)."""
    row = conn.execute(
        select(
            application.c.applicant_kind,
            application.c.member_id,
            application.c.employer_id,
            application.c.channel,
        ).where(application.c.id == application_id)
    ).first()
    return None if row is None else _owners(row.applicant_kind, row.member_id, row.employer_id, row.channel)


def _is_owner(who: Principal, row: Application) -> bool:
    member_id, employer_id = owner_ids(row)
    if who.kind == "member":
        return member_id is not None and member_id == who.member_id
    if who.kind == "employer":
        return employer_id is not None and employer_id == who.employer_id
    return False


def _require_applicant(who: Principal, row: Application) -> None:
    """Only the applicant (or the clerk who applied for them) withdraws or rates."""
    if not (_is_owner(who, row) or who.id == row.applicant_id):
        raise Forbidden(
            "application.not_applicant",
            "只有申请人可以撤回或评价申请",
            f"{who.login} did not make application {row.id}",
        )


def visible(conn: Connection, who: Principal, application_id: int) -> Application:
    """The application if ``who`` may see it; otherwise exactly the answer for a missing one."""
    row = get(conn, application_id)
    if not (who.is_staff or _is_owner(who, row)):
        raise not_found(application_id)
    return row


def transitions(conn: Connection, application_id: int) -> list[Transition]:
    query = (
        select(application_transition)
        .where(application_transition.c.application_id == application_id)
        .order_by(application_transition.c.id)
    )
    return [_transition_of(r) for r in conn.execute(query).mappings()]


def materials(conn: Connection, application_id: int) -> list[Material]:
    rows = conn.execute(_MATERIALS, {"application_id": application_id}).mappings()
    return [_material_of(r) for r in rows]


def item_of(conn: Connection, row: Application) -> catalog.Item:
    """The catalog item the application was made under (its version, not today's)."""
    return catalog.item_of_version(conn, row.item_code, row.catalog_version)


def with_deadline(row: Application, today: date) -> ApplicationView:
    """The application with ``overdue`` and ``working_days_left`` (to the due date) for display."""
    due = row.due_on
    left = None if due is None else working_days_between(today, due)
    return ApplicationView(
        **fields_of(row),
        overdue=rules.is_overdue(row.state, due, today),
        working_days_left=left,
        state_zh=rules.STATE_ZH.get(row.state, row.state),
    )


def list_own(conn: Connection, who: Principal, *, limit: int = 100) -> list[Application]:
    """The caller's applications, newest first; staff see the center's latest."""
    query = select(application).order_by(application.c.id.desc()).limit(limit)
    if who.kind == "member":
        query = query.where(
            application.c.applicant_kind == "member", application.c.member_id == who.member_id
        )
    elif who.kind == "employer":  # and its staff's it filed for them (bulk, decision 0044)
        query = query.where(
            application.c.employer_id == who.employer_id,
            or_(
                application.c.applicant_kind == "employer",
                (application.c.applicant_kind == "member") & (application.c.channel == "online"),
            ),
        )
    elif not who.is_staff:
        return []
    return [_application_of(r) for r in conn.execute(query).mappings()]


def review_queue(conn: Connection, today: date, *, limit: int = 200) -> list[ApplicationView]:
    """Applications waiting for a decision: those on the fast track first (the good-credit
    incentive, decision 0042), then the earliest due date first (overdue flagged); on the same
    due date, the higher priority of their evaluation first (``Evaluation.priority``)."""
    query = (
        select(application)
        .where(application.c.state.in_([s.value for s in rules.PENDING_DECISION]))
        .order_by(
            application.c.fast_track.is_(None), application.c.due_on.is_(None), application.c.due_on,
            application.c.id,
        )
        .limit(limit)
    )  # fmt: skip
    rows = [with_deadline(_application_of(r), today) for r in conn.execute(query).mappings()]

    def priority(row: ApplicationView) -> float:
        value = (row.evaluation or {}).get("priority")
        return -float(value) if isinstance(value, int | float) else 0.0

    # Stable: rows are in (fast track, due date, id) order already; within a due date, priority decides.
    rows.sort(key=lambda r: (r.fast_track is None, r.due_on is None, r.due_on or date.min, priority(r)))
    return rows


def fast_track(
    conn: Connection, ctx: Context, application_id: int, *, marker_zh: str, working_days: int
) -> date:
    """Put an accepted application on the fast track: first in the review queue, marked with
    ``marker_zh`` (诚信单位), its due date ``working_days`` working days after acceptance when that
    is sooner than the item's own limit (the good-credit incentive, decision 0042, applied by
    ``hpf.oversight``). The due date it has now."""
    row = get(conn, application_id)
    if row.accepted_on is None or row.due_on is None:
        raise Conflict(
            "application.not_accepted", "申请尚未受理", f"application {application_id} has no time limit yet"
        )
    due = min(row.due_on, rules.due_on(row.accepted_on, working_days))
    conn.execute(_FAST_TRACK, {"b_id": application_id, "v_fast_track": marker_zh[:20], "v_due_on": due})
    events.record(conn, ctx, "application.fast_tracked", "application", application_id,
                  {"due_on": due, "fast_track": marker_zh[:20]})  # fmt: skip
    return due


def queue_size(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).where(application.c.state == State.UNDER_REVIEW.value)) or 0)


# ------------------------------------------------------------------------------------ moving


def _move(
    conn: Connection,
    ctx: Context,
    row: Application,
    target: State,
    actor: str,
    reason: str | None = None,
    **values: Any,
) -> Application:
    """One transition: checked, applied once (a concurrent move loses), recorded; sealed if it ends."""
    rules.require_transition(row.id, row.state, target)
    columns = tuple(sorted(values))
    params = {"b_id": row.id, "b_from": row.state, "v_state": target.value}
    params.update({f"v_{c}": values[c] for c in columns})
    moved = conn.execute(_move_statement(columns), params).mappings().first()
    if moved is None:
        raise Conflict(
            "application.changed",
            "申请状态已变化，请刷新后重试",
            f"application {row.id} changed meanwhile",
        )
    conn.execute(
        _TRANSITION,
        {
            "application_id": row.id,
            "from_state": row.state,
            "to_state": target.value,
            "actor": actor[:64],
            "business_date": ctx.clock.today(),
            "recorded_at": ctx.clock.now(),
            "reason": reason,
        },
    )
    events.record(conn, ctx, f"application.{target.value}", "application", row.id, _payload(row, row.state))
    if target in rules.TERMINAL:
        archives.seal(conn, ctx, row.id)
        return get(conn, row.id)
    return _application_of(moved)


def _payload(row: Application, previous: str | None) -> dict[str, Any]:
    """What an application's event tells: the item, whose it is, the state it left."""
    return {"item_code": row.item_code, "member_id": row.member_id, "employer_id": row.employer_id,
            "channel": row.channel, "from_state": previous}  # fmt: skip


def _evaluate(conn: Connection, ctx: Context, row: Application) -> Evaluation | None:
    return _evaluated(conn, ctx, row)[0]


def _evaluated(conn: Connection, ctx: Context, row: Application) -> tuple[Evaluation | None, Application]:
    """The item's rules run on the application, their verdict stored on it; the row as it now is."""
    evaluation, stored, _secrets = _evaluated_with_secrets(conn, ctx, row)
    return evaluation, stored


def _evaluated_with_secrets(
    conn: Connection, ctx: Context, row: Application
) -> tuple[Evaluation | None, Application, Mapping[str, Any]]:
    """``_evaluated``, and the payload in full it was evaluated on (for the approval that may
    follow in the same transaction: the secrets are not read and decrypted twice)."""
    evaluation, payload = _evaluation_of(conn, ctx, row)
    if evaluation is None:
        return None, row, payload
    return evaluation, _store_evaluation(conn, row.id, evaluation), payload


def _evaluation_of(
    conn: Connection, ctx: Context, row: Application, ahead: _Ahead | None = None
) -> tuple[Evaluation | None, Mapping[str, Any]]:
    """The item's rules run on the application (not stored yet), and the payload in full they
    ran on. ``ahead``: an evaluation made before this transaction, taken when the handler confirms
    here that what it read still holds (decision 0046); else the rules run again now."""
    handler = handler_for(row.item_code)
    if handler is None:
        return None, row.payload
    if (
        ahead is not None
        and ahead.full is not None
        and ahead.evaluation is not None
        and handler.still_holds(conn, ctx, ahead.full, ahead.evaluation)  # type: ignore[attr-defined]
    ):
        return ahead.evaluation, ahead.full.payload
    full = with_secrets(conn, row)
    return handler.evaluate(conn, ctx, full), full.payload


def _store_evaluation(conn: Connection, application_id: int, evaluation: Evaluation) -> Application:
    stored = conn.execute(_STORE_EVALUATION, {
        "b_id": application_id, "v_evaluation": evaluation_to_json(evaluation), "v_amount_fen": evaluation.amount_fen,
    }).mappings().one()  # fmt: skip
    return _application_of(stored)


# ------------------------------------------------------- the network asked before the write


def ask_network_first(
    conn: Connection,
    ctx: Context,
    who: Principal,
    application_id: int | None = None,
    *,
    item_code: str | None = None,
    payload: object = None,
    applicant_kind: str | None = None,
    member_account_no: str | None = None,
    employer_account_no: str | None = None,
    idempotency_key: str | None = None,
) -> network.AskedFirst:
    """Ask the network now what the item's rules will ask of it when the application (stored, or
    about to be submitted) is evaluated — on ``conn`` before its write transaction begins, so that
    the hub's round trip holds no write lock (decision 0043). Use the result as a ``with`` block
    around the write; inside it the rules are answered from here. The questions are read in a
    read transaction (``read_phase``) from the handler's ``network_questions``; an application
    that cannot be read yet asks nothing first (its evaluation refuses it, or asks as before).
    ``payload`` may be a function of the read connection (a page's form read against its item)."""
    return _ask_first(
        conn, ctx, who, application_id, item_code, payload,
        (applicant_kind, member_account_no, employer_account_no, idempotency_key),
    )[0]  # fmt: skip


def _ask_first(
    conn: Connection,
    ctx: Context,
    who: Principal,
    application_id: int | None,
    item_code: str | None,
    payload: object,
    applying: tuple[str | None, str | None, str | None, str | None],
) -> tuple[network.AskedFirst, bool]:
    """:func:`ask_network_first`, and whether the questions were read (so that nothing the rules
    ask is left to ask inside a read: the lookup logs in a write of its own)."""
    nothing = network.AskedFirst(conn, None)
    if network.lookup() is None or conn.in_transaction():
        return nothing, False
    try:
        with read_phase(conn):
            questions = _network_questions(conn, ctx, who, application_id, item_code, payload, applying)
    except HpfError:
        return nothing, False
    return network.ask_first(conn, ctx, questions), True


def _network_questions(
    conn: Connection,
    ctx: Context,
    who: Principal,
    application_id: int | None,
    item_code: str | None,
    payload: object,
    applying: tuple[str | None, str | None, str | None, str | None],
) -> tuple[network.Question, ...]:
    if application_id is not None:
        row = visible(conn, who, application_id)  # nobody has the network asked about another's
        ask = getattr(handler_for(row.item_code), "network_questions", None)
        if ask is None or row.state not in (State.SUBMITTED.value, State.UNDER_REVIEW.value):
            return ()  # evaluated only when completed or approved
        return tuple(ask(conn, ctx, row.item_code, row.member_id, with_secrets(conn, row).payload))
    if item_code is None:
        return ()
    ask = getattr(handler_for(item_code), "network_questions", None)
    if ask is None:
        return ()
    kind, member_account_no, employer_account_no, idempotency_key = applying
    clean = _clean_payload(payload(conn) if callable(payload) else payload)
    key = (idempotency_key or "").strip()[:80] or None
    if key is not None and _existing(conn, who, key, item_code, clean) is not None:
        return ()  # a replay: nothing is evaluated
    item = catalog.catalog_at(conn, ctx.clock.today()).item(item_code)
    applicant = _applicant(conn, who, item, kind, member_account_no, employer_account_no)
    return tuple(ask(conn, ctx, item_code, applicant.member_id, clean))


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _asking_network_first(action: Callable[_P, _R]) -> Callable[_P, _R]:
    """An engine step that evaluates: given a connection not yet in a transaction (a request's,
    at its start), the network is asked first (:func:`ask_network_first`), then the step runs."""
    signature = inspect.signature(action)

    @functools.wraps(action)
    def step(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        conn = args[0] if args else kwargs["conn"]
        if not isinstance(conn, Connection) or conn.in_transaction() or network.lookup() is None:
            return action(*args, **kwargs)  # (the usual case: nothing to bind)
        given = signature.bind(*args, **kwargs).arguments
        asked, read = _ask_first(
            conn, given["ctx"], given["who"], given.get("application_id"), given.get("item_code"),
            given.get("payload"), (given.get("applicant_kind"), given.get("member_account_no"),
                                   given.get("employer_account_no"), given.get("idempotency_key")),
        )  # fmt: skip
        with asked:
            if read:
                conn.info[_QUESTIONS_READ] = True
            try:
                return action(*args, **kwargs)
            finally:
                conn.info.pop(_QUESTIONS_READ, None)

    return step


_QUESTIONS_READ = "hpf.services.network_questions_read"  # conn.info, within one engine step


def _ahead(conn: Connection) -> bool:
    """Whether a step may read and evaluate before its write transaction (``read_phase``): the
    connection is not in a transaction yet (a request's, at its start), and the rules will ask the
    network nothing inside the read — no lookup is installed, or this step's questions were read
    and asked first (the lookup logs its exchange in a write of its own, never inside a read)."""
    if conn.in_transaction():
        return False
    return network.lookup() is None or bool(conn.info.get(_QUESTIONS_READ))


# ------------------------------------------------------------------------------------ submit


@dataclasses.dataclass(frozen=True)
class Applicant:
    kind: str  # member | employer | heir | staff
    member_id: int | None
    employer_id: int | None
    channel: str  # online | counter


def _member_id(conn: Connection, account_no: str, *, of_employer: int | None = None) -> int:
    """The member the application is about (of ``of_employer`` when given), else not found."""
    member_id, employer_id = accounts.member_owner(conn, account_no)
    if member_id is None or (of_employer is not None and employer_id != of_employer):
        raise accounts.member_not_found(account_no)
    return member_id


def _applicant(
    conn: Connection,
    who: Principal,
    item: Mapping[str, Any],
    kind: str | None,
    member_account_no: str | None,
    employer_account_no: str | None,
) -> Applicant:
    allowed = list(item["applicants"])
    if who.kind == "member":
        chosen, member_id, employer_id = "member", who.member_id, None
    elif who.kind == "employer":
        chosen, employer_id, member_id = "employer", who.employer_id, None
        if member_account_no:  # about one of its own staff (an employer sees only its own)
            member_id = _member_id(conn, member_account_no, of_employer=who.employer_id)
    elif who.is_staff:  # at the counter, for someone
        chosen = kind or allowed[0]
        member_id = _member_id(conn, member_account_no) if member_account_no else None
        employer_id = accounts.get_employer(conn, employer_account_no).id if employer_account_no else None
        if chosen in ("member", "heir") and member_id is None:
            raise InvalidInput(
                "application.member_required",
                "请填写职工个人账号",
                "a member account number is needed",
                field="member_account_no",
            )
        if chosen == "employer" and employer_id is None:
            raise InvalidInput(
                "application.employer_required",
                "请填写单位账号",
                "an employer account number is needed",
                field="employer_account_no",
            )
    else:
        raise Forbidden("auth.forbidden", "没有办理该业务的权限", f"a {who.kind} cannot apply")
    if chosen not in allowed:
        raise InvalidInput(
            "application.applicant_not_allowed",
            f"“{item['name_zh']}”的申请人须为{'、'.join(rules.APPLICANT_ZH[a] for a in allowed)}",
            f"{item['code']} is for {allowed}, not {chosen}",
        )
    return Applicant(chosen, member_id, employer_id, "counter" if who.is_staff else "online")


def _existing(conn: Connection, who: Principal, key: str, item_code: str, payload: Any) -> Application | None:
    row = (
        conn.execute(
            select(application).where(
                application.c.applicant_id == who.id, application.c.idempotency_key == key
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    found = _application_of(row)
    if found.item_code != item_code or with_secrets(conn, found).payload != payload:
        raise Conflict(
            "application.key_reused",
            "幂等键已用于其他申请",
            "this Idempotency-Key was used for a different application",
        )
    return found


# Payload fields that identify people or their money: stored encrypted in application_secret,
# shown masked in the payload; handlers get them in full (``with_secrets``).
SECRET_FIELDS = {
    "payee_card": "bank_card",
    "document_no": "full",
    "family_resident_ids": "resident_id",
    "certificate_no": "full",  # 他项权证号 of a loan application (LN-APPLY)
    "debit_card": "bank_card",  # the borrower's card for 委托扣款 (LN-APPLY)
}


def _masked(kind: str, value: Any) -> Any:
    if isinstance(value, list):
        return [mask(str(v), kind) for v in value]
    return None if value is None else mask(str(value), kind)


def _split_secrets(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    public = {k: (_masked(SECRET_FIELDS[k], v) if k in SECRET_FIELDS else v) for k, v in payload.items()}
    return public, {k: payload[k] for k in SECRET_FIELDS if payload.get(k) not in (None, "", [])}


def with_secrets(conn: Connection, row: Application) -> Application:
    """The application with its payload in full (for handlers and the idempotency check)."""
    stored = conn.execute(_SECRETS, {"application_id": row.id}).all()
    secrets = {
        name: json.loads(reveal("application_secret", "value", token) or "null") for name, token in stored
    }
    return dataclasses.replace(row, payload={**row.payload, **secrets})


def _clean_payload(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidInput(
            "application.invalid_payload",
            "申请内容须为JSON对象",
            "payload must be a JSON object",
            field="payload",
        )
    try:
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(
            "application.invalid_payload", "申请内容格式错误", "payload is not plain JSON", field="payload"
        ) from None
    if len(text) > rules.MAX_PAYLOAD_CHARS:
        raise InvalidInput(
            "application.invalid_payload",
            "申请内容过长",
            f"payload over {rules.MAX_PAYLOAD_CHARS} characters",
            field="payload",
        )
    clean: dict[str, Any] = json.loads(text)
    return clean


@_asking_network_first
def submit(
    conn: Connection,
    ctx: Context,
    who: Principal,
    item_code: str,
    payload: object,
    *,
    applicant_kind: str | None = None,
    member_account_no: str | None = None,
    employer_account_no: str | None = None,
    idempotency_key: str | None = None,
    complete: bool = False,
) -> Application:
    """A new application of ``item_code`` (state submitted); the same key returns the same one.

    ``complete`` goes on to acceptance at once (an item whose materials are all optional, or
    none): one click from the guide to a decision.
    """
    clean = _clean_payload(payload)
    key = (idempotency_key or "").strip()[:80] or None
    today = ctx.clock.today()
    preview: _Preview | None = None
    if not complete and _ahead(conn):
        with read_phase(conn):
            preview = _preview_ahead(conn, ctx, who, item_code, clean, today, key, applicant_kind,
                                     member_account_no, employer_account_no)  # fmt: skip
    if key is not None:
        found = _existing(conn, who, key, item_code, clean)
        if found is not None:
            return found
    cat = catalog.catalog_at(conn, today)
    item = cat.item(item_code)
    if preview is not None and preview.catalog_version == cat.version:
        applicant = preview.applicant  # an account number names the same member for ever
    else:
        preview = None
        applicant = _applicant(conn, who, item, applicant_kind, member_account_no, employer_account_no)
    values = {
        "item_code": item_code,
        "catalog_version": cat.version,
        "applicant_kind": applicant.kind,
        "applicant_id": who.id,
        "applicant_login": who.login,
        "member_id": applicant.member_id,
        "employer_id": applicant.employer_id,
        "channel": applicant.channel,
        "payload": _split_secrets(clean)[0],
        "state": State.SUBMITTED.value,
        "submitted_on": today,
        "idempotency_key": key,
        "created_at": ctx.clock.now(),
    }
    if preview is not None and preview.evaluation is not None:
        values["evaluation"] = evaluation_to_json(preview.evaluation)
        values["amount_fen"] = preview.evaluation.amount_fen
    insert_new = insert(application).values(**values).returning(application)
    if key:
        try:
            with conn.begin_nested():
                inserted = conn.execute(insert_new).mappings().one()
        except IntegrityError:  # the same key, submitted concurrently
            found = _existing(conn, who, key, item_code, clean)
            if found is None:
                raise
            return found
    else:  # no key, no race to lose: no savepoint either
        inserted = conn.execute(insert_new).mappings().one()
    new_id = inserted["id"]
    secrets = _split_secrets(clean)[1]
    if secrets:
        conn.execute(
            insert(application_secret),
            [
                {"application_id": new_id, "name": name,
                 "value_enc": seal("application_secret", "value", json.dumps(value, ensure_ascii=False))}
                for name, value in secrets.items()
            ],
        )  # fmt: skip
    conn.execute(_TRANSITION, {
        "application_id": new_id, "from_state": None, "to_state": State.SUBMITTED.value, "actor": who.login,
        "business_date": today, "recorded_at": ctx.clock.now(), "reason": None,
    })  # fmt: skip
    row = _application_of(inserted)
    events.record(conn, ctx, "application.submitted", "application", new_id, _payload(row, None))
    # a preview; a payload the handler cannot read refuses the submission (made ahead: stored already)
    if preview is None:
        row = _evaluated(conn, ctx, row)[1]
    if complete:
        return complete_submission(conn, ctx, who, new_id)
    return row


@dataclasses.dataclass(frozen=True)
class _Preview:
    """A submission's applicant and evaluation, read before its write transaction (decision 0046)."""

    catalog_version: str
    applicant: Applicant
    evaluation: Evaluation | None


def _preview_ahead(
    conn: Connection,
    ctx: Context,
    who: Principal,
    item_code: str,
    clean: dict[str, Any],
    today: date,
    key: str | None,
    applicant_kind: str | None,
    member_account_no: str | None,
    employer_account_no: str | None,
) -> _Preview | None:
    """The evaluation a submission shows at once (a preview: the rules run again at acceptance),
    made in the read phase by a handler that evaluates ahead (``still_holds``), on the payload
    exactly as the stored application gives it back (its secrets split off and merged again).
    ``None`` for a replay of a known key (nothing evaluated) or a handler that does not."""
    if key is not None and _existing(conn, who, key, item_code, clean) is not None:
        return None
    cat = catalog.catalog_at(conn, today)
    applicant = _applicant(
        conn, who, cat.item(item_code), applicant_kind, member_account_no, employer_account_no
    )
    handler = handler_for(item_code)
    if handler is None:
        return _Preview(cat.version, applicant, None)
    if getattr(handler, "still_holds", None) is None:
        return None  # a handler that does not evaluate ahead (it may read the application's id)
    public, secrets = _split_secrets(clean)
    full = {**public, **json.loads(json.dumps(secrets, ensure_ascii=False))}
    draft = Application(
        id=0, item_code=item_code, catalog_version=cat.version, applicant_kind=applicant.kind,
        applicant_id=who.id, applicant_login=who.login, member_id=applicant.member_id,
        employer_id=applicant.employer_id, channel=applicant.channel, payload=full,
        state=State.SUBMITTED.value, submitted_on=today, accepted_on=None, accepted_by=None, due_on=None,
        fast_track=None, evaluation=None, amount_fen=None, decision=None, decision_reason=None,
        decided_by=None, decided_at=None, outputs=None, idempotency_key=key, rating=None,
        rating_comment=None, rated_at=None, created_at=ctx.clock.now(),
    )  # fmt: skip
    return _Preview(cat.version, applicant, handler.evaluate(conn, ctx, draft))


# ------------------------------------------------------------------------------------ materials


def _blob_row(sha256: str, data: bytes) -> dict[str, Any]:
    """A material's bytes as ``application_blob`` stores them (encrypted)."""
    return protect.to_stored(
        "application_blob",
        {"sha256": sha256, "size_bytes": len(data), "content": base64.b64encode(data).decode()},
    )


def _store_blob(conn: Connection, sha256: str, data: bytes) -> None:
    """The bytes stored once per SHA-256, encrypted, unless they already are."""
    if conn.scalar(_BLOB, {"sha256": sha256}) is not None:
        return
    try:
        with conn.begin_nested():
            conn.execute(_INSERT_BLOB, _blob_row(sha256, data))
    except IntegrityError:  # the same bytes stored concurrently: one copy is enough
        pass


@dataclasses.dataclass(frozen=True)
class _Upload:
    """A material checked before the write (decision 0046): the file's name, type and digest, and
    its bytes encrypted when they were not stored yet."""

    name: str
    kind: str
    digest: str
    blob: Mapping[str, Any] | None


def _material_spec(conn: Connection, row: Application, material_code: str) -> Mapping[str, Any]:
    if row.state != State.SUBMITTED.value:
        raise Conflict(
            "application.materials_closed",
            "申请已受理，不能再补充材料",
            f"application {row.id} is {row.state}",
            state=row.state,
        )
    item = item_of(conn, row)
    spec: Mapping[str, Any] | None = next((m for m in item["materials"] if m["code"] == material_code), None)
    if spec is None:
        raise InvalidInput(
            "application.unknown_material",
            "该事项没有这种申请材料",
            f"{item['code']} has no material {material_code!r}",
            field="material_code",
        )
    return spec


def _require_room(conn: Connection, application_id: int, *, lock: bool = True) -> None:
    # The application row is locked so that two uploads at once cannot both see room for one
    # more (PostgreSQL; SQLite has one writer already, and ignores FOR UPDATE).
    if lock and conn.dialect.name != "sqlite":
        conn.execute(_LOCK, {"application_id": application_id})
    count = conn.scalar(_MATERIAL_COUNT, {"application_id": application_id})
    if (count or 0) >= rules.MAX_MATERIALS:
        raise InvalidInput(
            "application.too_many_materials",
            f"每件申请最多上传{rules.MAX_MATERIALS}份材料",
            f"application {application_id} already has {count} materials; at most {rules.MAX_MATERIALS}",
            limit=rules.MAX_MATERIALS,
        )


_OPEN_WITH_ROOM = select(application.c.state, _MATERIAL_COUNT.scalar_subquery()).where(
    application.c.id == bindparam("application_id")
)


def _still_open(conn: Connection, application_id: int) -> bool:
    """Whether the application still takes one more material (submitted, below the limit): what
    can change between an upload's read phase and its write, in one statement (locked first on
    PostgreSQL, as ``_require_room``). False: the write checks everything again and says why."""
    if conn.dialect.name != "sqlite":
        conn.execute(_LOCK, {"application_id": application_id})
    found = conn.execute(_OPEN_WITH_ROOM, {"application_id": application_id}).first()
    return (
        found is not None and found[0] == State.SUBMITTED.value and int(found[1] or 0) < rules.MAX_MATERIALS
    )


def _checked_file(
    row: Application, spec: Mapping[str, Any], file_name: str, data: bytes
) -> tuple[str, str, str]:
    name = (file_name or "").strip().replace("/", "_").replace("\\", "_")[-200:] or "file"
    kind = rules.check_file(row.item_code, spec, name, data)
    return name, kind, hashlib.sha256(data).hexdigest()


def add_material(
    conn: Connection,
    ctx: Context,
    who: Principal,
    application_id: int,
    material_code: str,
    file_name: str,
    data: bytes,
) -> Material:
    """Attach a file to a submitted application: its type (from the bytes) and size checked
    against the item's material, stored once per SHA-256.

    Given a connection not yet in a transaction (a request's), the checks, the digest and the
    encryption of the bytes are done first, in a read transaction without the writer turn; the
    write then finds the application still submitted with room for one more, in one statement
    (else it checks everything again and refuses with the reason)."""
    ahead: _Upload | None = None
    if not conn.in_transaction():
        with read_phase(conn):
            first = visible(conn, who, application_id)
            spec = _material_spec(conn, first, material_code)
            _require_room(conn, application_id, lock=False)  # and again in the write
            name, kind, digest = _checked_file(first, spec, file_name, data)
            known = conn.scalar(_BLOB, {"sha256": digest}) is not None
            ahead = _Upload(name, kind, digest, None if known else _blob_row(digest, data))
    if ahead is not None and _still_open(conn, application_id):
        name, kind, digest = ahead.name, ahead.kind, ahead.digest
        if ahead.blob is not None:  # (bytes stored once are never deleted)
            insert_new(conn, application_blob, ahead.blob)
    else:
        row = visible(conn, who, application_id)
        spec = _material_spec(conn, row, material_code)
        _require_room(conn, application_id)
        name, kind, digest = _checked_file(row, spec, file_name, data)
        _store_blob(conn, digest, data)
    added = conn.execute(_ADD_MATERIAL, {
        "application_id": application_id, "material_code": material_code, "file_name": name, "file_type": kind,
        "size_bytes": len(data), "sha256": digest, "uploaded_by": who.login, "uploaded_at": ctx.clock.now(),
    }).mappings().one()  # fmt: skip
    events.record(conn, ctx, "application.material_added", "application", application_id,
                  {"material_id": added["id"], "material_code": material_code, "file_type": kind, "size_bytes": len(data)})  # fmt: skip
    return _material_of(added)


def blob(conn: Connection, sha256: str) -> bytes:
    """The stored bytes of a material, refused if they no longer hash to their name."""
    row = conn.execute(select(application_blob).where(application_blob.c.sha256 == sha256)).mappings().first()
    if row is None:
        raise NotFound("application.material_missing", "材料文件缺失", f"no stored bytes for {sha256}")
    data = base64.b64decode(protect.to_plain("application_blob", row)["content"])
    if hashlib.sha256(data).hexdigest() != sha256:
        raise Conflict(
            "application.material_altered", "材料文件已被篡改", f"stored bytes do not hash to {sha256}"
        )
    return data


def material_content(
    conn: Connection, who: Principal, application_id: int, material_id: int
) -> tuple[Material, bytes]:
    visible(conn, who, application_id)
    for m in materials(conn, application_id):
        if m.id == material_id:
            return m, blob(conn, m.sha256)
    raise NotFound(
        "application.material_not_found",
        "材料不存在",
        f"application {application_id} has no material {material_id}",
    )


# ------------------------------------------------------------------------------- the decisions


@dataclasses.dataclass(frozen=True)
class _Ahead:
    """What a step read and evaluated before its write transaction (``read_phase``, decision 0046).

    ``row`` is the application as it was read: the write goes on from here only when it finds the
    row unchanged (else it reads and decides everything again, inside the write, as before).
    ``evaluation`` (on ``full``, the payload with its secrets) is used in the write only when the
    item's handler confirms, there, that what it read still holds (``still_holds``)."""

    row: Application
    item: catalog.Item
    full: Application | None = None
    evaluation: Evaluation | None = None


def _require_materials(conn: Connection, application_id: int, item: catalog.Item) -> None:
    missing = rules.missing_materials(
        item["materials"], (m.material_code for m in materials(conn, application_id))
    )
    if missing:
        raise InvalidInput(
            "application.materials_missing",
            "申请材料不全，请补齐：" + "、".join(m["name_zh"] for m in missing),
            "required materials are missing: " + ", ".join(m["code"] for m in missing),
            missing=[m["code"] for m in missing],
        )


def _completable(conn: Connection, who: Principal, application_id: int) -> tuple[Application, catalog.Item]:
    """The application ``who`` may complete, its item, its required materials all there."""
    row = visible(conn, who, application_id)
    rules.require_transition(application_id, row.state, State.ACCEPTED)
    item = item_of(conn, row)
    _require_materials(conn, application_id, item)
    return row, item


def _evaluate_ahead(conn: Connection, ctx: Context, row: Application, item: catalog.Item) -> _Ahead:
    """The evaluation of a handler that can confirm it later (``still_holds``), read now."""
    handler = handler_for(row.item_code)
    if handler is None or getattr(handler, "still_holds", None) is None:
        return _Ahead(row, item)
    full = with_secrets(conn, row)
    return _Ahead(row, item, full, handler.evaluate(conn, ctx, full))


@_asking_network_first
def complete_submission(conn: Connection, ctx: Context, who: Principal, application_id: int) -> Application:
    """受理: accept a submitted application whose required materials are all there, start its
    clock, and review it (straight through when the rules allow).

    Given a connection not yet in a transaction (a request's), the application, its materials and
    the handler's evaluation are read first, in a read transaction without the writer turn; the
    write then checks that the application has not moved and the handler that its facts still hold
    (else it evaluates again inside the write), and makes the moves (decision 0046)."""
    ahead: _Ahead | None = None
    if _ahead(conn):
        with read_phase(conn):
            row, item = _completable(conn, who, application_id)
            ahead = _evaluate_ahead(conn, ctx, row, item)
    row = visible(conn, who, application_id)
    if ahead is not None and row == ahead.row:
        item = ahead.item  # unchanged since: its materials were complete (they are only added)
    else:
        ahead = None
        row, item = _completable(conn, who, application_id)
    today = ctx.clock.today()
    accepter = who.login if who.is_staff else SYSTEM
    row = _move(
        conn, ctx, row, State.ACCEPTED, accepter, None,
        accepted_on=today, accepted_by=accepter, due_on=rules.due_on(today, int(item["time_limit_days"])),
    )  # fmt: skip
    row = _move(conn, ctx, row, State.UNDER_REVIEW, SYSTEM)
    evaluation, payload = _evaluation_of(conn, ctx, row, ahead)
    if evaluation is not None and evaluation.eligible and not evaluation.verdict.risks:
        # stored by the approval's own UPDATE (one statement less in the write)
        return _approve(
            conn, ctx, row, evaluation, SYSTEM, "全部规则通过且无风险提示，自动准予", full_payload=payload,
            store_evaluation=True,
        )  # fmt: skip
    return row if evaluation is None else _store_evaluation(conn, row.id, evaluation)


def _approve(
    conn: Connection,
    ctx: Context,
    row: Application,
    evaluation: Evaluation | None,
    actor: str,
    reason: str,
    *,
    full_payload: Mapping[str, Any] | None = None,
    store_evaluation: bool = False,
) -> Application:
    """``full_payload``: the payload with its secrets, read in this transaction already;
    ``store_evaluation``: ``evaluation`` is stored with the approval, not before it."""
    stored: dict[str, Any] = {}
    if store_evaluation and evaluation is not None:
        stored = {"evaluation": evaluation_to_json(evaluation), "amount_fen": evaluation.amount_fen}
    row = _move(
        conn, ctx, row, State.APPROVED, actor, reason,
        decision="approved", decision_reason=reason, decided_by=actor, decided_at=ctx.clock.now(), **stored,
    )  # fmt: skip
    handler = handler_for(row.item_code)
    outputs: dict[str, Any] = {}
    if handler is not None and evaluation is not None:
        full = (
            with_secrets(conn, row)
            if full_payload is None
            else dataclasses.replace(row, payload=dict(full_payload))
        )
        outputs = dict(handler.on_approved(conn, ctx, full, evaluation))
    row = _application_of(
        conn.execute(_STORE_OUTPUTS, {"b_id": row.id, "v_outputs": outputs}).mappings().one()
    )
    if handler is None or outputs.get("executed") is True:
        return _move(conn, ctx, row, State.EXECUTED, actor, "办结")
    return row


@_asking_network_first
def approve(
    conn: Connection, ctx: Context, who: Principal, application_id: int, note: str = ""
) -> Application:
    """A reviewer approves: not the applicant, not whoever accepted it; the rules must pass."""
    row = get(conn, application_id)
    rules.require_transition(application_id, row.state, State.APPROVED)
    if who.id == row.applicant_id or who.login in (row.applicant_login, row.accepted_by):
        raise Forbidden(
            "application.same_person",
            "受理或提交该申请的人员不能审批该申请",
            "whoever submitted or accepted an application cannot approve it",
        )
    evaluation = _evaluate(conn, ctx, row)
    if evaluation is not None and not evaluation.eligible:
        failed = [r.message_zh for r in evaluation.verdict.refusals]
        raise Conflict(
            "application.rules_failed",
            "不符合办理条件，不能准予：" + "；".join(failed),
            "a rule fails; a reviewer clears risk flags, not failed rules",
            rules=[r.code for r in evaluation.verdict.refusals],
        )
    text = " ".join(note.split())[:400] or "审核通过"
    return _approve(conn, ctx, get(conn, application_id), evaluation, who.login, text)


def _end(
    conn: Connection,
    ctx: Context,
    row: Application,
    state: State,
    actor: str,
    reason: str,
    **values: Any,
) -> Application:
    ended = _move(conn, ctx, row, state, actor, reason, **values)
    handler = handler_for(row.item_code)
    if handler is not None:
        handler.on_ended(conn, ctx, with_secrets(conn, ended), state.value)
    return ended


def reject(conn: Connection, ctx: Context, who: Principal, application_id: int, reason: str) -> Application:
    """The center refuses, with the reason the applicant reads."""
    text = rules.require_reason(reason)
    row = get(conn, application_id)
    rules.require_transition(application_id, row.state, State.REJECTED)
    return _end(
        conn, ctx, row, State.REJECTED, who.login, text,
        decision="rejected", decision_reason=text, decided_by=who.login, decided_at=ctx.clock.now(),
    )  # fmt: skip


def withdraw(
    conn: Connection, ctx: Context, who: Principal, application_id: int, reason: str = ""
) -> Application:
    """The applicant takes the application back before a decision."""
    row = visible(conn, who, application_id)
    _require_applicant(who, row)
    rules.require_transition(application_id, row.state, State.WITHDRAWN)
    return _end(conn, ctx, row, State.WITHDRAWN, who.login, " ".join(reason.split())[:400] or "申请人撤回")


def mark_executed(
    conn: Connection, ctx: Context, application_id: int, outputs: Mapping[str, Any] | None = None
) -> Application:
    """The owner of the work (e.g. the payout) reports it done; ``outputs`` are merged in."""
    row = get(conn, application_id)
    merged = {**(row.outputs or {}), **dict(outputs or {})}
    return _move(conn, ctx, row, State.EXECUTED, ctx.actor, "办结", outputs=merged)


def mark_failed(
    conn: Connection, ctx: Context, application_id: int, reason: str, outputs: Mapping[str, Any] | None = None
) -> Application:
    """The approved work could not be done (e.g. the bank refused the payout); the handler's
    ``on_ended`` releases what was reserved."""
    text = rules.require_reason(reason)
    row = get(conn, application_id)
    merged = {**(row.outputs or {}), **dict(outputs or {})}
    return _end(conn, ctx, row, State.FAILED, ctx.actor, text, outputs=merged)


def rate(
    conn: Connection, ctx: Context, who: Principal, application_id: int, score: object, comment: str = ""
) -> Application:
    """好差评: the applicant rates an ended application once."""
    row = visible(conn, who, application_id)
    _require_applicant(who, row)
    if State(row.state) not in rules.TERMINAL:
        raise Conflict(
            "application.not_ended",
            "办结后才能评价",
            f"application {application_id} is {row.state}",
            state=row.state,
        )
    value, text = rules.check_rating(score, comment)
    done = conn.execute(
        update(application)
        .where(application.c.id == application_id, application.c.rating.is_(None))
        .values(rating=value, rating_comment=text or None, rated_at=ctx.clock.now())
    )
    if done.rowcount != 1:
        raise Conflict(
            "application.already_rated", "该申请已评价", f"application {application_id} is rated already"
        )
    events.record(conn, ctx, "application.rated", "application", application_id, {"rating": value})
    return get(conn, application_id)
