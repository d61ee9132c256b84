"""Sending messages to the hub, delivering them, and taking the hub's deliveries.

**Sending** (:func:`send`, in the caller's transaction): the body is sealed to the recipient (the
hub's key, or the other center's as the hub's BDC909 lookup gave it: :func:`lookup_centers`
first), the envelope signed with this center's key and stored (``exchanged_message``, ``out``,
``recorded``), and one business event ``hub_message.queued`` recorded: the outbox of decision
0025. Both commit with the business change or not at all.

**Delivering** (:func:`deliver_due`, the worker's round): the consumer ``hub.delivery``
(``hpf.events.consume``) takes each ``hub_message.queued`` event once and makes its message due;
then every due message is sent to the hub in a new hop signed now (a round with no ``recorded``
message skips the consumer: no lock on the event stream when idle). Accepted (2xx):
``delivered``; a final refusal (4xx): ``refused``, and the event ``hub_message.refused``;
otherwise (hub down, 5xx, 429) it waits 1, 2, 4 … s (at most 5 minutes) and is sent again.
Every attempt carries the same envelope: the hub de-duplicates by message id, so a message sent
twice has its effect once.

**Taking** (:func:`receive`, the message endpoint's transaction): the hop must be the hub's and
verify with the hub's key, within the time window; the message must be addressed to this center;
the envelope verifies with its originator's key (the hub's own, or the one the hub vouches for in
the hop, where it names the originator as registered: kept in ``peer_center``, so that an answer
can be sealed to it); a BDC909 comes from the hub alone (``message.hub_only``); a message id seen
before is a duplicate (same content: no new effect) or refused (other content), also when it is
taken by two requests at once (``INSERT … ON CONFLICT DO NOTHING``); an answer must answer an
unanswered question of ours of its type, sent to its sender (``message.unexpected_answer``); the
body opens with this center's key and fits its model; its handler (declared in
``hpf.bootstrap``) runs in the same transaction as the inbox row, and ``hub_message.received`` is
recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from hpf import events
from hpf.db.engine import read_transaction, write_transaction
from hpf.db.upsert import insert_new, insert_new_many, upsert
from hpf.events import Event
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.messages import errors, protocol
from hpf.messages.bodies import (
    BATCH_MAX_ITEMS,
    BATCH_OF,
    FAMILY,
    BatchItem,
    Body,
    CenterCodeAnswer,
    CenterCodeQuery,
    StatusAnswer,
    StatusQuery,
    TransferBatch,
    body_model,
)
from hpf.messages.envelope import CenterInfo, Envelope, canonical
from hpf.messages.transport import Poster, endpoint_url
from hpf.protection.protect import ring
from hpf.transfers.link import HubLink, Incoming, SetHandler, current_link, installed
from hpf.transfers.tables import exchanged_message, peer_center

QUEUED = "hub_message.queued"
RECEIVED = "hub_message.received"
REFUSED = "hub_message.refused"
CONSUMER = "hub.delivery"


def peer_unknown(code: str) -> HpfError:
    return HpfError(
        "transfers.peer_unknown",
        "对方中心尚未查询到，请先查询中心代码",
        f"the center {code} is not known here: look it up through the hub (BDC909) first",
        status=422,
        center=code,
    )


def _recipient_key(conn: Connection, link: HubLink, to_center: str, *, suspended_ok: bool = False) -> bytes:
    if to_center == link.hub_code:
        return link.hub_encrypt_key
    row = conn.execute(
        select(peer_center.c.encrypt_key, peer_center.c.state).where(peer_center.c.code == to_center)
    ).first()
    if row is None:
        raise peer_unknown(to_center)
    if row.state != "active" and not suspended_ok:
        raise errors.recipient_suspended(to_center)
    return bytes.fromhex(row.encrypt_key)


def send(
    conn: Connection,
    ctx: Context,
    to_center: str,
    message_type: str,
    body: Body,
    *,
    reply_to: UUID | None = None,
    suspended_ok: bool = False,
) -> UUID:
    """Queue a message to ``to_center`` in the caller's transaction; its id. A center known to
    be suspended is refused unless ``suspended_ok`` (an answer that must not undo the change it
    reports: it is queued, and its delivery meets the hub's own refusal). With batches on
    (``HubLink.batch_max``), a BDC901/BDC905 to another center is queued as an item: signed and
    sealed later, with others, in one BDC902/BDC906 (:func:`pack_items`, decision 0036)."""
    link = current_link()
    if link.batch_max > 0 and message_type in BATCH_OF and to_center != link.hub_code:
        return _queue_item(conn, ctx, to_center, message_type, body, reply_to, suspended_ok=suspended_ok)
    envelope = protocol.compose(
        link.keys,
        sender=link.center_code,
        recipient=to_center,
        recipient_encrypt_key=_recipient_key(conn, link, to_center, suspended_ok=suspended_ok),
        message_type=message_type,
        body=body,
        now=ctx.clock.now(),
        reply_to=reply_to,
    )
    conn.execute(
        insert(exchanged_message).values(
            message_id=str(envelope.message_id),
            direction="out",
            type=envelope.type,
            peer=to_center,
            reply_to=str(reply_to) if reply_to else None,
            created_at=envelope.created_at,
            digest=envelope.digest(),
            envelope=protocol.envelope_json(envelope),
            state="recorded",
            attempts=0,
            letter_no=getattr(body, "letter_no", None),
        )
    )
    events.record(
        conn,
        ctx,
        QUEUED,
        "hub_message",
        envelope.message_id,
        {"type": message_type, "to": to_center, "reply_to": str(reply_to) if reply_to else None},
    )
    return envelope.message_id


def send_many(
    conn: Connection,
    ctx: Context,
    to_center: str,
    messages: Sequence[tuple[str, Body, UUID | None]],
    *,
    suspended_ok: bool = False,
) -> list[UUID]:
    """:func:`send` of many messages — ``(type, body, reply_to)`` each — to one center, in the
    caller's transaction; their ids in order. With batches on, BDC901/BDC905 items are written
    in one multi-row INSERT; otherwise each is sent as :func:`send` sends it."""
    link = current_link()
    if not (link.batch_max > 0 and to_center != link.hub_code and all(t in BATCH_OF for t, _, _ in messages)):
        return [
            send(conn, ctx, to_center, t, body, reply_to=reply, suspended_ok=suspended_ok)
            for t, body, reply in messages
        ]
    if not messages:
        return []
    _recipient_key(conn, link, to_center, suspended_ok=suspended_ok)  # known (and active), as for one
    rows, ids = [], []
    for message_type, body, reply_to in messages:
        item = _item(ctx, message_type, body, reply_to)
        ids.append(item.item_id)
        rows.append(_item_row(item, to_center, body))
    conn.execute(insert(exchanged_message), rows)
    return ids


def lookup_centers(conn: Connection, ctx: Context, codes: list[str]) -> UUID:
    """Ask the hub which centers ``codes`` name (BDC909); the answer fills ``peer_center``."""
    return send(conn, ctx, current_link().hub_code, "BDC909", CenterCodeQuery(codes=codes))


def ask_status(conn: Connection, ctx: Context, to_center: str, letter_no: str) -> UUID:
    """Ask another center where the transfer of a contact letter stands (BDC904)."""
    return send(conn, ctx, to_center, "BDC904", StatusQuery(letter_no=letter_no))


# -- delivery -----------------------------------------------------------------------------


def schedule(conn: Connection, ctx: Context, event: Event) -> None:
    """The delivery consumer's effect: the queued message is due now."""
    conn.execute(
        update(exchanged_message)
        .where(exchanged_message.c.message_id == event.object_id, exchanged_message.c.state == "recorded")
        .values(state="queued", next_attempt_at=ctx.clock.now())
    )


Round = protocol.Round
Receipt = protocol.Receipt


def _recorded_waiting(engine: Engine) -> bool:
    """Whether any outbound message waits for the delivery consumer (state ``recorded``): a plain
    indexed read, so that an idle round takes no lock on the event stream."""
    m = exchanged_message.c
    with read_transaction(engine) as conn:
        return conn.execute(select(m.message_id).where(m.state == "recorded").limit(1)).first() is not None


def deliver_due(
    engine: Engine,
    ctx: Context,
    post: Poster,
    *,
    now: Callable[[], datetime] | None = None,
    limit: int = 100,
    backoff_base: float = 1.0,
) -> Round:
    """One round of the delivery worker (see the module docstring)."""
    link = current_link()
    clock = now or ctx.clock.now
    scheduled = 0
    from hpf.transfers import registry_feed, report_feed  # (they send through this module)

    registry_feed.feed(engine, ctx)  # the registry messages of new loan and account events (0031)
    report_feed.feed(engine, ctx)  # the transfers' facts for the hub's reconciliation (0035)
    pack_items(engine, ctx)  # transfer messages queued as items: into BDC902/BDC906 (0036)
    if _recorded_waiting(engine):
        while n := events.consume(engine, ctx, CONSUMER, [QUEUED], schedule):
            scheduled += n
    m = exchanged_message.c
    with read_transaction(engine) as conn:
        due = conn.execute(
            select(m.message_id, m.envelope, m.attempts, m.type, m.peer)
            .where(m.direction == "out", m.state == "queued", m.next_attempt_at <= clock())
            .order_by(m.next_attempt_at, m.created_at)
            .limit(limit)
        ).all()
    outcomes = []
    for row in due:
        delivery = protocol.hop(link.keys, link.center_code, protocol.envelope_of(row.envelope), clock())
        status, answer = post(endpoint_url(link.hub_url), delivery.model_dump(mode="json"))
        outcomes.append(_record_attempt(engine, ctx, row, status, answer, clock(), backoff_base))
    return Round.of(outcomes, scheduled)


def _record_attempt(
    engine: Engine,
    ctx: Context,
    row: Any,
    status: int,
    answer: Mapping[str, Any],
    now: datetime,
    backoff_base: float,
) -> str:
    """The attempt's outcome written in a short transaction; a final refusal is also an event
    (``hub_message.refused``) for whoever follows the message's business."""
    state, values = protocol.attempt_outcome(row.attempts, status, answer, now, backoff_base)
    with write_transaction(engine) as conn:
        written = conn.execute(
            update(exchanged_message)
            .where(exchanged_message.c.message_id == row.message_id, exchanged_message.c.state == "queued")
            .values(state=state, **values)
        ).rowcount
        if written and row.type in FAMILY and state != "queued":  # a batch: its items with it
            conn.execute(
                update(exchanged_message)
                .where(exchanged_message.c.batch_id == row.message_id, exchanged_message.c.state == "batched")
                .values(state=state, **values)
            )
        if state == "refused" and written:
            events.record(
                conn,
                ctx,
                REFUSED,
                "hub_message",
                row.message_id,
                {"type": row.type, "to": row.peer, "status": status, "code": str(answer.get("code") or "")},
            )
    return state


# -- taking the hub's deliveries ----------------------------------------------------------


def _originator_key(link: HubLink, envelope: Envelope, vouched: CenterInfo | None) -> bytes:
    if envelope.sender == link.hub_code:
        return link.hub_sign_key
    if vouched is None or vouched.code != envelope.sender:
        raise errors.malformed("a forwarded message names its sender, as registered, in the hub's hop")
    return bytes.fromhex(vouched.sign_key)


def _remember(conn: Connection, ctx: Context, info: CenterInfo) -> None:
    """A center as the hub describes it, kept to seal messages to it (an answer, later ones)."""
    values = {
        "code": info.code,
        "name": info.name,
        "province": info.province,
        "state": info.state,
        "sign_key": info.sign_key,
        "encrypt_key": info.encrypt_key,
        "looked_up_at": ctx.clock.now(),
    }
    upsert(conn, peer_center, ["code"], values)


def _stored_digest(conn: Connection, message_id: str) -> str | None:
    return conn.scalar(select(exchanged_message.c.digest).where(exchanged_message.c.message_id == message_id))


def _check_question(conn: Connection, envelope: Envelope) -> None:
    """An answer must answer a question of ours: an ``out`` request of its type, sent to the
    answering party (the hub, for BDC909), not answered yet."""
    m = exchanged_message.c
    asked = conn.execute(
        select(m.message_id).where(
            m.message_id == str(envelope.reply_to),
            m.direction == "out",
            m.reply_to.is_(None),
            m.type == envelope.type,
            m.peer == envelope.sender,
            m.answered_by.is_(None),
        )
    ).first()
    if asked is None:
        raise errors.unexpected_answer(str(envelope.reply_to))


def receive(conn: Connection, ctx: Context, raw: bytes | dict[str, Any], now: datetime) -> Receipt:
    """Take one delivery from the hub (see the module docstring); refusals change nothing."""
    link = current_link()
    delivery = protocol.parse_delivery(raw)
    envelope, hop = delivery.envelope, delivery.hop
    if hop.by != link.hub_code:
        raise errors.sender_unknown(hop.by)  # centers never talk to each other directly
    protocol.check_hop(delivery, link.hub_sign_key)
    protocol.check_window(hop.sent_at, now, link.window_seconds)
    if envelope.recipient != link.center_code:
        raise errors.not_for_me(envelope.recipient, link.center_code)
    if envelope.type in protocol.HUB_ONLY_TYPES and envelope.sender != link.hub_code:
        raise errors.hub_only(envelope.type, envelope.sender)
    protocol.check_envelope(envelope, _originator_key(link, envelope, hop.sender))
    message_id = str(envelope.message_id)
    if protocol.check_duplicate(_stored_digest(conn, message_id), envelope):
        return Receipt(message_id, "duplicate")
    if envelope.type in FAMILY:
        return _receive_batch(conn, ctx, link, delivery.hop.sender, envelope, now)
    handler = installed().handlers.get((envelope.type, envelope.is_answer))
    if handler is None:
        raise errors.type_unhandled(envelope.type, envelope.is_answer)
    body = protocol.open_body(envelope, link.keys)
    if envelope.reply_to is not None:
        _check_question(conn, envelope)
    taken = insert_new(
        conn,
        exchanged_message,
        {
            "message_id": message_id,
            "direction": "in",
            "type": envelope.type,
            "peer": envelope.sender,
            "reply_to": str(envelope.reply_to) if envelope.reply_to else None,
            "created_at": envelope.created_at,
            "digest": envelope.digest(),
            "envelope": protocol.envelope_json(envelope),
            "state": "handled",
            "attempts": 0,
            "delivered_at": now,
            "letter_no": getattr(body, "letter_no", None),
        },
    )
    if not taken:  # the same id taken at the same moment by another request: that one counts
        protocol.check_duplicate(_stored_digest(conn, message_id), envelope)
        return Receipt(message_id, "duplicate")
    if envelope.reply_to is not None:
        m = exchanged_message.c
        linked = conn.execute(
            update(exchanged_message)
            .where(m.message_id == str(envelope.reply_to), m.direction == "out", m.answered_by.is_(None))
            .values(answered_by=message_id)
        ).rowcount
        if linked != 1:  # another answer to the same question came first
            raise errors.unexpected_answer(str(envelope.reply_to))
    if hop.sender is not None:
        _remember(conn, ctx, hop.sender)
    events.record(
        conn,
        ctx,
        RECEIVED,
        "hub_message",
        message_id,
        {
            "type": envelope.type,
            "from": envelope.sender,
            "reply_to": str(envelope.reply_to) if envelope.reply_to else None,
        },
    )
    handler(conn, ctx, Incoming(envelope, body))
    return Receipt(message_id, "accepted")


# -- batches: BDC902/BDC906 (decision 0036) -----------------------------------------------
#
# Sending: with batches on, a BDC901/BDC905 is written as an item (``state`` ``item``): its
# header and body as one JSON document, encrypted with the process key ring (no SM2 yet), its
# id the message id the single message would have had. The delivery round packs the waiting
# items by recipient and family, up to ``batch_max`` items and ``BATCH_MAX_BYTES`` of items, into
# one batch envelope signed and sealed once (an ordinary outbound message: retried as one); the
# items become ``batched`` with its id, and ``delivered``/``refused`` with it.
#
# Taking: the batch is de-duplicated by its id like any message; then each item, in order, in
# its own savepoint, as the single message of its id would be taken: seen before (a duplicate,
# nothing), an answer to a question of ours, its body checked against its single type's model,
# its handler. A refused item is rolled back alone and named in the batch's received event;
# its neighbours stand. So a batch and a single message about one letter are the same transfer.
# Consecutive items of one kind whose handler is a ``SetHandler`` are taken together instead, with
# the same outcomes (decision 0045: ``_take_together``; its handler pre-filters, so an item it
# refuses changes nothing), and one by one again should the set fail unforeseen.

ITEM_CONTEXT = "exchanged_message.item"
BATCH_MAX_BYTES = 600_000  # items' JSON per batch: the sealed envelope stays under 1 MiB


def _stored_item(item: BatchItem, batch_id: str | None = None) -> dict[str, Any]:
    sealed = ring().encrypt(item.model_dump_json(), context=ITEM_CONTEXT)
    return {"item": sealed} if batch_id is None else {"item": sealed, "batch": batch_id}


def _item_of(stored: Mapping[str, Any]) -> BatchItem:
    return BatchItem.model_validate_json(ring().decrypt(str(stored["item"]), context=ITEM_CONTEXT))


def _item_digest(item: BatchItem) -> str:
    import hashlib

    return hashlib.sha256(canonical(item.model_dump(mode="json"))).hexdigest()


def _queue_item(
    conn: Connection,
    ctx: Context,
    to_center: str,
    message_type: str,
    body: Body,
    reply_to: UUID | None,
    *,
    suspended_ok: bool = False,
) -> UUID:
    model = body_model(message_type, reply_to is not None)
    if model is None or not isinstance(body, model):
        raise errors.malformed(
            f"a {message_type} {'answer' if reply_to else 'request'} body must be a {model}"
        )
    _recipient_key(conn, current_link(), to_center, suspended_ok=suspended_ok)  # as for a single message
    item = _item(ctx, message_type, body, reply_to)
    conn.execute(insert(exchanged_message).values(**_item_row(item, to_center, body)))
    return item.item_id


def _item(ctx: Context, message_type: str, body: Body, reply_to: UUID | None) -> BatchItem:
    model = body_model(message_type, reply_to is not None)
    if model is None or not isinstance(body, model):
        raise errors.malformed(
            f"a {message_type} {'answer' if reply_to else 'request'} body must be a {model}"
        )
    return BatchItem(
        item_id=uuid4(), type=message_type, reply_to=reply_to, created_at=ctx.clock.now(),  # type: ignore[arg-type]
        body=body.model_dump(mode="json"),
    )  # fmt: skip


def _item_row(item: BatchItem, to_center: str, body: Body) -> dict[str, Any]:
    return {
        "message_id": str(item.item_id), "direction": "out", "type": item.type, "peer": to_center,
        "reply_to": str(item.reply_to) if item.reply_to else None, "created_at": item.created_at,
        "digest": _item_digest(item), "envelope": _stored_item(item), "state": "item", "attempts": 0,
        "letter_no": getattr(body, "letter_no", None),
    }  # fmt: skip


def _chunks(items: list[tuple[str, BatchItem]], most: int) -> list[list[tuple[str, BatchItem]]]:
    """Items in batches of at most ``most`` items and ``BATCH_MAX_BYTES`` of JSON, in order."""
    out: list[list[tuple[str, BatchItem]]] = []
    size = 0
    for entry in items:
        length = len(entry[1].model_dump_json())
        if not out or len(out[-1]) >= most or size + length > BATCH_MAX_BYTES:
            out.append([])
            size = 0
        out[-1].append(entry)
        size += length
    return out


def pack_items(engine: Engine, ctx: Context, *, limit: int = 5000) -> int:
    """Pack the waiting items into batches (see above); how many batches were made. Items for a
    center unknown or suspended since are refused (the event ``hub_message.refused`` each)."""
    m = exchanged_message.c
    with read_transaction(engine) as conn:
        if conn.execute(select(m.message_id).where(m.state == "item").limit(1)).first() is None:
            return 0
    link = current_link()
    most = link.batch_max or BATCH_MAX_ITEMS
    made = 0
    with write_transaction(engine) as conn:
        rows = conn.execute(
            select(m.message_id, m.type, m.peer, m.envelope)
            .where(m.state == "item")
            .order_by(m.created_at, m.message_id)
            .limit(limit)
        ).all()
        groups: dict[tuple[str, str], list[tuple[str, BatchItem]]] = {}
        for r in rows:
            groups.setdefault((r.peer, BATCH_OF[r.type]), []).append((r.message_id, _item_of(r.envelope)))
        for (peer, batch_type), entries in groups.items():
            for chunk in _chunks(entries, most):
                ids = [message_id for message_id, _ in chunk]
                try:
                    with conn.begin_nested():
                        batch_id = send(
                            conn, ctx, peer, batch_type, TransferBatch(items=[i for _, i in chunk])
                        )
                except HpfError as exc:  # the recipient is gone: refused, as a single message would be
                    conn.execute(
                        update(exchanged_message)
                        .where(m.message_id.in_(ids))
                        .values(state="refused", last_error=f"{exc.status} {exc.code}"[:300])
                    )
                    for message_id, item in chunk:
                        events.record(conn, ctx, REFUSED, "hub_message", message_id,
                                      {"type": item.type, "to": peer, "status": exc.status, "code": exc.code})  # fmt: skip
                    continue
                conn.execute(
                    update(exchanged_message)
                    .where(m.message_id.in_(ids), m.state == "item")
                    .values(state="batched", batch_id=str(batch_id))
                )
                made += 1
    return made


def _receive_batch(
    conn: Connection,
    ctx: Context,
    link: HubLink,
    vouched: CenterInfo | None,
    envelope: Envelope,
    now: datetime,
) -> Receipt:
    """A BDC902/BDC906 taken (its signatures checked, not seen before): each item in turn."""
    if envelope.reply_to is not None:
        raise errors.malformed("a batch is never an answer: its items answer")
    batch = protocol.open_body(envelope, link.keys)
    assert isinstance(batch, TransferBatch)
    message_id = str(envelope.message_id)
    taken = insert_new(
        conn,
        exchanged_message,
        {
            "message_id": message_id, "direction": "in", "type": envelope.type, "peer": envelope.sender,
            "reply_to": None, "created_at": envelope.created_at, "digest": envelope.digest(),
            "envelope": protocol.envelope_json(envelope), "state": "handled", "attempts": 0, "delivered_at": now,
        },
    )  # fmt: skip
    if not taken:
        protocol.check_duplicate(_stored_digest(conn, message_id), envelope)
        return Receipt(message_id, "duplicate")
    if vouched is not None:
        _remember(conn, ctx, vouched)
    handlers = installed().handlers
    m = exchanged_message.c
    ids = [str(i.item_id) for i in batch.items]  # the items taken before, in one read (not one per item)
    known = {
        r.message_id: r.digest
        for r in conn.execute(select(m.message_id, m.digest).where(m.message_id.in_(ids)))
    }
    tally = _Tally()
    run: list[BatchItem] = []  # consecutive items of one kind whose handler takes them together
    for item in batch.items:
        handler = handlers.get((item.type, item.reply_to is not None))
        if isinstance(handler, SetHandler) and FAMILY[envelope.type] == item.type:
            if run and (run[0].type, run[0].reply_to is None) != (item.type, item.reply_to is None):
                _take_run(conn, ctx, handlers, handler_of(handlers, run[0]), envelope, run, now, known, tally)
                run = []
            run.append(item)
            continue
        if run:
            _take_run(conn, ctx, handlers, handler_of(handlers, run[0]), envelope, run, now, known, tally)
            run = []
        _take_alone(conn, ctx, handlers, envelope, item, now, known, tally)
    if run:
        _take_run(conn, ctx, handlers, handler_of(handlers, run[0]), envelope, run, now, known, tally)
    events.record(
        conn, ctx, RECEIVED, "hub_message", message_id,
        {"type": envelope.type, "from": envelope.sender, "reply_to": None, "items": len(batch.items),
         "taken": tally.done, "duplicates": tally.seen, "refused": tally.refused[:100]},
    )  # fmt: skip
    return Receipt(message_id, "accepted")


@dataclass
class _Tally:
    """A batch's items as taken: new, seen before, refused (each named)."""

    done: int = 0
    seen: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, item: BatchItem, exc: HpfError) -> None:
        self.refused.append({"item_id": str(item.item_id), "type": item.type, "code": exc.code,
                             "detail": str(exc.detail)[:200]})  # fmt: skip


