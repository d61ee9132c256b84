"""The hub's messaging: take a message, route it or answer it, and deliver what waits.

**Taking** (:func:`receive`, one write transaction, the receiver's checks of
``hpf.messages.protocol`` in order): the hop must come from the envelope's own sender (a center
sends only its own messages), a registered and active center whose key verifies the hop and the
envelope, sent within the time window. A message id already taken with the same content is a
duplicate (answered as the first time, nothing changes); with other content it is refused.
Then:

- addressed to the hub itself: the hub opens the body (sealed to the hub) and answers — BDC909,
  the center-code lookup, from the registry; the answer waits in the outbox — or keeps it: an
  XC01/XC02 updates the national loan registry and account index (``hpf.hub.loan_registry``,
  decision 0031; the XC03 inquiry has its own endpoint, ``hpf.hub.inquiry``); an XC04 keeps a
  center's side of its transfers for reconciliation (``hpf.hub.transfer_reports``, decision 0035);
- addressed to another center: never a BDC909 (between a center and the hub only:
  ``message.hub_only``); the recipient must be registered and active; the envelope is
  stored as it came (the body stays sealed to the recipient: the hub cannot read it) and waits in
  the outbox, ``queued``.

**Delivering** (:func:`deliver_due`): each due message is sent in a new hop signed by the hub
(for a forwarded one, naming the originator as registered — its keys —, so the recipient verifies
both signatures and can answer it) to the recipient's endpoint. Accepted (2xx): ``delivered``; a final refusal
(4xx): ``refused`` with its code; anything else (down, 5xx, 429): retried after a backoff that
doubles from 1 s to at most 5 minutes; a recipient unregistered or suspended since: ``refused`` at
once, the reason in ``last_error``. No lock is held while a request is in flight. Two requests
taking the same message at once: one accepts it, the other answers ``duplicate``
(``hpf.db.upsert.insert_new``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, func, select, update

from hpf.db.engine import read_transaction, write_transaction
from hpf.db.upsert import insert_new
from hpf.hub import loan_registry, registry, transfer_reports, warehouse
from hpf.hub.tables import hub_message
from hpf.messages import errors, protocol
from hpf.messages.bodies import Body, CenterCodeAnswer, CenterCodeQuery, SupervisionReport, TransferReport
from hpf.messages.envelope import Envelope
from hpf.messages.keys import KeyPair
from hpf.messages.transport import Poster, endpoint_url

STATE_ZH = {"handled": "已处理", "queued": "待投递", "delivered": "已投递", "refused": "被拒收"}
ROUTE_ZH = {"hub": "发往平台", "forward": "转发", "origin": "平台发出"}


@dataclass(frozen=True)
class Hub:
    """Who the hub is: its code, its keys, its time window."""

    code: str
    keys: KeyPair
    window_seconds: int = protocol.WINDOW_SECONDS
    warehouse_dir: Path | None = None  # the national warehouse's Parquet files (decision 0039)


Receipt = protocol.Receipt
Round = protocol.Round


def _active_sender(conn: Connection, code: str) -> registry.Center:
    center = registry.center_of(conn, code)
    if center is None:
        raise errors.sender_unknown(code)
    if not center.active:
        raise errors.sender_suspended(code)
    return center


def store_message(
    conn: Connection, envelope: Envelope, *, route: str, state: str, now: datetime, delivered: bool = False
) -> bool:
    """Store a message taken or composed here; False if its id was stored already (the same
    message taken at the same moment by another request). ``delivered``: an answer the taking
    request itself carries back (one attempt, delivered now)."""
    return insert_new(
        conn,
        hub_message,
        {
            "message_id": str(envelope.message_id),
            "type": envelope.type,
            "sender": envelope.sender,
            "recipient": envelope.recipient,
            "reply_to": str(envelope.reply_to) if envelope.reply_to else None,
            "created_at": envelope.created_at,
            "received_at": now,
            "digest": envelope.digest(),
            "envelope": protocol.envelope_json(envelope),
            "route": route,
            "state": state,
            "attempts": 1 if delivered else 0,
            "next_attempt_at": now if state == "queued" else None,
            "delivered_at": now if delivered else None,
        },
    )


def _duplicate(conn: Connection, envelope: Envelope) -> Receipt | None:
    """The receipt of a message taken before (the same content), None for a new one."""
    message_id = str(envelope.message_id)
    seen = conn.execute(
        select(hub_message.c.digest, hub_message.c.route).where(hub_message.c.message_id == message_id)
    ).first()
    if protocol.check_duplicate(seen.digest if seen is not None else None, envelope):
        assert seen is not None
        return Receipt(message_id, "duplicate", seen.route)
    return None


def receive(conn: Connection, hub: Hub, raw: bytes | dict[str, Any], now: datetime) -> Receipt:
    """Take one delivery from a center (see the module docstring); refusals change nothing."""
    delivery = protocol.parse_delivery(raw)
    envelope, hop = delivery.envelope, delivery.hop
    if hop.by != envelope.sender:
        raise errors.malformed("a center sends only its own messages (hop.by must be the envelope's sender)")
    if hop.sender is not None:
        raise errors.malformed("only the hub vouches for a sender")
    sender = _active_sender(conn, hop.by)
    sign_key = bytes.fromhex(sender.sign_key)
    protocol.check_hop(delivery, sign_key)
    protocol.check_window(hop.sent_at, now, hub.window_seconds)
    protocol.check_envelope(envelope, sign_key)
    message_id = str(envelope.message_id)
    if (earlier := _duplicate(conn, envelope)) is not None:
        return earlier
    if envelope.recipient == hub.code:
        body = protocol.open_body(envelope, hub.keys)
        if not store_message(conn, envelope, route="hub", state="handled", now=now):
            return _duplicate(conn, envelope) or Receipt(message_id, "duplicate", "hub")
        _answer(conn, hub, envelope, body, sender, now)
        return Receipt(message_id, "accepted", "hub")
    if envelope.type in protocol.HUB_ONLY_TYPES:
        raise errors.hub_only(envelope.type, envelope.sender)
    recipient = registry.center_of(conn, envelope.recipient)
    if recipient is None:
        raise errors.recipient_unknown(envelope.recipient)
    if not recipient.active:
        raise errors.recipient_suspended(envelope.recipient)
    if not store_message(conn, envelope, route="forward", state="queued", now=now):
        return _duplicate(conn, envelope) or Receipt(message_id, "duplicate", "forward")
    return Receipt(message_id, "accepted", "forward")


def _answer(
    conn: Connection, hub: Hub, query: Envelope, body: object, sender: registry.Center, now: datetime
) -> None:
    """The hub's own answer to a message addressed to it, queued for delivery."""
    if query.type in loan_registry.REGISTRY_TYPES:  # XC01/XC02: kept, not answered (decision 0031)
        assert isinstance(body, Body)
        loan_registry.take(conn, loan_registry.pseudonym_key(hub.keys), query, body, now)
        return
    if isinstance(body, TransferReport):  # XC04: kept for reconciliation, not answered (0035)
        transfer_reports.take(conn, query, body, now)
        return
    if query.type in warehouse.REPORT_TYPES:  # SUP101: kept in the warehouse (decision 0039)
        assert isinstance(body, SupervisionReport)
        version = warehouse.take(conn, hub.warehouse_dir, query, body, now)
        if version is not None and hub.warehouse_dir is not None:  # the month is current: supervise it (0040)
            from hpf.hub.supervision import run as supervision_run

            totals = warehouse.indicator_totals(hub.warehouse_dir, query.sender, body.month, version)
            supervision_run.take_report(
                conn, hub, center=query.sender, month=body.month, values=totals, now=now
            )
        return
    from hpf.hub.supervision import messages as supervision  # decision 0040 (SUP2xx to the hub)

    if query.type in supervision.TAKEN:
        assert isinstance(body, Body)
        supervision.take(conn, hub, query, body, now)
        return
    if isinstance(body, CenterCodeQuery):
        found, unknown = registry.lookup(conn, list(body.codes))
        answer = CenterCodeAnswer(centers=[c.info() for c in found], unknown=unknown)
    else:
        raise errors.type_unhandled(query.type, query.is_answer)
    envelope = protocol.compose(
        hub.keys,
        sender=hub.code,
        recipient=sender.code,
        recipient_encrypt_key=bytes.fromhex(sender.encrypt_key),
        message_type=query.type,
        body=answer,
        now=now,
        reply_to=query.message_id,
    )
    store_message(conn, envelope, route="origin", state="queued", now=now)


