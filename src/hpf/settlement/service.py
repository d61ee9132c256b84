"""Payouts in two phases: reserve in the ledger, then send to the bank and apply its answer.

The only way money leaves the center. Callers (withdrawals, loans) know their own rules;
settlement knows how to pay:

1. ``reserve(conn, ctx, request)`` — in the caller's transaction: a ``payment_order`` in state
   ``reserved`` and the entry debit-the-sources / credit 21903 (付款在途). The balance drops at
   once, so the database refuses a second payout that would overdraw it. Idempotent by the
   request's key.
2. ``send(engine, ctx, order_id, bank)`` (the payment run ``send_reserved`` calls it per order) — commits ``sent`` *before* calling the bank (BDC101),
   then applies the answer in a new transaction: paid (debit 21903 / credit 101), failed (the
   reservation reversed: the money goes back where it came from) or, with no answer, unknown.
3. ``resolve(engine, ctx, order_id, bank)`` — asks the bank (BDC110) about an order that is
   ``sent`` or ``unknown``; if the bank never received it, sends the *same* 业务流水号 again (the
   bank pays one number at most once). Nothing here ever pays an order twice.

Every state change writes a ``payment_order_event`` row and a business event
(``payment_order.<state>``) in its transaction; the owner's listener hears the final one there
(``hpf.settlement.owners``). Answers that
arrive twice or late (after the order was resolved another way) change nothing; one that
contradicts a final state is recorded as an event and left to reconciliation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from hpf import events
from hpf.db.bulk import among, bulk_insert
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.ledger import queries as ledger_queries
from hpf.ledger import service as ledger
from hpf.ledger.chart import BANK_DEPOSITS, PAYMENTS_IN_TRANSIT
from hpf.protection.protect import blind_index, to_plain, to_stored
from hpf.settlement import messages as m
from hpf.settlement import owners
from hpf.settlement.adapter import BankAdapter, BankNoAnswer, bank_unavailable
from hpf.settlement.rules import (
    FINAL,
    OPEN_WITH_BANK,
    BankStatus,
    OrderState,
    PayoutRequest,
    check_transition,
    order_no_of,
    payment_entry,
    reservation_entry,
)
from hpf.settlement.tables import bank_notice, payment_order, payment_order_event

# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One state change of a payment order (``payment_order_event``)."""

    id: int
    order_id: int
    from_state: str | None
    to_state: str
    business_date: date
    recorded_at: datetime
    actor: str
    source: str  # send, query, notice, batch, cancel, reserve
    note: str


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """A payment order (付款指令) with its payee in plaintext; ``events`` oldest first, when read
    with them (:func:`get_order`)."""

    id: int
    order_no: str | None
    idempotency_key: str
    fingerprint: str
    owner_kind: str
    owner_id: str
    business_type: str
    fund_business_type: str
    summary: str
    amount_fen: int
    payee_name: str
    payee_account_no: str
    payee_account_class: str
    payee_bank_name: str
    payee_bank_code: str
    settle_type: str
    state: str
    reserve_entry_id: int | None
    settle_entry_id: int | None
    batch_no: str | None
    bank_seq_no: str | None
    bank_date: date | None
    failure_code: str | None
    failure_reason: str | None
    attempts: int
    created_on: date
    sent_on: date | None
    settled_on: date | None
    recorded_at: datetime
    actor: str
    version: int
    events: tuple[OrderEvent, ...] = ()