def handler_of(handlers: Mapping[tuple[str, bool], Any], item: BatchItem) -> SetHandler:
    handler = handlers[(item.type, item.reply_to is not None)]
    assert isinstance(handler, SetHandler)
    return handler


def _take_alone(
    conn: Connection,
    ctx: Context,
    handlers: Mapping[tuple[str, bool], Any],
    batch: Envelope,
    item: BatchItem,
    now: datetime,
    known: Mapping[str, str],
    tally: _Tally,
) -> None:
    """One item in its own savepoint (decision 0036): refused, it is rolled back alone."""
    try:
        with conn.begin_nested():
            if _take_item(conn, ctx, handlers, batch, item, now, known.get(str(item.item_id))):
                tally.done += 1
            else:
                tally.seen += 1
    except HpfError as exc:  # this item alone: rolled back to its savepoint
        tally.refuse(item, exc)


def _take_run(
    conn: Connection,
    ctx: Context,
    handlers: Mapping[tuple[str, bool], Any],
    handler: SetHandler,
    batch: Envelope,
    items: list[BatchItem],
    now: datetime,
    known: Mapping[str, str],
    tally: _Tally,
) -> None:
    """Items of one kind taken together by their set handler (decision 0045), with the outcomes
    of taking them one by one; should the set fail where its pre-filter did not foresee, each
    item alone in its savepoint, as before."""
    together = _Tally()
    try:
        with conn.begin_nested():
            _take_together(conn, ctx, handler, batch, items, now, known, together)
    except HpfError:
        for item in items:
            _take_alone(conn, ctx, handlers, batch, item, now, known, tally)
        return
    tally.done += together.done
    tally.seen += together.seen
    tally.refused += together.refused