def deliver_due(
    engine: Engine,
    hub: Hub,
    post: Poster,
    now: Callable[[], datetime],
    *,
    limit: int = 100,
    backoff_base: float = 1.0,
) -> Round:
    """Send every message due now (see the module docstring): one round of the worker."""
    m = hub_message.c
    with read_transaction(engine) as conn:
        due = conn.execute(
            select(m.message_id, m.envelope, m.attempts, m.route, m.sender, m.recipient)
            .where(m.state == "queued", m.next_attempt_at <= now())
            .order_by(m.next_attempt_at, m.received_at)
            .limit(limit)
        ).all()
        parties = {c.code: c for c in registry.centers(conn)}
    outcomes = []
    for row in due:
        envelope = protocol.envelope_of(row.envelope)
        recipient = parties.get(row.recipient)
        sender = parties[row.sender].info() if row.route == "forward" and row.sender in parties else None
        if recipient is None or not recipient.active:  # unregistered or suspended since: refused,
            refusal = (  # not retried for ever (a message for it is sent anew once it is back)
                errors.recipient_unknown(row.recipient)
                if recipient is None
                else errors.recipient_suspended(row.recipient)
            )
            status, answer = refusal.status, {"code": refusal.code, "detail": refusal.detail}
        else:
            delivery = protocol.hop(hub.keys, hub.code, envelope, now(), sender=sender)
            status, answer = post(endpoint_url(recipient.endpoint), delivery.model_dump(mode="json"))
        outcomes.append(
            _record_attempt(engine, row.message_id, row.attempts, status, answer, now(), backoff_base)
        )
    return Round.of(outcomes)


