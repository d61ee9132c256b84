"""Maker-checker (复核): a money-moving or policy change made by hand waits for a second person.

Whoever submits a change (the *maker*) cannot approve it; another principal holding the same
permission (the *checker*) approves or rejects it. Only an approval runs the change, in the
approver's transaction, as the maker (``actor``) — the request row records both people.

Decisions are events: approving records ``approval.approved`` (the kind, the payload, the maker)
in the approver's transaction, and the kind's *executor* — a listener that lives with the
capability it changes (the ledger reverses an entry, policy schedules a change …) and is wired in
``hpf.bootstrap.listeners`` — carries the change out there and then, as the maker; what it
produced is stored on the request. A kind without exactly one executor is refused (and bootstrap
refuses to start). Submitting records ``approval.submitted``, rejecting ``approval.rejected``.

A request is checked when it is submitted: it is approved inside a savepoint that is then rolled
back, so a change the rules would refuse is refused at once with the rules' own error, not left
pending. It is checked again when approved (the world may have moved on); a refusal then leaves
the request pending, to be rejected or approved later.

Kinds are a tuple built fresh per call (:func:`kinds`): reversal of a journal entry, a
scheduled policy change, a refund of unallocated receipts, a local implementation list of the
service catalog. Automatic money movements
(allocation, month-end, interest) are not requests: the rules that drive them are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Connection,
    ForeignKey,
    Index,
    RowMapping,
    String,
    Subquery,
    Table,
    UniqueConstraint,
    insert,
    select,
    update,
)

from hpf import events
from hpf.access.permissions import Perm, Principal
from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.identity.identity import Forbidden, now_utc, utc
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError, InvalidInput, NotFound
from hpf.kernel.records import Record, fields_of

approval_request = Table(
    "approval_request",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("payload", JSON, nullable=False),  # what the change needs, JSON-safe
    Column("summary", String(400), nullable=False),  # one Chinese line for the queue
    Column("maker", String(64), nullable=False),  # login
    Column("maker_id", Id, ForeignKey("principal.id"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("state", String(10), nullable=False),  # pending | approved | rejected
    Column("checker", String(64)),
    Column("checker_id", Id, ForeignKey("principal.id")),
    Column("decided_at", UtcDateTime()),
    Column("note", String(200)),  # why it was rejected
    Column("result", JSON),  # what the approved change produced, e.g. {"entry_id": 12}
    Column("idempotency_key", String(80)),  # the maker's retry key: same key, same request
    UniqueConstraint("maker_id", "idempotency_key"),
    CheckConstraint("state IN ('pending', 'approved', 'rejected')", name="state"),
    Index(None, "state", "id"),
)


class State(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


STATE_ZH = {State.PENDING: "待审批", State.APPROVED: "已批准", State.REJECTED: "已驳回"}


@dataclass(frozen=True)
class ApprovalKind:
    name: str
    permission: Perm  # maker and checker both need it
    label_zh: str


LEDGER_REVERSAL = "ledger.reversal"
POLICY_CHANGE = "policy.change"
FUNDS_REFUND = "funds.refund"
CATALOG_PUBLISH = "services.catalog"
MEMBER_IDENTITY = "member.identity"


def kinds() -> tuple[ApprovalKind, ...]:
    return (
        ApprovalKind(LEDGER_REVERSAL, Perm.LEDGER_REVERSE, "冲账"),
        ApprovalKind(POLICY_CHANGE, Perm.POLICY_CHANGE, "政策参数调整"),
        ApprovalKind(FUNDS_REFUND, Perm.FUNDS_ALLOCATE, "退还暂收款"),
        # The local implementation list is policy: the administrators who change policy publish it.
        ApprovalKind(CATALOG_PUBLISH, Perm.POLICY_CHANGE, "发布服务事项实施清单"),
        # Identity facts of stock data found wrong by the quality scan: data stewards, two of them.
        ApprovalKind(MEMBER_IDENTITY, Perm.DATA_QUALITY, "更正个人身份信息"),
    )


def kind_of(name: str) -> ApprovalKind:
    for kind in kinds():
        if kind.name == name:
            return kind
    raise InvalidInput("approval.unknown_kind", "未知的审批事项", f"no approval kind {name!r}")


# --------------------------------------------------------------------------- the executors
# The change of each kind belongs to its capability (the ledger reverses, policy schedules …):
# there it is an ``Executor``, ``(conn, ctx as the maker, payload, idempotency key) -> result``,
# wired in ``hpf.bootstrap.listeners`` as the listener of ``approval.approved`` for its kind
# (:func:`executor`). This module imports none of them.

APPROVED = "approval.approved"  # what an executor listens to; a trial's is rolled back with it
Executor = Callable[[Connection, Context, Mapping[str, Any], str], Record]
"""What an executor returns is stored on the request as JSON: a mapping or a typed result."""


def executor(kind_name: str, execute: Executor) -> events.Listener:
    """The listener that carries out the approved requests of ``kind_name``, in the approver's
    transaction and as the maker, and stores what the change produced on the request."""

    def call(conn: Connection, ctx: Context, event: events.Event) -> None:
        p = event.payload
        result = execute(conn, dataclasses.replace(ctx, actor=str(p["maker"])), p["payload"], str(p["key"]))
        conn.execute(
            update(approval_request)
            .where(approval_request.c.id == int(event.object_id))
            .values(result=jsonable(fields_of(result)))
        )

    return events.Listener(f"carry out {kind_name}", (APPROVED,), call, where={"kind": kind_name})


def _require_executor(kind: ApprovalKind) -> None:
    """Exactly one listener carries out ``kind`` (bootstrap checks it at start as well)."""
    found = events.hears(APPROVED, kind=kind.name)
    if len(found) != 1:
        raise HpfError(
            "wiring.approval_executor",
            "审批事项未配置办理程序",
            f"{len(found)} listeners carry out {kind.name} (hpf.bootstrap.listeners); exactly one must",
            status=500,
        )


# --------------------------------------------------------------------------- use cases


def jsonable(value: Any) -> Any:
    """``value`` with dates, timestamps and decimals as strings (for a JSON column)."""
    return events.jsonable(value)


def _forbidden(detail: str) -> Forbidden:
    return Forbidden("auth.forbidden", "没有办理该业务的权限", detail)


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A maker-checker request as stored, its fields in the order of its columns.

    ``payload`` is what the kind's change needs and ``result`` what it produced, both JSON objects
    whose fields each kind defines."""

    id: int
    kind: str
    payload: Mapping[str, Any]
    summary: str  # one Chinese line for the queue
    maker: str  # login
    maker_id: int
    created_at: datetime
    state: str  # pending | approved | rejected
    checker: str | None
    checker_id: int | None
    decided_at: datetime | None
    note: str | None  # why it was rejected
    result: Mapping[str, Any] | None
    idempotency_key: str | None