def _item_body(item: BatchItem) -> Body:
    """An item's body checked against its single type's model."""
    is_answer = item.reply_to is not None
    model = body_model(item.type, is_answer)
    if model is None:
        raise errors.type_unhandled(item.type, is_answer)
    try:
        return model.model_validate(item.body)
    except ValidationError as exc:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()[:20]
        ]
        raise errors.malformed(f"an item does not fit a {item.type} message", errors=problems) from exc


def _single(batch: Envelope, item: BatchItem) -> Envelope:
    """The single message an item stands for (its id, type, time and question; the batch's
    sender and recipient)."""
    return Envelope.model_construct(
        schema_version=1, message_id=item.item_id, type=item.type, sender=batch.sender, recipient=batch.recipient,
        created_at=item.created_at, reply_to=item.reply_to, body=batch.body, signature=batch.signature,
    )  # fmt: skip


def _inbox_row(batch: Envelope, item: BatchItem, digest: str, body: Body, now: datetime) -> dict[str, Any]:
    return {
        "message_id": str(item.item_id), "direction": "in", "type": item.type, "peer": batch.sender,
        "reply_to": str(item.reply_to) if item.reply_to is not None else None, "created_at": item.created_at,
        "digest": digest, "envelope": _stored_item(item, str(batch.message_id)), "state": "handled",
        "attempts": 0, "delivered_at": now, "letter_no": getattr(body, "letter_no", None),
        "batch_id": str(batch.message_id),
    }  # fmt: skip


