"""Many applications of one item filed at once (批量办理; decision 0044): an employer for its
staff (单位批量办理转入), or the counter for many members.

:func:`submit_many` is the application engine's submit with ``complete`` — submitted, accepted,
reviewed and approved straight through — for a set of payloads, set-based: the catalog item, the
members, the replays of an earlier call and the handler's facts are read once for the whole set
(the handler's ``evaluate_many``); the application rows in one multi-row INSERT, already in the
state the single path leaves them in; their four transitions in one INSERT; their events by
``events.record_many`` in two rounds (submitted and accepted, then under review and approved:
each application's events, and the listeners' — the good-credit fast track on acceptance — in
the single path's order); the handler's work on approval for all at once (``on_approved_many``:
for a transfer, the transfers and their contact letters, ``hpf.transfers.filing``); the outputs
by one executemany.

**Pre-filter, not savepoints.** An item that fails is refused with its reason and changes
nothing; the others go on. Refused: a payload that is not a JSON object or that the handler
cannot read (its code), an unknown account or — for an employer — a member it does not employ
(``member.not_found``), a member named twice in the call (``application.duplicate``), failed
rules (``application.rules_failed``, with their codes) or a risk flag that needs a reviewer
(``application.needs_review``): a bulk filing is for applications that go straight through, so
these are refused where the single path would put them in the review queue, and the applicant
files them one by one.

**Idempotent.** With a key, item *i* of the call is stored under ``<key>:<i>``: a call replayed
with the same key finds the items it filed (``replayed``: nothing new) and files again only those
it refused (which changed nothing).

Only items whose handler has the set forms (``evaluate_many``, ``on_approved_many``) and whose
materials are all optional are filed in bulk; at most :data:`MAX_BATCH` items a call.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

from sqlalchemy import Connection, bindparam, insert, select, update

from hpf import events
from hpf.access.permissions import Principal
from hpf.accounts import service as accounts
from hpf.db.bulk import insert_with_ids
from hpf.identity.identity import Forbidden
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.protection.protect import seal
from hpf.services import catalog, rules
from hpf.services.handlers import Evaluation, Outputs, evaluation_to_json, handler_for
from hpf.services.rules import State
from hpf.services.service import (
    SYSTEM,
    Application,
    _application_of,
    _clean_payload,
    _move,
    _payload,
    _split_secrets,
    with_secrets,
)
from hpf.services.tables import application, application_secret, application_transition

MAX_BATCH = 500
APPROVED_REASON = "全部规则通过且无风险提示，自动准予"  # the single path's straight-through reason


class SetHandler(Protocol):
    """The set forms of an item handler (``hpf.services.handlers.ItemHandler``)."""

    def evaluate_many(
        self, conn: Connection, ctx: Context, applications: Sequence[Application]
    ) -> list[Evaluation | HpfError]: ...

    def on_approved_many(
        self, conn: Connection, ctx: Context, approved: Sequence[tuple[Application, Evaluation]]
    ) -> list[Outputs]: ...


@dataclasses.dataclass(frozen=True)
class BulkItem:
    """One application of a bulk filing: its form, and the member it is about."""

    payload: object
    member_account_no: str | None = None


@dataclasses.dataclass(frozen=True)
class Filed:
    index: int  # the item's place in the call
    application_id: int
    state: str
    outputs: Mapping[str, Any]
    replayed: bool = False  # filed by an earlier call with the same key: nothing new


@dataclasses.dataclass(frozen=True)
class Refused:
    index: int
    code: str
    message_zh: str
    message_en: str
    rules: tuple[str, ...] = ()  # the failed rules' codes (application.rules_failed)


Outcome = Filed | Refused


def _refused(index: int, exc: HpfError) -> Refused:
    return Refused(index, exc.code, exc.title, str(exc.detail))


def _set_handler(item_code: str) -> SetHandler:
    handler = handler_for(item_code)
    if handler is None or not all(hasattr(handler, f) for f in ("evaluate_many", "on_approved_many")):
        raise InvalidInput(
            "application.bulk_unsupported",
            "该事项不支持批量办理，请逐件申请",
            f"item {item_code} cannot be filed in bulk",
        )
    return cast(SetHandler, handler)


def _require_batch(items: Sequence[BulkItem]) -> None:
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInput(
            "application.batch_size",
            f"每批须有1至{MAX_BATCH}件申请",
            f"a bulk filing has 1 to {MAX_BATCH} items, not {len(items)}",
            limit=MAX_BATCH,
        )


def _require_filer(who: Principal, item: Mapping[str, Any]) -> None:
    if not (who.is_staff or who.kind == "employer"):
        raise Forbidden(
            "application.bulk_forbidden",
            "只有单位或柜台可以批量办理",
            f"a {who.kind} cannot file in bulk",
        )
    if "member" not in item["applicants"]:
        raise InvalidInput(
            "application.bulk_unsupported",
            "该事项不支持批量办理，请逐件申请",
            f"{item['code']} is not a member's request",
        )
    missing = rules.missing_materials(item["materials"], ())
    if missing:
        raise InvalidInput(
            "application.bulk_unsupported",
            "该事项须上传申请材料，不能批量办理",
            "required materials: " + ", ".join(m["code"] for m in missing),
        )


def submit_many(
    conn: Connection,
    ctx: Context,
    who: Principal,
    item_code: str,
    items: Sequence[BulkItem],
    *,
    idempotency_key: str | None = None,
) -> list[Outcome]:
    """File ``items`` of ``item_code`` at once, each through to approval (see the module
    docstring); one outcome per item, in their order."""
    _require_batch(items)
    handler = _set_handler(item_code)
    today, now = ctx.clock.today(), ctx.clock.now()
    cat = catalog.catalog_at(conn, today)
    item = cat.item(item_code)
    _require_filer(who, item)
    key = (idempotency_key or "").strip()[:70] or None
    outcomes: dict[int, Outcome] = {}

    # the forms, and the items an earlier call with the same key filed
    cleaned: dict[int, dict[str, Any]] = {}
    for index, entry in enumerate(items):
        try:
            cleaned[index] = _clean_payload(entry.payload)
        except HpfError as exc:
            outcomes[index] = _refused(index, exc)
    if key is not None:
        outcomes.update(_replays(conn, who, item_code, key, cleaned))
    waiting = [i for i in cleaned if i not in outcomes]

    # whom each is about: the members read once
    nos = {i: (items[i].member_account_no or "").strip() for i in waiting}
    members = accounts.get_members(conn, [no for no in nos.values() if no])
    seen: set[int] = set()
    about: dict[int, accounts.Member] = {}
    for i in waiting:
        found = members.get(nos[i])
        if not nos[i]:
            outcomes[i] = _refused(i, InvalidInput(
                "application.member_required", "请填写职工个人账号", "a member account number is needed",
                field="member_account_no",
            ))  # fmt: skip
        elif found is None or (who.kind == "employer" and found.employer_id != who.employer_id):
            outcomes[i] = _refused(i, accounts.member_not_found(nos[i]))
        elif found.id in seen:
            outcomes[i] = Refused(
                i, "application.duplicate", "同一批次中该职工已有申请",
                f"member {nos[i]} is named more than once in the call",
            )  # fmt: skip
        else:
            seen.add(found.id)
            about[i] = found
    waiting = [i for i in waiting if i not in outcomes]

    # the rules, their facts read once for the set
    employer_id = who.employer_id if who.kind == "employer" else None
    channel = "counter" if who.is_staff else "online"
    accepter = who.login if who.is_staff else SYSTEM

    drafts = {  # each application's row as submitted (the columns the single path writes then)
        i: {
            "item_code": item_code, "catalog_version": cat.version, "applicant_kind": "member",
            "applicant_id": who.id, "applicant_login": who.login, "member_id": about[i].id,
            "employer_id": employer_id, "channel": channel, "payload": _split_secrets(cleaned[i])[0],
            "state": State.SUBMITTED.value, "submitted_on": today,
            "idempotency_key": f"{key}:{i}" if key is not None else None, "created_at": now,
        }
        for i in waiting
    }  # fmt: skip
    previews = [_provisional(drafts[i], cleaned[i]) for i in waiting]
    evaluations: dict[int, Evaluation] = {}
    for i, evaluation in zip(waiting, handler.evaluate_many(conn, ctx, previews), strict=True):
        if isinstance(evaluation, HpfError):
            outcomes[i] = _refused(i, evaluation)
        elif not evaluation.eligible:
            failed = evaluation.verdict.refusals
            outcomes[i] = Refused(
                i, "application.rules_failed", "不符合办理条件：" + "；".join(r.message_zh for r in failed),
                "a rule fails: " + ", ".join(r.code for r in failed), tuple(r.code for r in failed),
            )  # fmt: skip
        elif evaluation.verdict.risks:
            flags = evaluation.verdict.risks
            outcomes[i] = Refused(
                i, "application.needs_review", "需人工审核，请逐件申请：" + "；".join(f.message_zh for f in flags),
                "a risk flag needs a reviewer: " + ", ".join(f.code for f in flags), tuple(f.code for f in flags),
            )  # fmt: skip
        else:
            evaluations[i] = evaluation
    going = [i for i in waiting if i in evaluations]
    if going:
        outcomes.update(_file(conn, ctx, who, handler, item, going, drafts, cleaned, evaluations, accepter))
    return [outcomes[i] for i in range(len(items))]


def _provisional(values: Mapping[str, Any], full_payload: Mapping[str, Any]) -> Application:
    """The application as the handler evaluates it before it is stored (no id yet)."""
    blank = {f.name: None for f in dataclasses.fields(Application)}
    return Application(**{**blank, **values, "id": 0, "payload": dict(full_payload)})


def _replays(
    conn: Connection, who: Principal, item_code: str, key: str, cleaned: Mapping[int, dict[str, Any]]
) -> dict[int, Outcome]:
    keys = {f"{key}:{i}": i for i in cleaned}
    a = application.c
    rows = conn.execute(
        select(application).where(a.applicant_id == who.id, a.idempotency_key.in_(list(keys)))
    ).mappings()
    out: dict[int, Outcome] = {}
    for row in rows:
        found = _application_of(row)
        i = keys[str(found.idempotency_key)]
        if found.item_code != item_code or with_secrets(conn, found).payload != cleaned[i]:
            out[i] = Refused(
                i, "application.key_reused", "幂等键已用于其他申请",
                "this Idempotency-Key was used for a different application",
            )  # fmt: skip
        else:
            out[i] = Filed(i, found.id, found.state, dict(found.outputs or {}), replayed=True)
    return out


def _file(
    conn: Connection,
    ctx: Context,
    who: Principal,
    handler: SetHandler,
    item: Mapping[str, Any],
    going: list[int],
    drafts: Mapping[int, dict[str, Any]],
    cleaned: Mapping[int, dict[str, Any]],
    evaluations: Mapping[int, Evaluation],
    accepter: str,
) -> dict[int, Outcome]:
    """The applications that pass, stored as the single path leaves them once approved."""
    today, now = ctx.clock.today(), ctx.clock.now()
    due = rules.due_on(today, int(item["time_limit_days"]))
    rows = [
        {
            **drafts[i], "state": State.APPROVED.value, "accepted_on": today, "accepted_by": accepter,
            "due_on": due, "evaluation": evaluation_to_json(evaluations[i]),
            "amount_fen": evaluations[i].amount_fen, "decision": "approved", "decision_reason": APPROVED_REASON,
            "decided_by": SYSTEM, "decided_at": now,
        }
        for i in going
    ]  # fmt: skip
    ids = insert_with_ids(conn, application, rows)
    blank = dict.fromkeys(application.c.keys())
    apps = [_application_of({**blank, **row, "id": i}) for row, i in zip(rows, ids, strict=True)]
    secrets = [
        {"application_id": a.id, "name": name,
         "value_enc": seal("application_secret", "value", json.dumps(value, ensure_ascii=False))}
        for a, i in zip(apps, going, strict=True)
        for name, value in _split_secrets(cleaned[i])[1].items()
    ]  # fmt: skip
    if secrets:
        conn.execute(insert(application_secret), secrets)
    moves = (
        (None, State.SUBMITTED, who.login, None),
        (State.SUBMITTED, State.ACCEPTED, accepter[:64], None),
        (State.ACCEPTED, State.UNDER_REVIEW, SYSTEM, None),
        (State.UNDER_REVIEW, State.APPROVED, SYSTEM, APPROVED_REASON),
    )
    conn.execute(
        insert(application_transition),
        [
            {"application_id": a.id, "from_state": None if before is None else before.value,
             "to_state": after.value, "actor": actor, "business_date": today, "recorded_at": now, "reason": reason}
            for a in apps
            for before, after, actor, reason in moves
        ],
    )  # fmt: skip
    # each application's events in the single path's order, the acceptance's listeners between
    for first, second in (moves[:2], moves[2:]):
        events.record_many(
            conn,
            ctx,
            [
                (f"application.{after.value}", "application", a.id,
                 _payload(a, None if before is None else before.value))
                for a in apps
                for before, after, _actor, _reason in (first, second)
            ],
        )  # fmt: skip
    full = [dataclasses.replace(a, payload=dict(cleaned[i])) for a, i in zip(apps, going, strict=True)]
    outputs = [
        dict(o)
        for o in handler.on_approved_many(
            conn, ctx, [(a, evaluations[i]) for a, i in zip(full, going, strict=True)]
        )
    ]
    conn.execute(
        update(application)
        .where(application.c.id == bindparam("b_id"))
        .values(outputs=bindparam("b_outputs")),
        [{"b_id": a.id, "b_outputs": o} for a, o in zip(apps, outputs, strict=True)],
    )
    out: dict[int, Outcome] = {}
    for a, i, o in zip(apps, going, outputs, strict=True):
        state = State.APPROVED.value
        if o.get("executed") is True:  # done at once: executed, as the single path does
            state = _move(conn, ctx, dataclasses.replace(a, outputs=o), State.EXECUTED, SYSTEM, "办结").state
        out[i] = Filed(i, a.id, state, o)
    return out
