"""Who is told how a payout ended: the listeners of the order's final event, per owner kind.

A payout belongs to an owner, ``(kind, id)`` — ``("withdrawal", "W42")``, ``("loan", "L7")``.
When its order becomes final, settlement records ``payment_order.paid`` or
``payment_order.failed`` (payload: the owner, the amount, the day, the bank's serial or the
failure) **in the same transaction** as the state change and its ledger entry; the owner's
listener (declared in ``hpf.bootstrap.listeners`` with ``where={"owner_kind": kind}``) runs
there: either the owner's mark (application paid / refused back to the member) and the money
both commit, or neither does. A listener must therefore be quick, touch only its own tables
through its own service, and be idempotent (a replayed transaction could call it again after a
rollback).

Settlement imports none of its owners. A kind no listener hears is refused at ``reserve``: a
payout no one hears about is never made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from hpf import events
from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput

SETTLED = ("payment_order.paid", "payment_order.failed")  # the events an owner listens to


@dataclass(frozen=True)
class PayoutOutcome:
    """What an owner learns: the order, its final state, and why."""

    order_id: int
    order_no: str
    owner_kind: str
    owner_id: str
    state: str  # paid | failed
    amount_fen: int
    settled_on: date
    bank_seq_no: str | None = None
    failure_code: str | None = None
    failure_reason: str | None = None

    @classmethod
    def of(cls, event: events.Event) -> PayoutOutcome:
        """The outcome a ``payment_order.paid``/``failed`` event tells."""
        p = event.payload
        return cls(
            order_id=int(event.object_id), order_no=str(p["order_no"]), owner_kind=str(p["owner_kind"]),
            owner_id=str(p["owner_id"]), state=event.type.removeprefix("payment_order."),
            amount_fen=int(p["amount_fen"]), settled_on=date.fromisoformat(str(p["settled_on"])),
            bank_seq_no=p.get("bank_seq_no"), failure_code=p.get("failure_code"),
            failure_reason=p.get("failure_reason"),
        )  # fmt: skip

    def payload(self) -> dict[str, object]:
        return {
            "order_no": self.order_no, "owner_kind": self.owner_kind, "owner_id": self.owner_id,
            "amount_fen": self.amount_fen, "settled_on": self.settled_on.isoformat(),
            "bank_seq_no": self.bank_seq_no, "failure_code": self.failure_code,
            "failure_reason": self.failure_reason,
        }  # fmt: skip


OutcomeHandler = Callable[[Connection, Context, PayoutOutcome], None]


def listener(kind: str, name: str, handler: OutcomeHandler) -> events.Listener:
    """The listener that tells ``handler`` how the payouts of owner ``kind`` end."""

    def call(conn: Connection, ctx: Context, event: events.Event) -> None:
        handler(conn, ctx, PayoutOutcome.of(event))

    return events.Listener(name, SETTLED, call, where={"owner_kind": kind})


def require_listened(kind: str) -> None:
    """Refuse a payout of an owner kind no listener would tell of its outcome."""
    if not all(events.hears(event_type, owner_kind=kind) for event_type in SETTLED):
        raise InvalidInput(
            "settlement.owner_unknown",
            "付款业务归属类型未登记",
            f"no listener is told how payouts of owner kind {kind!r} end (hpf.bootstrap.listeners)",
            owner_kind=kind,
        )