def _shaped(row: RowMapping) -> ApprovalRequest:
    """A request row with aware UTC timestamps (SQLite hands them back naive)."""
    decided_at = row["decided_at"]
    return ApprovalRequest(
        id=row["id"], kind=row["kind"], payload=row["payload"], summary=row["summary"], maker=row["maker"],
        maker_id=row["maker_id"], created_at=utc(row["created_at"]), state=row["state"],
        checker=row["checker"], checker_id=row["checker_id"],
        decided_at=None if decided_at is None else utc(decided_at), note=row["note"], result=row["result"],
        idempotency_key=row["idempotency_key"],
    )  # fmt: skip


def _row(conn: Connection, request_id: int) -> ApprovalRequest:
    row = conn.execute(select(approval_request).where(approval_request.c.id == request_id)).mappings().first()
    if row is None:
        raise NotFound("approval.not_found", "审批事项不存在", f"no approval request {request_id}")
    return _shaped(row)


def get_request(conn: Connection, request_id: int) -> ApprovalRequest:
    return _row(conn, request_id)


def list_requests(
    conn: Connection, *, state: State | None = None, kind: str | None = None, limit: int = 100
) -> list[ApprovalRequest]:
    """Requests, newest first."""
    stmt = select(approval_request)
    if state is not None:
        stmt = stmt.where(approval_request.c.state == state.value)
    if kind is not None:
        stmt = stmt.where(approval_request.c.kind == kind)
    rows = conn.execute(stmt.order_by(approval_request.c.id.desc()).limit(limit)).mappings()
    return [_shaped(r) for r in rows]