def _record_attempt(
    engine: Engine,
    message_id: str,
    attempts: int,
    status: int,
    answer: dict[str, Any],
    now: datetime,
    backoff_base: float,
) -> str:
    m = hub_message.c
    state, values = protocol.attempt_outcome(attempts, status, answer, now, backoff_base)
    with write_transaction(engine) as conn:
        conn.execute(
            update(hub_message)
            .where(m.message_id == message_id, m.state == "queued")
            .values(state=state, **values)
        )
    return state


@dataclass(frozen=True)
class MessageRow:
    message_id: str
    type: str
    sender: str
    recipient: str
    reply_to: str | None
    received_at: datetime
    route: str
    state: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


def recent_messages(conn: Connection, limit: int = 50) -> list[MessageRow]:
    """The latest messages the hub took or sent, newest first (header only: bodies stay sealed)."""
    m = hub_message.c
    rows = conn.execute(
        select(
            m.message_id,
            m.type,
            m.sender,
            m.recipient,
            m.reply_to,
            m.received_at,
            m.route,
            m.state,
            m.attempts,
            m.last_error,
            m.delivered_at,
        )
        .order_by(m.received_at.desc(), m.message_id)
        .limit(limit)
    ).all()
    return [MessageRow(**r._mapping) for r in rows]


def message_counts(conn: Connection) -> dict[str, int]:
    m = hub_message.c
    return {str(s): int(n) for s, n in conn.execute(select(m.state, func.count()).group_by(m.state))}


def message_state(conn: Connection, message_id: UUID | str) -> str | None:
    return conn.scalar(select(hub_message.c.state).where(hub_message.c.message_id == str(message_id)))
