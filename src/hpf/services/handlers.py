"""The business rules of catalog items, plugged in by the packages that own them.

The application engine (``hpf.services.service``) knows states, deadlines, materials and
review; what makes a withdrawal eligible, how much it pays and what "executed" means belong to
``hpf.withdrawals`` (and later loans, transfers…). Such a package implements
:class:`ItemHandler` for its item codes. Which handler serves which item is declared once, in
``hpf.bootstrap.item_handlers``: every item of the national catalog, each either with its
handler or declared as reviewed by hand (``None``: no automatic rules, every application goes to
the review queue and is executed when approved). Bootstrap refuses to start when an item of the
catalog is not declared, and installs the table here (:func:`install`); the engine asking for
the handler of an undeclared item, or in a process that did not start through bootstrap, is
refused — an item never falls to manual review because someone forgot to register it.

The engine calls, in the caller's transaction:

- ``evaluate`` when an application is submitted (a preview the member sees at once) and again
  when it is reviewed and approved (facts may have moved on). It must not write. It may raise
  an ``HpfError`` for a payload it cannot read: the submission is refused and nothing is stored;
- ``on_approved`` once, when the application is approved (straight through or by a reviewer):
  reserve or pay, and return the outputs stored on the application (JSON-safe; list ledger
  entries under ``"ledger_entry_ids"`` so the archive names them). Return ``"executed": True``
  when the work is done at once; otherwise report later with
  :func:`hpf.services.service.mark_executed` or :func:`hpf.services.service.mark_failed`;
- ``on_ended`` when an application ends without being executed (``rejected``, ``withdrawn``,
  ``failed``): release anything reserved. It is called whether or not ``on_approved`` ran.

A handler whose evaluation asks the network (the hub's co-investigation) may also say what it will
ask — ``network_questions(conn, ctx, item_code, member_id, payload)`` returning
``hpf.kernel.network.Question``s — so that the engine asks before the write transaction begins
(``service.ask_network_first``, decision 0043).

A handler whose item may be filed in bulk (``hpf.services.bulk.submit_many``, decision 0044) also
has the set forms: ``evaluate_many(conn, ctx, applications)`` — the evaluations of applications
not yet stored (id 0), each the one ``evaluate`` would give, or the ``HpfError`` refusing that
one, their facts read once — and ``on_approved_many(conn, ctx, [(application, evaluation), …])``,
the outputs of each in order.

A handler may evaluate before the write transaction (decision 0046) by also saying whether an
evaluation still holds: ``still_holds(conn, ctx, application, evaluation) -> bool``, called inside
the write with an evaluation made in the request's read phase; it reads again what the evaluation
depended on and answers False on any difference (the engine then evaluates again in the write).
Such a handler's ``evaluate`` must not read the application's id (the submission's preview is
evaluated before the application is stored). A handler without it is evaluated in the write.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection

from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.findings import Verdict
from hpf.kernel.wiring import not_wired

if TYPE_CHECKING:  # the engine imports this module; handlers are handed its applications
    from hpf.services.service import Application


@dataclass(frozen=True)
class SheetLine:
    """A line of the calculation sheet shown to the member."""

    label_zh: str
    value: str


@dataclass(frozen=True)
class Evaluation:
    # The rules as checked (``Finding.rule``: held or failed) and the risks that stop
    # straight-through approval (``Finding.risk``).
    verdict: Verdict
    amount_fen: int | None = None
    sheet: tuple[SheetLine, ...] = ()
    # Among applications due the same day, the review queue shows higher priorities first
    # (a loan's probability of default: the riskiest are looked at first).
    priority: float | None = None
    # What the handler computed to evaluate (its own type), handed back to ``on_approved`` when
    # the approval happens in the same transaction, so it need not be computed twice. Never
    # stored: an evaluation rebuilt later has none, and the handler computes it again.
    basis: Any = field(default=None, compare=False, repr=False)

    @property
    def eligible(self) -> bool:
        return self.verdict.passed


Outputs = Mapping[str, Any]
"""What ``on_approved`` returns, stored on the application as it is: a JSON object of the handler's
own fields (``executed``, ``ledger_entry_ids``, ``payment_order_no`` …)."""

StoredEvaluation = Mapping[str, Any]
"""An evaluation as the application stores it (``evaluation_to_json``): ``rules``, ``risk_flags``,
``amount_fen``, ``sheet``, ``eligible``, ``priority``; pages and the archive read it back."""


class ItemHandler(Protocol):
    item_codes: tuple[str, ...]

    def evaluate(self, conn: Connection, ctx: Context, application: Application) -> Evaluation: ...

    def on_approved(
        self, conn: Connection, ctx: Context, application: Application, evaluation: Evaluation
    ) -> Outputs: ...

    def on_ended(self, conn: Connection, ctx: Context, application: Application, state: str) -> None: ...


_installed: dict[str, ItemHandler | None] | None = None
_overrides: dict[str, ItemHandler] = {}  # tests' handlers in place of the declared ones


def install(table: Mapping[str, ItemHandler | None]) -> None:
    """Serve each item code with its handler (``None``: reviewed by hand) from now on."""
    global _installed
    _installed = dict(table)


def installed() -> dict[str, ItemHandler | None]:
    if _installed is None:
        raise not_wired("item handlers")
    return {**_installed, **_overrides}


def handler_for(item_code: str) -> ItemHandler | None:
    """The handler of ``item_code``; ``None`` when it is declared as reviewed by hand."""
    table = installed()
    if item_code not in table:
        raise HpfError(
            "wiring.item_undeclared",
            "服务事项未配置办理规则",
            f"item {item_code} has no declared handler (hpf.bootstrap.item_handlers)",
            status=500,
        )
    return table[item_code]


@contextmanager
def registered(handler: ItemHandler) -> Iterator[ItemHandler]:
    """``handler`` in place of whatever handles its codes, for a ``with`` block (tests)."""
    saved = dict(_overrides)
    _overrides.update(dict.fromkeys(handler.item_codes, handler))
    try:
        yield handler
    finally:
        _overrides.clear()
        _overrides.update(saved)


def evaluation_to_json(evaluation: Evaluation) -> StoredEvaluation:
    return {
        "rules": [
            {"code": r.code, "passed": r.passed, "title_zh": r.message_zh, "detail": r.message_en}
            for r in evaluation.verdict.rules
        ],
        "risk_flags": [
            {"code": f.code, "title_zh": f.message_zh, "detail": f.message_en}
            for f in evaluation.verdict.risks
        ],
        "amount_fen": evaluation.amount_fen,
        "sheet": [vars(s).copy() for s in evaluation.sheet],
        "eligible": evaluation.eligible,
        "priority": evaluation.priority,
    }