def _take_together(
    conn: Connection,
    ctx: Context,
    handler: SetHandler,
    batch: Envelope,
    items: list[BatchItem],
    now: datetime,
    known: Mapping[str, str],
    tally: _Tally,
) -> None:
    """The checks of :func:`_take_item` item by item (no statement), the questions answered read
    in one statement, the handler's set form, then the inbox rows in one INSERT and the answers
    linked to their questions in one executemany. An item refused changes nothing."""
    taking: list[tuple[BatchItem, str, Body]] = []
    here: set[str] = set()
    for item in items:
        item_id, digest = str(item.item_id), _item_digest(item)
        stored = known.get(item_id)
        if stored is not None and stored != digest:
            tally.refuse(item, errors.id_reused(item_id))
        elif stored is not None or item_id in here:  # taken before, or twice in this batch
            tally.seen += 1
        else:
            try:
                body = _item_body(item)
            except HpfError as exc:
                tally.refuse(item, exc)
                continue
            here.add(item_id)
            taking.append((item, digest, body))
    m = exchanged_message.c
    questions = sorted({str(i.reply_to) for i, _, _ in taking if i.reply_to is not None})
    if questions:  # an answer must answer an unanswered question of ours (one answer each)
        query = select(m.message_id).where(
            m.message_id.in_(questions), m.direction == "out", m.reply_to.is_(None),
            m.type == items[0].type, m.peer == batch.sender, m.answered_by.is_(None),
        )  # fmt: skip
        open_ = set(conn.execute(query.with_for_update()).scalars())
        kept = []
        for entry in taking:
            asked = str(entry[0].reply_to) if entry[0].reply_to is not None else None
            if asked is not None and asked not in open_:
                tally.refuse(entry[0], errors.unexpected_answer(asked))
                continue
            open_.discard(asked or "")
            kept.append(entry)
        taking = kept
    if not taking:
        return
    outcomes = handler.many(conn, ctx, [Incoming(_single(batch, i), body) for i, _, body in taking])
    taken = []
    for entry, refused in zip(taking, outcomes, strict=True):
        if refused is None:
            taken.append(entry)
        else:
            tally.refuse(entry[0], refused)
    rows = [_inbox_row(batch, i, digest, body, now) for i, digest, body in taken]
    if len(insert_new_many(conn, exchanged_message, rows)) != len(rows):
        # taken at the same moment by another request: that one counts (each alone, then)
        raise HpfError(
            "message.taken_meanwhile", "报文已由另一请求处理", "an item was taken meanwhile", status=409
        )
    answers = [{"q": str(i.reply_to), "a": str(i.item_id)} for i, _, _ in taken if i.reply_to is not None]
    if answers:
        conn.execute(
            update(exchanged_message)
            .where(m.message_id == bindparam("q"), m.direction == "out", m.answered_by.is_(None))
            .values(answered_by=bindparam("a")),
            answers,
        )
    tally.done += len(taken)