def _order_of(o: Mapping[str, Any], events: tuple[OrderEvent, ...] = ()) -> PaymentOrder:
    """An order from its row in plaintext (``to_plain``)."""
    return PaymentOrder(
        id=o["id"], order_no=o["order_no"], idempotency_key=o["idempotency_key"], fingerprint=o["fingerprint"],
        owner_kind=o["owner_kind"], owner_id=o["owner_id"], business_type=o["business_type"],
        fund_business_type=o["fund_business_type"], summary=o["summary"], amount_fen=o["amount_fen"],
        payee_name=o["payee_name"], payee_account_no=o["payee_account_no"],
        payee_account_class=o["payee_account_class"], payee_bank_name=o["payee_bank_name"],
        payee_bank_code=o["payee_bank_code"], settle_type=o["settle_type"], state=o["state"],
        reserve_entry_id=o["reserve_entry_id"], settle_entry_id=o["settle_entry_id"], batch_no=o["batch_no"],
        bank_seq_no=o["bank_seq_no"], bank_date=o["bank_date"], failure_code=o["failure_code"],
        failure_reason=o["failure_reason"], attempts=o["attempts"], created_on=o["created_on"],
        sent_on=o["sent_on"], settled_on=o["settled_on"], recorded_at=o["recorded_at"], actor=o["actor"],
        version=o["version"], events=events,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    """What an account change notice (SBDC100) did: ``applied``, ``no_effect``, ``conflict``,
    ``unmatched`` or ``duplicate``, and the order it named."""

    notice_no: str
    outcome: str
    order_id: int | None


# ------------------------------------------------------------------------------------ reads


def _row(conn: Connection, order_id: int, *, lock: bool = False) -> dict[str, Any]:
    stmt = select(payment_order).where(payment_order.c.id == order_id)
    if lock and conn.dialect.name == "postgresql":  # SQLite: the write transaction is the lock
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise NotFound("settlement.order_not_found", "付款指令不存在", f"no payment order {order_id}")
    return to_plain("payment_order", row)


def get_order(conn: Connection, order_id: int) -> PaymentOrder:
    """An order with its payee in plaintext and its events, oldest first."""
    order = _row(conn, order_id)
    e = payment_order_event.c
    rows = conn.execute(select(payment_order_event).where(e.order_id == order_id).order_by(e.id)).mappings()
    events = tuple(
        OrderEvent(
            id=x["id"], order_id=x["order_id"], from_state=x["from_state"], to_state=x["to_state"],
            business_date=x["business_date"], recorded_at=x["recorded_at"], actor=x["actor"],
            source=x["source"], note=x["note"],
        )
        for x in rows
    )  # fmt: skip
    return _order_of(order, events)


def _by_no(conn: Connection, order_no: str) -> dict[str, Any] | None:
    row = conn.execute(select(payment_order).where(payment_order.c.order_no == order_no)).mappings().first()
    return None if row is None else to_plain("payment_order", row)


def order_by_no(conn: Connection, order_no: str) -> PaymentOrder | None:
    row = _by_no(conn, order_no)
    return None if row is None else _order_of(row)


def list_orders(
    conn: Connection,
    *,
    state: str | None = None,
    owner_kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[PaymentOrder]:
    stmt = select(payment_order)
    if state:
        stmt = stmt.where(payment_order.c.state == state)
    if owner_kind:
        stmt = stmt.where(payment_order.c.owner_kind == owner_kind)
    rows = conn.execute(stmt.order_by(payment_order.c.id.desc()).limit(limit).offset(offset)).mappings()
    return [_order_of(to_plain("payment_order", r)) for r in rows]


def state_counts(conn: Connection) -> dict[str, tuple[int, int]]:
    """(orders, fen) per state."""
    rows = conn.execute(
        select(payment_order.c.state, func.count(), func.coalesce(func.sum(payment_order.c.amount_fen), 0))
        .group_by(payment_order.c.state)
    )  # fmt: skip
    return {state: (int(n), int(fen)) for state, n, fen in rows}


# ------------------------------------------------------------------------------ state changes


# Built once, with bound parameters: the statements every reservation runs (issue 11: building a
# statement with its values, and its cache key, cost more than SQLite's own work).
_INSERT_EVENT = insert(payment_order_event)
_ORDER_BY_KEY = select(payment_order).where(payment_order.c.idempotency_key == bindparam("b_key"))
_INSERT_ORDER = insert(payment_order).returning(payment_order.c.id)
_NUMBER_ORDER = (
    update(payment_order)
    .where(payment_order.c.id == bindparam("b_id"))
    .values(order_no=bindparam("v_order_no"), reserve_entry_id=bindparam("v_entry_id"))
    .returning(payment_order)
)


def _event(
    conn: Connection, ctx: Context, order_id: int, old: str | None, new: str, source: str, note: str
) -> None:
    conn.execute(_INSERT_EVENT, {
        "order_id": order_id, "from_state": old, "to_state": new, "business_date": ctx.clock.today(),
        "recorded_at": ctx.clock.now(), "actor": ctx.actor, "source": source, "note": note[:200],
    })  # fmt: skip


def _move(
    conn: Connection,
    ctx: Context,
    order: dict[str, Any],
    target: OrderState,
    source: str,
    note: str,
    **values: Any,
) -> dict[str, Any]:
    """Change an order's state (checked against ``TRANSITIONS``) and record the event."""
    current = OrderState(order["state"])
    check_transition(current, target)
    changed = conn.execute(
        update(payment_order)
        .where(payment_order.c.id == order["id"], payment_order.c.version == order["version"])
        .values(state=target.value, version=payment_order.c.version + 1, **values)
    ).rowcount
    if changed != 1:  # a concurrent writer got there first (PostgreSQL row lock makes this rare)
        raise Conflict(
            "settlement.concurrent_change", "付款指令正被同时处理，请重试", "the order changed; retry"
        )
    _event(conn, ctx, order["id"], current.value, target.value, source, note)
    moved = {**order, **values, "state": target.value, "version": order["version"] + 1}
    events.record(
        conn, ctx, f"payment_order.{target.value}", "payment_order", order["id"], _payload(ctx, moved)
    )
    return moved


def _payload(ctx: Context, order: dict[str, Any]) -> dict[str, Any]:
    """What an order's event tells: the order and its owner; the outcome once it is final (the
    owner's listener reads it, ``owners.PayoutOutcome.of``)."""
    if OrderState(order["state"]) in FINAL:
        return owners.PayoutOutcome(
            order_id=order["id"], order_no=order["order_no"], owner_kind=order["owner_kind"],
            owner_id=order["owner_id"], state=order["state"], amount_fen=order["amount_fen"],
            settled_on=ctx.clock.today(), bank_seq_no=order.get("bank_seq_no"),
            failure_code=order.get("failure_code"), failure_reason=order.get("failure_reason"),
        ).payload()  # fmt: skip
    return {"order_no": order["order_no"], "owner_kind": order["owner_kind"], "owner_id": order["owner_id"],
            "amount_fen": order["amount_fen"]}  # fmt: skip


# ------------------------------------------------------------------------------------ phase 1


def reserve(conn: Connection, ctx: Context, request: PayoutRequest) -> PaymentOrder:
    """Phase 1, in the caller's transaction: an order in ``reserved`` and the money in 21903.

    The same key with the same request returns the first order; with another request it is
    refused. An overdraft is refused by the ledger (``ledger.insufficient_balance``): the caller's
    transaction then rolls back and nothing is left behind.
    """
    owners.require_listened(request.owner_kind)  # an owner nobody would tell is refused up front
    payee_digest = blind_index("payment_order", "payee", f"{request.payee.name}|{request.payee.account_no}")
    fingerprint = request.fingerprint(payee_digest)
    seen = conn.execute(_ORDER_BY_KEY, {"b_key": request.idempotency_key}).mappings().first()
    if seen is not None:
        if seen["fingerprint"] != fingerprint:
            raise Conflict(
                "settlement.idempotency_conflict", "幂等键已用于另一笔付款",
                f"idempotency key {request.idempotency_key!r} was used for another payout", order_id=seen["id"],
            )  # fmt: skip
        return _order_of(to_plain("payment_order", seen))
    payee = request.payee
    values = to_stored(
        "payment_order",
        {
            "idempotency_key": request.idempotency_key, "fingerprint": fingerprint,
            "owner_kind": request.owner_kind, "owner_id": request.owner_id,
            "business_type": request.business_type, "fund_business_type": request.fund_business_type,
            "summary": request.summary, "amount_fen": request.amount_fen, "payee_name": payee.name,
            "payee_account_no": payee.account_no, "payee_account_class": payee.account_class.value,
            "payee_bank_name": payee.bank_name, "payee_bank_code": payee.bank_code,
            "settle_type": request.settle_type.value, "state": OrderState.RESERVED.value, "attempts": 0,
            "created_on": ctx.clock.today(), "recorded_at": ctx.clock.now(), "actor": ctx.actor, "version": 1,
        },
    )  # fmt: skip
    try:
        order_id = int(conn.execute(_INSERT_ORDER, values).scalar_one())
    except IntegrityError as exc:
        raise Conflict(
            "settlement.concurrent_duplicate", "同一笔付款正在处理中",
            "another request reserved the same idempotency key at the same time; retry",
        ) from exc  # fmt: skip
    order_no = order_no_of(ctx.center_code, order_id)
    entry_id = ledger.post(
        conn, reservation_entry(request, order_no, ctx.clock.today(), ctx.actor), ctx.clock
    )
    stored = (
        conn.execute(_NUMBER_ORDER, {"b_id": order_id, "v_order_no": order_no, "v_entry_id": entry_id})
        .mappings()
        .one()
    )
    _event(
        conn, ctx, order_id, None, OrderState.RESERVED.value, "reserve", f"资金转入付款在途，凭证#{entry_id}"
    )
    order = to_plain("payment_order", stored)
    events.record(conn, ctx, "payment_order.reserved", "payment_order", order_id, _payload(ctx, order))
    return _order_of(order)


def reserve_many(conn: Connection, ctx: Context, requests: Sequence[PayoutRequest]) -> list[PaymentOrder]:
    """:func:`reserve` of many payouts at once, with the same rows, entries and events: the keys
    seen before read in one statement, the new orders inserted in one, their reservation entries
    posted together (``ledger.post_many``), their numbers and entry ids set in one executemany,
    their ``payment_order_event`` rows and events in one INSERT each. The orders, in the order
    of ``requests``; a key reused for another payout refuses them all."""
    if not requests:
        return []
    for kind in {r.owner_kind for r in requests}:
        owners.require_listened(kind)
    keys = [r.idempotency_key for r in requests]
    if len(set(keys)) != len(keys):
        raise InvalidInput("settlement.duplicate_key", "同一批付款中幂等键重复", "idempotency keys repeat")
    prints = [
        r.fingerprint(blind_index("payment_order", "payee", f"{r.payee.name}|{r.payee.account_no}"))
        for r in requests
    ]
    po = payment_order.c
    seen: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(keys), 900):
        rows = conn.execute(select(payment_order).where(po.idempotency_key.in_(keys[start : start + 900])))
        seen.update({str(r["idempotency_key"]): dict(r) for r in rows.mappings()})
    for request, fingerprint in zip(requests, prints, strict=True):
        old = seen.get(request.idempotency_key)
        if old is not None and old["fingerprint"] != fingerprint:
            raise Conflict(
                "settlement.idempotency_conflict", "幂等键已用于另一笔付款",
                f"idempotency key {request.idempotency_key!r} was used for another payout", order_id=old["id"],
            )  # fmt: skip
    fresh = [(r, f) for r, f in zip(requests, prints, strict=True) if r.idempotency_key not in seen]
    made: dict[str, dict[str, Any]] = {}
    if fresh:
        made = _reserve_fresh(conn, ctx, fresh)
    return [_order_of(made[key] if key in made else to_plain("payment_order", seen[key])) for key in keys]


def _reserve_fresh(
    conn: Connection, ctx: Context, fresh: Sequence[tuple[PayoutRequest, str]]
) -> dict[str, dict[str, Any]]:
    today, now = ctx.clock.today(), ctx.clock.now()
    values = [
        to_stored(
            "payment_order",
            {
                "idempotency_key": r.idempotency_key, "fingerprint": fingerprint, "owner_kind": r.owner_kind,
                "owner_id": r.owner_id, "business_type": r.business_type,
                "fund_business_type": r.fund_business_type, "summary": r.summary, "amount_fen": r.amount_fen,
                "payee_name": r.payee.name, "payee_account_no": r.payee.account_no,
                "payee_account_class": r.payee.account_class.value, "payee_bank_name": r.payee.bank_name,
                "payee_bank_code": r.payee.bank_code, "settle_type": r.settle_type.value,
                "state": OrderState.RESERVED.value, "attempts": 0, "created_on": today, "recorded_at": now,
                "actor": ctx.actor, "version": 1,
            },
        )
        for r, fingerprint in fresh
    ]  # fmt: skip
    try:
        ids = [
            int(i)
            for i in conn.execute(
                insert(payment_order).returning(payment_order.c.id, sort_by_parameter_order=True), values
            ).scalars()
        ]
    except IntegrityError as exc:
        raise Conflict(
            "settlement.concurrent_duplicate", "同一笔付款正在处理中",
            "another request reserved the same idempotency key at the same time; retry",
        ) from exc  # fmt: skip
    numbers = [order_no_of(ctx.center_code, i) for i in ids]
    entry_ids = ledger.post_many(
        conn,
        [reservation_entry(r, no, today, ctx.actor) for (r, _), no in zip(fresh, numbers, strict=True)],
        ctx.clock,
    )
    po = payment_order.c
    conn.execute(
        update(payment_order)
        .where(po.id == bindparam("oid"))
        .values(order_no=bindparam("ono"), reserve_entry_id=bindparam("eid")),
        [{"oid": i, "ono": no, "eid": e} for i, no, e in zip(ids, numbers, entry_ids, strict=True)],
    )
    conn.execute(
        insert(payment_order_event),
        [
            {"order_id": i, "from_state": None, "to_state": OrderState.RESERVED.value, "business_date": today,
             "recorded_at": now, "actor": ctx.actor, "source": "reserve", "note": f"资金转入付款在途，凭证#{e}"}
            for i, e in zip(ids, entry_ids, strict=True)
        ],
    )  # fmt: skip
    rows = {
        int(r["id"]): to_plain("payment_order", r)
        for r in conn.execute(select(payment_order).where(among(conn, po.id, ids))).mappings()
    }
    events.record_many(
        conn, ctx, [("payment_order.reserved", "payment_order", i, _payload(ctx, rows[i])) for i in ids]
    )
    return {str(rows[i]["idempotency_key"]): rows[i] for i in ids}


def cancel(conn: Connection, ctx: Context, order_id: int, reason: str) -> PaymentOrder:
    """Give the money of a reserved (never sent) order back; the owner is told ``failed``."""
    if not reason.strip():
        raise InvalidInput(
            "settlement.reason_required", "撤销付款须说明原因", "a cancellation needs a reason"
        )
    order = _row(conn, order_id, lock=True)
    if order["state"] == OrderState.FAILED.value and order["failure_code"] == "cancelled":
        return _order_of(order)
    return _order_of(_fail(conn, ctx, order, "cancelled", reason, source="cancel"))


def _fail(
    conn: Connection, ctx: Context, order: dict[str, Any], code: str, reason: str, source: str
) -> dict[str, Any]:
    check_transition(OrderState(order["state"]), OrderState.FAILED)
    reversal = ledger.reverse(
        conn, order["reserve_entry_id"], reason=f"付款失败退回：{reason}"[:100], actor=ctx.actor,
        clock=ctx.clock, idempotency_key=f"settlement:{order['order_no']}:failed",
    )  # fmt: skip
    return _move(
        conn, ctx, order, OrderState.FAILED, source, f"{code}: {reason}", settle_entry_id=reversal,
        failure_code=code[:20], failure_reason=reason[:200], settled_on=ctx.clock.today(),
    )  # fmt: skip


def _pay(
    conn: Connection, ctx: Context, order: dict[str, Any], result: m.PaymentResult, source: str
) -> dict[str, Any]:
    check_transition(OrderState(order["state"]), OrderState.PAID)
    entry = payment_entry(
        order["business_type"], order["order_no"], order["amount_fen"], ctx.clock.today(), ctx.actor
    )
    entry_id = ledger.post(conn, entry, ctx.clock)
    return _move(
        conn, ctx, order, OrderState.PAID, source, f"银行付款成功，流水{result.bank_seq_no}",
        settle_entry_id=entry_id, bank_seq_no=result.bank_seq_no or None, bank_date=result.bank_date,
        settled_on=ctx.clock.today(),
    )  # fmt: skip


# ------------------------------------------------------------------------------------ answers


def apply_result(
    conn: Connection, ctx: Context, order_id: int, result: m.PaymentResult, source: str
) -> tuple[PaymentOrder, str]:
    """Apply what the bank says about an order; returns the order and the effect (:func:`_apply`)."""
    order, effect = _apply(conn, ctx, order_id, result, source)
    return _order_of(order), effect


def _apply(
    conn: Connection, ctx: Context, order_id: int, result: m.PaymentResult, source: str
) -> tuple[dict[str, Any], str]:
    """Apply what the bank says about an order; returns the order and the effect.

    Effects: ``applied`` (the state changed), ``no_effect`` (a repeated or uninformative answer),
    ``conflict`` (the answer contradicts a final state or the order's amount: recorded as an
    event, nothing else changes — reconciliation will show the difference).
    """
    order = _row(conn, order_id, lock=True)
    state = OrderState(order["state"])
    if result.send_seq_no != order["order_no"] or (result.amt_fen and result.amt_fen != order["amount_fen"]):
        note = f"银行回复与指令不符：流水号{result.send_seq_no}，金额{result.amt_fen}分"
        _event(conn, ctx, order_id, state.value, state.value, source, note)
        return order, "conflict"
    if result.status is BankStatus.SUCCESS:
        if state is OrderState.PAID:
            return order, "no_effect"
        if state in OPEN_WITH_BANK:
            return _pay(conn, ctx, order, result, source), "applied"
    elif result.status is BankStatus.FAILED:
        if state is OrderState.FAILED:
            return order, "no_effect"
        if state in OPEN_WITH_BANK:
            reason = f"{result.ret_code} {result.ret_msg}".strip() or "银行拒绝付款"
            return _fail(conn, ctx, order, result.ret_code or "bank_failed", reason, source), "applied"
    elif state is OrderState.SENT:  # processing, or not (yet) found: the outcome is open
        note = f"银行处理中（{result.status.value}）"
        return _move(conn, ctx, order, OrderState.UNKNOWN, source, note), "applied"
    else:
        return order, "no_effect"
    if state in FINAL:  # a success after failed, or a failure after paid
        note = f"迟到的银行回复（{result.status.value}）与已定结果（{state.value}）不符，未处理"
        _event(conn, ctx, order_id, state.value, state.value, source, note)
        return order, "conflict"
    return order, "no_effect"  # an answer about an order never sent


def _no_answer(engine: Engine, ctx: Context, order_id: int, why: str, source: str) -> dict[str, Any]:
    with write_transaction(engine) as conn:
        order = _row(conn, order_id, lock=True)
        if order["state"] != OrderState.SENT.value:
            return order
        return _move(conn, ctx, order, OrderState.UNKNOWN, source, f"银行无应答：{why}")


def payment_message(order: Mapping[str, Any], bank: BankAdapter) -> m.Payment:
    """The BDC101 body of an order (also one item of BDC103)."""
    return m.Payment(
        send_seq_no=order["order_no"], settle_type=order["settle_type"], bus_type=order["fund_business_type"],
        de_acct_no=bank.center_account, de_acct_name=bank.center_name, cr_acct_no=order["payee_account_no"],
        cr_acct_name=order["payee_name"], cr_acct_class=order["payee_account_class"],
        cr_bank_name=order["payee_bank_name"], cr_chg_no=order["payee_bank_code"], amt_fen=order["amount_fen"],
        ref_seq_no1=f"{order['owner_kind']}:{order['owner_id']}"[:32], summary=order["summary"],
    )  # fmt: skip


# ------------------------------------------------------------------------------------ phase 2


def send(engine: Engine, ctx: Context, order_id: int, bank: BankAdapter) -> PaymentOrder:
    """Phase 2: send a reserved order (BDC101) and apply the answer. Sending twice sends once."""
    return _order_of(_send(engine, ctx, order_id, bank))


def _send(engine: Engine, ctx: Context, order_id: int, bank: BankAdapter) -> dict[str, Any]:
    with write_transaction(engine) as conn:
        order = _row(conn, order_id, lock=True)
        if order["state"] != OrderState.RESERVED.value:
            return order  # already sent or settled: never send again from here (``resolve`` asks)
        if not bank.center_account:  # refuse before ``sent``: nothing went to any bank
            raise bank_unavailable("no bank endpoint is configured (HPF_BANK_URL, HPF_BANK_SECRET)")
        order = _move(
            conn, ctx, order, OrderState.SENT, "send", "发送银行（BDC101 单笔付款）",
            attempts=order["attempts"] + 1, sent_on=ctx.clock.today(),
        )  # fmt: skip
    payment = payment_message(order, bank)
    try:
        result = bank.pay(payment)
    except BankNoAnswer as exc:
        return _no_answer(engine, ctx, order_id, str(exc), "send")
    with write_transaction(engine) as conn:
        return _apply(conn, ctx, order_id, result, "send")[0]


def send_reserved(
    engine: Engine,
    ctx: Context,
    bank: BankAdapter,
    *,
    owner_kind: str | None = None,
    limit: int = 500,
    batch: int = 0,
) -> dict[str, int]:
    """The payment run: send every order still ``reserved`` (of one owner kind, or all), oldest first.

    Approval reserves the money in its own transaction; the bank is called here, outside any
    business transaction, as centers do in their batch payment runs (``hpf settlement pay``,
    ``hpf withdrawals pay``). Sending is idempotent per order (:func:`send`). Counts per state.
    ``batch``: 0, one BDC101 per order; N, BDC103 batches of up to N orders, their results
    applied set-based (:func:`pay_in_batches`).
    """
    if batch > 0:
        return pay_in_batches(engine, ctx, bank, owner_kind=owner_kind, limit=limit, size=batch)
    with read_transaction(engine) as conn:
        ids = _reserved_ids(conn, owner_kind, limit)
    counts: dict[str, int] = {}
    for order_id in ids:  # one bank call per order: per-payment work, not a batch job
        state = str(_send(engine, ctx, order_id, bank)["state"])
        counts[state] = counts.get(state, 0) + 1
    return counts


def _reserved_ids(conn: Connection, owner_kind: str | None, limit: int) -> list[int]:
    """The payment run's orders: still ``reserved`` (of one owner kind, or all), oldest first."""
    query = select(payment_order.c.id).where(payment_order.c.state == OrderState.RESERVED.value)
    if owner_kind is not None:
        query = query.where(payment_order.c.owner_kind == owner_kind)
    return [int(i) for i in conn.scalars(query.order_by(payment_order.c.id).limit(limit))]


BATCH_MOST = 1000  # orders in one BDC103


def pay_in_batches(
    engine: Engine,
    ctx: Context,
    bank: BankAdapter,
    *,
    owner_kind: str | None = None,
    limit: int = 500,
    size: int = BATCH_MOST,
) -> dict[str, int]:
    """The payment run in BDC103 batches: up to ``limit`` reserved orders (of one owner kind, or
    all), oldest first, sent ``size`` at a time — one UPDATE to ``sent``, one bank call — and
    each batch's results (BDC107) applied set-based (:func:`apply_batch_result`). Counts per
    state the orders ended in.

    Exactly once: a batch's orders are ``sent`` with its number before the bank is called. Its
    orders still open after the results (the bank did not answer, or does not know them: the
    batch was lost) are resolved one by one (:func:`resolve`: BDC110, and the *same* 业务流水号 sent
    again if the bank never had it; the bank pays a number once). A run that stopped between
    sending and applying leaves ``sent`` orders with their batch number: the next run applies
    those batches first."""
    size = max(1, min(size, BATCH_MOST))
    po = payment_order.c
    counts: dict[str, int] = {}
    with read_transaction(engine) as conn:
        left = select(po.batch_no).where(
            po.batch_no.is_not(None), po.state.in_([s.value for s in OPEN_WITH_BANK])
        )
        if owner_kind is not None:
            left = left.where(po.owner_kind == owner_kind)
        batches = list(dict.fromkeys(conn.scalars(left.order_by(po.id))))
        ids = _reserved_ids(conn, owner_kind, limit)
    for start in range(0, len(ids), size):
        batches.append(send_batch(engine, ctx, ids[start : start + size], bank))
    for batch_no in batches:
        for state, n in _settle_batch(engine, ctx, batch_no, bank).items():
            counts[state] = counts.get(state, 0) + n
    return counts


def _settle_batch(engine: Engine, ctx: Context, batch_no: str, bank: BankAdapter) -> dict[str, int]:
    """A sent batch's results applied, then its orders still open resolved one by one; the
    batch's orders counted by the state they are in now."""
    po = payment_order.c
    with suppress(BankNoAnswer):
        apply_batch_result(engine, ctx, batch_no, bank)
    with read_transaction(engine) as conn:
        still = [
            int(i)
            for i in conn.scalars(
                select(po.id)
                .where(po.batch_no == batch_no, po.state.in_([s.value for s in OPEN_WITH_BANK]))
                .order_by(po.id)
            )
        ]
    for order_id in still:  # the exception: a batch the bank did not answer or never had
        _resolve(engine, ctx, order_id, bank)
    with read_transaction(engine) as conn:
        rows = conn.execute(select(po.state, func.count()).where(po.batch_no == batch_no).group_by(po.state))
        return {str(state): int(n) for state, n in rows}


def resolve(engine: Engine, ctx: Context, order_id: int, bank: BankAdapter) -> PaymentOrder:
    """Find out how a ``sent`` or ``unknown`` order ended (BDC110) and apply it.

    If the bank never received the order, it is sent again under the same 业务流水号: the bank
    pays a number at most once, so a first message that arrives late is not paid twice.
    """
    return _order_of(_resolve(engine, ctx, order_id, bank))


def _resolve(engine: Engine, ctx: Context, order_id: int, bank: BankAdapter) -> dict[str, Any]:
    with write_transaction(engine) as conn:
        order = _row(conn, order_id)
    if order["state"] not in OPEN_WITH_BANK:
        return order
    try:
        result = bank.query(order["order_no"], order["sent_on"])
        if result.status is BankStatus.NOT_FOUND:
            with write_transaction(engine) as conn:
                current = _row(conn, order_id, lock=True)
                if current["state"] not in OPEN_WITH_BANK:
                    return current
                conn.execute(
                    update(payment_order).where(payment_order.c.id == order_id)
                    .values(attempts=payment_order.c.attempts + 1)
                )  # fmt: skip
                _event(
                    conn,
                    ctx,
                    order_id,
                    current["state"],
                    current["state"],
                    "query",
                    "银行无此交易，原流水号重发",
                )
            result = bank.pay(payment_message(order, bank))
    except BankNoAnswer as exc:
        return _no_answer(engine, ctx, order_id, str(exc), "query")
    with write_transaction(engine) as conn:
        return _apply(conn, ctx, order_id, result, "query")[0]


def resolve_open(engine: Engine, ctx: Context, bank: BankAdapter, *, limit: int = 1000) -> dict[str, int]:
    """Resolve every ``sent`` or ``unknown`` order (one bank query each); counts by new state."""
    with write_transaction(engine) as conn:
        ids = list(
            conn.scalars(
                select(payment_order.c.id)
                .where(payment_order.c.state.in_([s.value for s in OPEN_WITH_BANK]), payment_order.c.batch_no.is_(None))
                .order_by(payment_order.c.id)
                .limit(limit)
            )
        )  # fmt: skip
    counts: dict[str, int] = {}
    for order_id in ids:  # one bank call per order: per-payment work, not a batch job
        state = _resolve(engine, ctx, order_id, bank)["state"]
        counts[state] = counts.get(state, 0) + 1
    return counts


# ------------------------------------------------------------------------------------ notices

CREDIT_RECEIVED = "bank_notice.credit_received"


@dataclass(frozen=True, slots=True)
class IncomingCredit:
    """Money the bank credited unasked, not yet claimed: its notice, amount, reference, day."""

    notice_no: str
    amount_fen: int
    ref_seq_no: str
    tx_date: date


def unclaimed_credit(conn: Connection, ref_seq_no: str) -> IncomingCredit | None:
    """The first unmatched credit whose reference is ``ref_seq_no`` (another center's 业务流水号
    of a transfer), if it has arrived."""
    n = bank_notice.c
    row = conn.execute(
        select(n.notice_no, n.amount_fen, n.ref_seq_no, n.tx_date)
        .where(n.direction == "C", n.outcome == "unmatched", n.ref_seq_no == ref_seq_no)
        .order_by(n.id)
        .limit(1)
    ).first()
    return IncomingCredit(row.notice_no, int(row.amount_fen), row.ref_seq_no, row.tx_date) if row else None


def claim_credit(conn: Connection, notice_no: str) -> bool:
    """Mark an unmatched credit claimed by the business it belongs to; False if it was not
    unmatched (claimed already)."""
    n = bank_notice.c
    done = conn.execute(
        update(bank_notice)
        .where(n.notice_no == notice_no, n.outcome == "unmatched")
        .values(outcome="claimed")
    ).rowcount
    return bool(done)


def unclaimed_credits(conn: Connection, ref_seq_nos: Sequence[str]) -> dict[str, IncomingCredit]:
    """:func:`unclaimed_credit` of many references in one read per chunk: ``{reference: its first
    unmatched credit}`` of those that have one."""
    refs = list(dict.fromkeys(ref_seq_nos))
    n = bank_notice.c
    found: dict[str, IncomingCredit] = {}
    for start in range(0, len(refs), 900):
        rows = conn.execute(
            select(n.notice_no, n.amount_fen, n.ref_seq_no, n.tx_date)
            .where(n.direction == "C", n.outcome == "unmatched", n.ref_seq_no.in_(refs[start : start + 900]))
            .order_by(n.id)
        )
        for r in rows:
            found.setdefault(
                r.ref_seq_no, IncomingCredit(r.notice_no, int(r.amount_fen), r.ref_seq_no, r.tx_date)
            )
    return found


def claim_credits(conn: Connection, notice_nos: Sequence[str]) -> set[str]:
    """:func:`claim_credit` of many credits in one UPDATE per chunk: the notices claimed now (the
    others were not unmatched)."""
    nos = list(dict.fromkeys(notice_nos))
    n = bank_notice.c
    claimed: set[str] = set()
    for start in range(0, len(nos), 900):
        done = conn.execute(
            update(bank_notice)
            .where(n.notice_no.in_(nos[start : start + 900]), n.outcome == "unmatched")
            .values(outcome="claimed")
            .returning(n.notice_no)
        )
        claimed.update(str(no) for no in done.scalars())
    return claimed


def apply_notice(conn: Connection, ctx: Context, notice: m.AccountChangeNotice) -> NoticeOutcome:
    """SBDC100: a movement on the center's account. A repeated notice has no effect.

    A debit naming one of our orders (``ref_seq_no`` = its 业务流水号) is a success answer for it;
    anything else (incoming money) is kept ``unmatched`` for finance to claim.
    """
    notice_no = notice.header.send_seq_no
    seen = conn.execute(select(bank_notice).where(bank_notice.c.notice_no == notice_no)).mappings().first()
    if seen is not None:
        return NoticeOutcome(notice_no, "duplicate", seen["order_id"])
    line = notice.line
    order = _by_no(conn, line.ref_seq_no) if line.direction == "D" and line.ref_seq_no else None
    outcome = "unmatched"
    if order is not None:
        result = m.PaymentResult(
            send_seq_no=line.ref_seq_no, status=BankStatus.SUCCESS, bank_seq_no=line.bank_seq_no,
            bank_date=line.tx_date, amt_fen=line.amt_fen,
        )  # fmt: skip
        outcome = _apply(conn, ctx, order["id"], result, "notice")[1]
    conn.execute(
        insert(bank_notice).values(
            **to_stored("bank_notice", {
                "notice_no": notice_no, "acct_no": notice.acct_no, "bank_seq_no": line.bank_seq_no,
                "tx_date": line.tx_date, "direction": line.direction, "amount_fen": line.amt_fen,
                "ref_seq_no": line.ref_seq_no, "counterparty_name": line.counterparty_name or None,
                "counterparty_acct_no": line.counterparty_acct_no or None, "summary": line.summary[:60],
                "order_id": order["id"] if order else None, "outcome": outcome, "received_at": ctx.clock.now(),
            })
        )
    )  # fmt: skip
    if outcome == "unmatched" and line.direction == "C":
        # Money in that no order of ours names (an employer's remittance, another center's
        # transfer): whoever expects it listens (hpf.transfers matches a transfer's credit).
        events.record(conn, ctx, CREDIT_RECEIVED, "bank_notice", notice_no, {
            "notice_no": notice_no, "amount_fen": line.amt_fen, "ref_seq_no": line.ref_seq_no or "",
            "tx_date": line.tx_date,
        })  # fmt: skip
    return NoticeOutcome(notice_no, outcome, order["id"] if order else None)


NOTICES_MOST = 500  # notices in one group


def apply_notices(
    conn: Connection, ctx: Context, notices: Sequence[m.AccountChangeNotice]
) -> list[NoticeOutcome]:
    """SBDC100 notices in a group (the bank posts many at once), in one transaction, with the
    outcomes :func:`apply_notice` gives one by one: the notices seen before and the orders the
    debits name read in one statement each; a debit whose order is paid already with its amount
    (the bank's answer came first: the usual case) has no effect without touching it, any other
    goes through the order's state machine; the notices stored in one INSERT, the unmatched
    credits' events in one (each credit's listener then claims it, as for a single notice)."""
    nos = [n.header.send_seq_no for n in notices]
    refs = [n.line.ref_seq_no for n in notices if n.line.direction == "D" and n.line.ref_seq_no]
    bn, po = bank_notice.c, payment_order.c
    seen: dict[str, int | None] = {}
    orders: dict[str, dict[str, Any]] = {}
    for start in range(0, max(len(nos), len(refs)), 900):
        if nos[start : start + 900]:
            rows = conn.execute(
                select(bn.notice_no, bn.order_id).where(bn.notice_no.in_(nos[start : start + 900]))
            )
            seen.update({str(no): order_id for no, order_id in rows})
        if refs[start : start + 900]:
            found = conn.execute(select(payment_order).where(po.order_no.in_(refs[start : start + 900])))
            orders.update({str(r["order_no"]): dict(r) for r in found.mappings()})
    outcomes: list[NoticeOutcome] = []
    stored: list[dict[str, Any]] = []
    credits: list[tuple[str, str, object, Mapping[str, Any] | None]] = []
    for notice in notices:
        notice_no, line = notice.header.send_seq_no, notice.line
        if notice_no in seen:
            outcomes.append(NoticeOutcome(notice_no, "duplicate", seen[notice_no]))
            continue
        order = orders.get(line.ref_seq_no) if line.direction == "D" and line.ref_seq_no else None
        outcome = "unmatched"
        if order is not None:
            outcome = _debit_answer(conn, ctx, order, line)
        seen[notice_no] = order["id"] if order else None
        stored.append(_notice_row(ctx, notice, order["id"] if order else None, outcome))
        if outcome == "unmatched" and line.direction == "C":
            credits.append((CREDIT_RECEIVED, "bank_notice", notice_no, {
                "notice_no": notice_no, "amount_fen": line.amt_fen, "ref_seq_no": line.ref_seq_no or "",
                "tx_date": line.tx_date,
            }))  # fmt: skip
        outcomes.append(NoticeOutcome(notice_no, outcome, order["id"] if order else None))
    if stored:
        conn.execute(insert(bank_notice), stored)
    events.record_many(conn, ctx, credits)
    return outcomes


def _debit_answer(conn: Connection, ctx: Context, order: Mapping[str, Any], line: m.StatementLine) -> str:
    """A debit notice naming one of our orders: a success answer for it (see :func:`_apply`)."""
    if order["state"] == OrderState.PAID.value and line.amt_fen in (0, order["amount_fen"]):
        return "no_effect"  # what _apply answers, without reading the order again
    result = m.PaymentResult(
        send_seq_no=line.ref_seq_no, status=BankStatus.SUCCESS, bank_seq_no=line.bank_seq_no,
        bank_date=line.tx_date, amt_fen=line.amt_fen,
    )  # fmt: skip
    return _apply(conn, ctx, int(order["id"]), result, "notice")[1]


def _notice_row(
    ctx: Context, notice: m.AccountChangeNotice, order_id: int | None, outcome: str
) -> dict[str, Any]:
    line = notice.line
    return to_stored("bank_notice", {
        "notice_no": notice.header.send_seq_no, "acct_no": notice.acct_no, "bank_seq_no": line.bank_seq_no,
        "tx_date": line.tx_date, "direction": line.direction, "amount_fen": line.amt_fen,
        "ref_seq_no": line.ref_seq_no, "counterparty_name": line.counterparty_name or None,
        "counterparty_acct_no": line.counterparty_acct_no or None, "summary": line.summary[:60],
        "order_id": order_id, "outcome": outcome, "received_at": ctx.clock.now(),
    })  # fmt: skip


# ------------------------------------------------------------------------------------ batches

_batch_meta = MetaData()
_stage_result = Table(
    "stage_settlement_result",
    _batch_meta,
    Column("order_no", String(32), primary_key=True),
    Column("status", String(12), nullable=False),
    Column("bank_seq_no", String(40), nullable=False),
    Column("amt_fen", BigInteger, nullable=False),
    Column("ret_code", String(20), nullable=False),
    Column("ret_msg", String(200), nullable=False),
    prefixes=["TEMPORARY"],
)


def send_batch(engine: Engine, ctx: Context, order_ids: Sequence[int], bank: BankAdapter) -> str:
    """BDC103: send reserved orders as one batch; returns the batch number.

    The orders move to ``sent`` in one UPDATE (those not ``reserved`` are left out); results come
    later through ``apply_batch_result`` (BDC107).
    """
    if not order_ids:
        raise InvalidInput("settlement.empty_batch", "批量付款没有指令", "no orders to send")
    with write_transaction(engine) as conn:
        first = min(order_ids)
        batch_no = f"{ctx.center_code}B{first:012d}{len(order_ids):04d}"[:32]
        selected = (payment_order.c.id.in_(list(order_ids))) & (
            payment_order.c.state == OrderState.RESERVED.value
        )
        conn.execute(
            insert(payment_order_event).from_select(
                ["order_id", "from_state", "to_state", "business_date", "recorded_at", "actor", "source", "note"],
                select(
                    payment_order.c.id, payment_order.c.state, literal(OrderState.SENT.value),
                    literal(ctx.clock.today()), literal(ctx.clock.now()), literal(ctx.actor), literal("batch"),
                    literal(f"发送银行（BDC103 批量付款 {batch_no}）"),
                ).where(selected),
            )
        )  # fmt: skip
        po = payment_order.c
        events.record_set(
            conn, ctx, "payment_order.sent", "payment_order",
            select(po.id, events.json_of(conn, order_no=po.order_no, owner_kind=po.owner_kind, owner_id=po.owner_id,
                                         amount_fen=po.amount_fen, batch_no=literal(batch_no, String))).where(selected),
        )  # fmt: skip
        conn.execute(
            update(payment_order).where(selected).values(
                state=OrderState.SENT.value, batch_no=batch_no, sent_on=ctx.clock.today(),
                attempts=payment_order.c.attempts + 1, version=payment_order.c.version + 1,
            )
        )  # fmt: skip
        rows = conn.execute(select(payment_order).where(payment_order.c.batch_no == batch_no)).mappings()
        items = [payment_message(to_plain("payment_order", r), bank) for r in rows]
    with suppress(BankNoAnswer):  # the outcome is asked for with BDC107 either way; nothing to undo
        bank.pay_batch(batch_no, items)
    return batch_no


def apply_batch_result(engine: Engine, ctx: Context, batch_no: str, bank: BankAdapter) -> dict[str, int]:
    """BDC107: apply a batch's results; paid items set-wise, failures one reversal each.

    Successes are posted by ``ledger.post_set`` from SQL and marked paid in one UPDATE; each
    failure reverses its own reservation (a reversal names one entry). Items still processing
    stay ``sent``. Applying the same result again changes nothing.
    """
    result = bank.batch_result(batch_no)
    with write_transaction(engine) as conn:
        _stage_result.drop(conn, checkfirst=True)
        _stage_result.create(conn)
        bulk_insert(
            conn, _stage_result.name, [c.name for c in _stage_result.c],
            [(i.send_seq_no, i.status.value, i.bank_seq_no, i.amt_fen, i.ret_code, i.ret_msg[:200]) for i in result.items],
        )  # fmt: skip
        paid = _apply_batch_paid(conn, ctx, batch_no)
        failed_ids = list(
            conn.scalars(
                select(payment_order.c.id)
                .join(_stage_result, _stage_result.c.order_no == payment_order.c.order_no)
                .where(
                    payment_order.c.batch_no == batch_no,
                    payment_order.c.state.in_([s.value for s in OPEN_WITH_BANK]),
                    _stage_result.c.status == BankStatus.FAILED.value,
                    _stage_result.c.amt_fen.in_([0, payment_order.c.amount_fen]),
                )
            )
        )
        stage = {i.send_seq_no: i for i in result.items}
        for order_id in failed_ids:  # reversals name one entry each; failures are the exception
            order = _row(conn, order_id, lock=True)
            item = stage[order["order_no"]]
            _fail(conn, ctx, order, item.ret_code or "bank_failed", item.ret_msg or "银行拒绝付款", "batch")
        _stage_result.drop(conn)
    return {"paid": paid, "failed": len(failed_ids)}


def _apply_batch_paid(conn: Connection, ctx: Context, batch_no: str) -> int:
    today = ctx.clock.today()
    po, st = payment_order, _stage_result
    ok = (
        (po.c.batch_no == batch_no)
        & po.c.state.in_([s.value for s in OPEN_WITH_BANK])
        & (st.c.status == BankStatus.SUCCESS.value)
        & (st.c.amt_fen.in_([0, po.c.amount_fen]))
    )
    rows = conn.execute(
        select(po.c.order_no, po.c.business_type).join(st, st.c.order_no == po.c.order_no).where(ok)
    ).all()
    if not rows:
        return 0
    headers = [
        ledger.EntryHeader(btype, no, f"settlement:{no}:paid", today, today, "银行付款成功", ctx.actor)
        for no, btype in rows
    ]
    key = literal("settlement:") + po.c.order_no + literal(":paid")
    nulls = (literal(None, BigInteger), literal(None, BigInteger), literal(None, String))
    lines = union_all(
        select(key, literal(PAYMENTS_IN_TRANSIT), literal("D"), po.c.amount_fen, *nulls)
        .join(st, st.c.order_no == po.c.order_no).where(ok),
        select(key, literal(BANK_DEPOSITS), literal("C"), po.c.amount_fen, *nulls)
        .join(st, st.c.order_no == po.c.order_no).where(ok),
    )  # fmt: skip
    ledger.post_set(conn, headers, lines, ctx.clock)
    paid_ids = select(po.c.id).join(st, st.c.order_no == po.c.order_no).where(ok)
    conn.execute(
        insert(payment_order_event).from_select(
            ["order_id", "from_state", "to_state", "business_date", "recorded_at", "actor", "source", "note"],
            select(
                po.c.id, po.c.state, literal(OrderState.PAID.value), literal(today), literal(ctx.clock.now()),
                literal(ctx.actor), literal("batch"), literal("银行付款成功（BDC107）"),
            ).join(st, st.c.order_no == po.c.order_no).where(ok),
        )
    )  # fmt: skip
    ids = [int(i) for i in conn.scalars(paid_ids)]
    bank_seq = select(st.c.bank_seq_no).where(st.c.order_no == po.c.order_no).scalar_subquery()
    settle_entry = ledger_queries.entry_id_for_key(literal("settlement:") + po.c.order_no + literal(":paid"))
    conn.execute(
        update(po).where(po.c.id.in_(ids)).values(
            state=OrderState.PAID.value, bank_seq_no=bank_seq, bank_date=today, settled_on=today,
            settle_entry_id=settle_entry, version=po.c.version + 1,
        )
    )  # fmt: skip
    outcome = events.json_of(
        conn, order_no=po.c.order_no, owner_kind=po.c.owner_kind, owner_id=po.c.owner_id,
        amount_fen=po.c.amount_fen, settled_on=po.c.settled_on, bank_seq_no=po.c.bank_seq_no,
    )  # fmt: skip
    # One event per order, set-based; each owner's listener then learns its order's outcome.
    events.record_set(conn, ctx, "payment_order.paid", "payment_order",
                      select(po.c.id, outcome).where(among(conn, po.c.id, ids)).order_by(po.c.id))  # fmt: skip
    return len(ids)
