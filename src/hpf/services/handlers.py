"""The business rules of catalog items, plugged in by the packages that own them.

The application engine (``hpf.services.service``) knows states, deadlines, materials and
review; what makes a withdrawal eligible, how much it pays and what "executed" means belong to
``hpf.withdrawals`` (and later loans, transfers…). Such a package implements
:class:`ItemHandler` for its item codes and its composition root calls :func:`register`
(``create_app`` and the ``hpf`` command register every handler of the code base). An item with
no handler has no automatic rules: every application of it goes to the review queue.

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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection

from hpf.kernel.context import Context
from hpf.kernel.findings import Verdict


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


class ItemHandler(Protocol):
    item_codes: tuple[str, ...]

    def evaluate(self, conn: Connection, ctx: Context, application: Mapping[str, Any]) -> Evaluation: ...

    def on_approved(
        self, conn: Connection, ctx: Context, application: Mapping[str, Any], evaluation: Evaluation
    ) -> dict[str, Any]: ...

    def on_ended(
        self, conn: Connection, ctx: Context, application: Mapping[str, Any], state: str
    ) -> None: ...


_registry: dict[str, ItemHandler] = {}


def register(handler: ItemHandler) -> None:
    """Route the handler's item codes to it; registering the same handler again changes nothing.

    A second, different handler for a code is a wiring bug and fails loudly.
    """
    for code in handler.item_codes:
        known = _registry.get(code)
        if known is not None and known is not handler:
            raise ValueError(f"item {code} already has a handler: {known!r}")
    for code in handler.item_codes:
        _registry[code] = handler


def unregister(handler: ItemHandler) -> None:
    for code in handler.item_codes:
        if _registry.get(code) is handler:
            del _registry[code]


def handler_for(item_code: str) -> ItemHandler | None:
    return _registry.get(item_code)


@contextmanager
def registered(handler: ItemHandler) -> Iterator[ItemHandler]:
    """``handler`` in place of whatever handles its codes, for a ``with`` block (tests)."""
    saved = {code: _registry.get(code) for code in handler.item_codes}
    for code in handler.item_codes:
        _registry[code] = handler
    try:
        yield handler
    finally:
        for code, previous in saved.items():
            if previous is None:
                _registry.pop(code, None)
            else:
                _registry[code] = previous


def evaluation_to_json(evaluation: Evaluation) -> dict[str, Any]:
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
