"""Who is told how a payout ended: one outcome handler per owner kind.

A payout belongs to an owner, ``(kind, id)`` — ``("withdrawal", "W42")``, ``("loan", "L7")``.
When its order becomes final (``paid`` or ``failed``), settlement calls the handler of the
owner's kind **in the same transaction** as the state change and its ledger entry: either the
owner's mark (application paid / refused back to the member) and the money both commit, or
neither does. A handler must therefore be quick, touch only its own tables through its own
service, and be idempotent (it is called once per final state, but a replayed transaction
could call it again after a rollback).

Owner kinds are declared in ``BUILT_IN`` as ``"module:function"`` and imported when first
used, so settlement imports none of its callers and nothing runs at import time. A kind that
is neither built in nor registered is refused at ``reserve``: a payout no one hears about is
never made. ``register`` adds a kind at run time (tests, plug-ins); ``unregister`` removes it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput


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


OutcomeHandler = Callable[[Connection, Context, PayoutOutcome], None]

# kind → "module:function". Withdrawals and loans add their line here when they exist, e.g.
# "withdrawal": "hpf.withdrawals.service:payout_settled".
BUILT_IN: dict[str, str] = {
    "withdrawal": "hpf.withdrawals.service:payout_settled",
    "loan": "hpf.loans.application:disbursement_settled",
}

_registered: dict[str, OutcomeHandler] = {}


def register(kind: str, handler: OutcomeHandler) -> None:
    _registered[kind] = handler


def unregister(kind: str) -> None:
    _registered.pop(kind, None)


def handler_for(kind: str) -> OutcomeHandler:
    if kind in _registered:
        return _registered[kind]
    if kind in BUILT_IN:
        module, _, name = BUILT_IN[kind].partition(":")
        handler: OutcomeHandler = getattr(importlib.import_module(module), name)
        return handler
    raise InvalidInput(
        "settlement.owner_unknown",
        "付款业务归属类型未登记",
        f"no outcome handler for owner kind {kind!r} (see hpf.settlement.owners)",
        owner_kind=kind,
    )


def notify(conn: Connection, ctx: Context, outcome: PayoutOutcome) -> None:
    handler_for(outcome.owner_kind)(conn, ctx, outcome)