def _take_item(
    conn: Connection,
    ctx: Context,
    handlers: Mapping[tuple[str, bool], Any],
    batch: Envelope,
    item: BatchItem,
    now: datetime,
    stored: str | None,
) -> bool:
    """One item, as its single message would be taken (``stored``: the digest kept under its id,
    if it was taken before); False: taken before (nothing changes)."""
    if FAMILY[batch.type] != item.type:
        raise errors.malformed(f"a {batch.type} carries {FAMILY[batch.type]} items, not {item.type}")
    item_id = str(item.item_id)
    digest = _item_digest(item)
    if stored is not None:
        if stored != digest:
            raise errors.id_reused(item_id)
        return False
    is_answer = item.reply_to is not None
    handler = handlers.get((item.type, is_answer))
    if handler is None:
        raise errors.type_unhandled(item.type, is_answer)
    body = _item_body(item)
    single = _single(batch, item)
    if is_answer:
        _check_question(conn, single)
    taken = insert_new(conn, exchanged_message, _inbox_row(batch, item, digest, body, now))
    if not taken:
        return False
    if is_answer:
        m = exchanged_message.c
        linked = conn.execute(
            update(exchanged_message)
            .where(m.message_id == str(item.reply_to), m.direction == "out", m.answered_by.is_(None))
            .values(answered_by=item_id)
        ).rowcount
        if linked != 1:
            raise errors.unexpected_answer(str(item.reply_to))
    handler(conn, ctx, Incoming(single, body))
    return True