def submit(
    conn: Connection,
    ctx: Context,
    maker: Principal,
    kind_name: str,
    payload: Mapping[str, Any],
    summary: str | Callable[[dict[str, Any]], str],
    *,
    idempotency_key: str | None = None,
) -> ApprovalRequest:
    """A pending request; the change is tried (and rolled back) first, so its refusals come now.

    ``summary`` is the queue's one line, or makes it from what the trial produced. The same
    ``idempotency_key`` from the same maker returns the request already made.
    """
    kind = kind_of(kind_name)
    if not maker.may(kind.permission):
        raise _forbidden(f"submitting {kind.name} needs {kind.permission.value}")
    _require_executor(kind)
    if idempotency_key:
        existing = (
            conn.execute(
                select(approval_request).where(
                    approval_request.c.maker_id == maker.id,
                    approval_request.c.idempotency_key == idempotency_key,
                )
            )
            .mappings()
            .first()
        )
        if existing is not None:
            if existing["kind"] != kind.name or existing["payload"] != jsonable(payload):
                raise Conflict(
                    "approval.key_reused",
                    "幂等键已用于其他申请",
                    "this Idempotency-Key was used for a different request",
                )
            return _shaped(existing)
    clean = jsonable(payload)
    with conn.begin_nested():  # the request and its trial: a refusal leaves neither
        new_id = conn.execute(
            insert(approval_request)
            .values(
                kind=kind.name,
                payload=clean,
                summary="",
                maker=maker.login,
                maker_id=maker.id,
                created_at=now_utc(ctx),
                state=State.PENDING.value,
                idempotency_key=idempotency_key or None,
            )
            .returning(approval_request.c.id)
        ).scalar_one()
        trial = conn.begin_nested()  # approved exactly as a checker would, then rolled back
        try:
            _claim(conn, ctx, maker, new_id, State.APPROVED)
            _carry_out(conn, ctx, new_id, kind, clean, maker.login, "approval:trial")
            tried = dict(_row(conn, new_id).result or {})
        finally:
            trial.rollback()
        line = summary(tried) if callable(summary) else summary
        conn.execute(
            update(approval_request).where(approval_request.c.id == new_id).values(summary=line[:400])
        )
    events.record(conn, ctx, "approval.submitted", "approval_request", new_id, {"kind": kind.name})
    return _row(conn, new_id)


def _carry_out(
    conn: Connection, ctx: Context, request_id: int, kind: ApprovalKind, payload: Any, maker: str, key: str
) -> None:
    """Record the approval; the kind's executor (its listener) runs the change in this transaction."""
    events.record(conn, ctx, APPROVED, "approval_request", request_id,
                  {"kind": kind.name, "payload": payload, "maker": maker, "key": key})  # fmt: skip


def _claim(
    conn: Connection, ctx: Context, checker: Principal, request_id: int, state: State, **values: Any
) -> ApprovalRequest:
    """Move a pending request to ``state`` (once: a concurrent decision loses)."""
    done = conn.execute(
        update(approval_request)
        .where(approval_request.c.id == request_id, approval_request.c.state == State.PENDING.value)
        .values(
            state=state.value, checker=checker.login, checker_id=checker.id, decided_at=now_utc(ctx), **values
        )
    )
    if done.rowcount != 1:
        raise Conflict(
            "approval.decided", "该事项已审批", f"approval request {request_id} is no longer pending"
        )
    return _row(conn, request_id)


def _pending(conn: Connection, checker: Principal, request_id: int) -> tuple[ApprovalRequest, ApprovalKind]:
    row = _row(conn, request_id)
    kind = kind_of(row.kind)
    if not checker.may(kind.permission):
        raise _forbidden(f"deciding {kind.name} needs {kind.permission.value}")
    if row.state != State.PENDING.value:
        raise Conflict("approval.decided", "该事项已审批", f"approval request {request_id} is {row.state}")
    return row, kind


def approve(conn: Connection, ctx: Context, checker: Principal, request_id: int) -> ApprovalRequest:
    """Approve and run the change as its maker; the maker themself is refused (403)."""
    row, kind = _pending(conn, checker, request_id)
    if checker.id == row.maker_id:
        raise Forbidden(
            "approval.same_person",
            "经办人不能审批自己提交的事项",
            "the maker of a change cannot approve it; another person must",
        )
    _require_executor(kind)
    _claim(conn, ctx, checker, request_id, State.APPROVED)
    # A refusal raises: the caller's transaction rolls back and the request stays pending.
    _carry_out(conn, ctx, request_id, kind, row.payload, row.maker, f"approval:{request_id}")
    return _row(conn, request_id)


def reject(
    conn: Connection, ctx: Context, checker: Principal, request_id: int, note: str = ""
) -> ApprovalRequest:
    """Reject (or, by its maker, withdraw) a pending request; nothing runs."""
    _, kind = _pending(conn, checker, request_id)
    row = _claim(conn, ctx, checker, request_id, State.REJECTED, note=note.strip()[:200] or None)
    events.record(conn, ctx, "approval.rejected", "approval_request", request_id, {"kind": kind.name})
    return row


# ---------------------------------------------------------------------- SQL building blocks


def approved_entries_subquery(kind_name: str, name: str | None = None) -> Subquery:
    """The journal entries approved requests of ``kind_name`` produced (their result's
    ``entry_id``): what a second person let through (an approved ``ledger.reversal``).

    Columns: ``request_id``, ``entry_id``, ``maker``, ``checker``.
    """
    r = approval_request.c
    return (
        select(
            r.id.label("request_id"), r.result["entry_id"].as_integer().label("entry_id"), r.maker, r.checker
        )
        .where(r.kind == kind_name, r.state == State.APPROVED.value)
        .subquery(name)
    )