def stored_body(conn: Connection, message_id: str) -> Body | None:
    """The body of a message this center received (opened with its key), or of an item of a batch
    (read back from the key ring); None when there is no such message."""
    stored = conn.scalar(
        select(exchanged_message.c.envelope).where(exchanged_message.c.message_id == message_id)
    )
    return None if stored is None else _body_of(stored)


def stored_bodies(conn: Connection, message_ids: Sequence[str]) -> dict[str, Body]:
    """:func:`stored_body` of many messages in one read per chunk: ``{message id: body}`` of those
    that exist."""
    ids = list(dict.fromkeys(message_ids))
    m = exchanged_message.c
    found: dict[str, Body] = {}
    for start in range(0, len(ids), 900):
        rows = conn.execute(
            select(m.message_id, m.envelope).where(m.message_id.in_(ids[start : start + 900]))
        )
        found.update({str(i): _body_of(stored) for i, stored in rows})
    return found


def _body_of(stored: Any) -> Body:
    if isinstance(stored, str):
        import json

        stored = json.loads(stored)
    if "item" in stored:
        item = _item_of(stored)
        model = body_model(item.type, item.reply_to is not None)
        assert model is not None
        return model.model_validate(item.body)
    return protocol.open_body(protocol.envelope_of(stored), current_link().keys)


# -- the handlers of this session's messages (declared in hpf.bootstrap) ------------------


def centers_found(conn: Connection, ctx: Context, message: Incoming) -> None:
    """BDC909 answer: remember the centers the hub described (their keys, to seal to them)."""
    assert isinstance(message.body, CenterCodeAnswer)
    for info in message.body.centers:
        _remember(conn, ctx, info)


def status_answered(conn: Connection, ctx: Context, message: Incoming) -> None:
    """BDC904 answer: kept, linked to the query it answers (``answered_by``), and its feedback
    recorded as an event on the query for whoever follows the transfer."""
    assert isinstance(message.body, StatusAnswer)
    events.record(
        conn,
        ctx,
        "hub_message.status_answered",
        "hub_message",
        message.envelope.reply_to,
        {
            "letter_no": message.body.letter_no,
            "feedback_code": message.body.feedback_code,
            "status": message.body.status,
            "answer": str(message.envelope.message_id),
        },
    )


HANDLERS: dict[tuple[str, bool], Callable[[Connection, Context, Incoming], None]] = {
    ("BDC909", True): centers_found,
    ("BDC904", True): status_answered,
}


# -- reads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageRow:
    message_id: str
    direction: str
    type: str
    peer: str
    reply_to: str | None
    state: str
    attempts: int
    answered_by: str | None
    last_error: str | None


def message_of(conn: Connection, message_id: UUID | str) -> MessageRow | None:
    m = exchanged_message.c
    row = conn.execute(
        select(
            m.message_id,
            m.direction,
            m.type,
            m.peer,
            m.reply_to,
            m.state,
            m.attempts,
            m.answered_by,
            m.last_error,
        ).where(m.message_id == str(message_id))
    ).first()
    return MessageRow(**row._mapping) if row is not None else None


def messages(conn: Connection, *, direction: str | None = None) -> list[MessageRow]:
    m = exchanged_message.c
    query = select(
        m.message_id,
        m.direction,
        m.type,
        m.peer,
        m.reply_to,
        m.state,
        m.attempts,
        m.answered_by,
        m.last_error,
    ).order_by(m.created_at, m.message_id)
    if direction is not None:
        query = query.where(m.direction == direction)
    return [MessageRow(**r._mapping) for r in conn.execute(query)]


def peers(conn: Connection) -> dict[str, str]:
    """The known centers: code → state."""
    return {str(c): str(s) for c, s in conn.execute(select(peer_center.c.code, peer_center.c.state))}
