"""Reconciliation of cross-center transfers at the hub (decision 0035).

The hub never holds a center's ledger (decision 0027). Each center reports its side of every
transfer to the hub as signed XC04 messages through its outbox (``hpf.transfers.report_feed``):
letter number, side, state, the amount the BDC905 announced, the payout's 业务流水号, what its
bank paid (old center) or what its ledger credited to the member (new center) — no name, ID
number or account number. :func:`take` keeps the latest report of each side (by the center's
event id, ``seq``: a report delivered late never replaces a newer one).

:func:`reconcile` compares the two sides of every letter and lists each disagreement:

================ ==========================================================================
``amount``       the old center paid another amount than the new center credited (or one
                 side's announced amount differs from the other's; or money credited that the
                 old center never paid)
``state``        both sides ended, in different ends; or the new center completed while the old
                 one never sent the money
``missing_in``   the old center has a letter the new center (its sender) does not
``missing_out``  the new center's letter never reached the old center within the allowance
``in_transit``   the old center's bank paid, the new center has not credited it within the
                 allowance (``transit_days`` calendar days)
================ ==========================================================================

"Today" is the latest business date any center reported (``as_of``), unless given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from hpf.hub.tables import hub_transfer_report
from hpf.messages.bodies import TransferReport
from hpf.messages.envelope import Envelope

REPORT_TYPE = "XC04"
TRANSIT_DAYS = 3  # calendar days from the old center's payment to the new center's credit

# The states in which a side has ended (hpf.transfers.rules.FINAL, as text: the hub imports no
# center package).
ENDED = frozenset({"completed", "refused", "cancelled", "payment_failed"})
# The old center's states in which the money has left it (or is leaving).
OUT_SENT = frozenset({"transferred", "negotiating", "completed"})

KIND_ZH = {
    "amount": "金额不符",
    "state": "状态不符",
    "missing_in": "转入地无此联系函",
    "missing_out": "转出地未收到联系函",
    "in_transit": "资金在途超时",
}


def take(conn: Connection, envelope: Envelope, body: TransferReport, now: datetime) -> int:
    """Keep each side the XC04 reports, unless the hub holds a later report of it; how many kept."""
    kept = 0
    r = hub_transfer_report.c
    for fact in body.transfers:
        values = {
            "center": envelope.sender, "peer": fact.peer, "state": fact.state, "started_on": fact.started_on,
            "as_of": fact.as_of, "amount_fen": fact.amount_fen, "order_no": fact.order_no,
            "paid_fen": fact.paid_fen, "paid_on": fact.paid_on, "credited_fen": fact.credited_fen,
            "credited_on": fact.credited_on, "seq": fact.seq, "message_id": str(envelope.message_id),
            "updated_at": now,
        }  # fmt: skip
        held = conn.execute(
            select(r.seq, r.center).where(r.letter_no == fact.letter_no, r.side == fact.side)
        ).first()
        if held is None:
            conn.execute(
                insert(hub_transfer_report).values(letter_no=fact.letter_no, side=fact.side, **values)
            )
            kept += 1
        elif held.center == envelope.sender and held.seq < fact.seq:
            conn.execute(
                update(hub_transfer_report)
                .where(r.letter_no == fact.letter_no, r.side == fact.side)
                .values(**values)
            )
            kept += 1
    return kept


@dataclass(frozen=True)
class Side:
    center: str
    state: str
    started_on: date
    as_of: date
    amount_fen: int | None
    order_no: str | None
    paid_fen: int | None
    paid_on: date | None
    credited_fen: int | None
    credited_on: date | None


@dataclass(frozen=True)
class Difference:
    letter_no: str
    kind: str  # a key of KIND_ZH
    detail_zh: str
    detail: str
    out_center: str | None
    in_center: str | None
    out_state: str | None
    in_state: str | None
    paid_fen: int | None
    credited_fen: int | None

    @property
    def kind_zh(self) -> str:
        return KIND_ZH[self.kind]


@dataclass(frozen=True)
class Reconciliation:
    on: date | None
    letters: int  # transfers reported by either side
    both_sides: int
    paid_fen: int  # Σ what the old centers' banks paid
    credited_fen: int  # Σ what the new centers credited
    in_transit_fen: int  # paid, not yet credited
    differences: list[Difference]


def _side(row: Mapping[str, Any]) -> Side:
    return Side(
        center=row["center"], state=row["state"], started_on=row["started_on"], as_of=row["as_of"],
        amount_fen=row["amount_fen"], order_no=row["order_no"], paid_fen=row["paid_fen"],
        paid_on=row["paid_on"], credited_fen=row["credited_fen"], credited_on=row["credited_on"],
    )  # fmt: skip


def sides(conn: Connection) -> dict[str, dict[str, Side]]:
    """Every reported letter with its sides (``in``, ``out``)."""
    found: dict[str, dict[str, Side]] = {}
    for row in conn.execute(select(hub_transfer_report).order_by(hub_transfer_report.c.letter_no)).mappings():
        found.setdefault(row["letter_no"], {})[row["side"]] = _side(dict(row))
    return found


def latest_as_of(conn: Connection) -> date | None:
    found: date | None = conn.scalar(select(func.max(hub_transfer_report.c.as_of)))
    return found


def compare(
    letter_no: str, out: Side | None, new: Side | None, on: date, transit_days: int
) -> list[Difference]:
    """The disagreements between the two sides of one letter (see the module docstring)."""

    def diff(kind: str, zh: str, en: str) -> Difference:
        return Difference(
            letter_no, kind, zh, en, out.center if out else None, new.center if new else None,
            out.state if out else None, new.state if new else None,
            out.paid_fen if out else None, new.credited_fen if new else None,
        )  # fmt: skip

    if new is None:
        assert out is not None
        return [
            diff(
                "missing_in",
                "转出地有此联系函，转入地没有",
                "the old center has a letter its sender does not",
            )
        ]
    if out is None:
        waited = (on - new.started_on).days
        if new.state in ("letter_sent", "cancelled") and waited <= transit_days:
            return []  # the letter is on its way (or was cancelled before it arrived)
        return [
            diff(
                "missing_out",
                f"联系函发出 {waited} 天，转出地仍无记录",
                f"the letter was sent {waited} days ago; the old center has no record of it",
            )
        ]
    found: list[Difference] = []
    paid, credited = out.paid_fen, new.credited_fen
    if paid is not None and credited is not None and paid != credited:
        found.append(diff("amount", f"转出地付出 {paid} 分，转入地记入 {credited} 分",
                          f"the old center paid {paid} fen, the new center credited {credited} fen"))  # fmt: skip
    elif credited is not None and credited > 0 and paid is None:
        found.append(diff("amount", f"转入地记入 {credited} 分，转出地没有付出",
                          f"the new center credited {credited} fen the old center never paid"))  # fmt: skip
    if out.amount_fen is not None and new.amount_fen is not None and out.amount_fen != new.amount_fen:
        found.append(diff("amount", f"转移金额不一致：转出地 {out.amount_fen} 分，转入地 {new.amount_fen} 分",
                          f"the announced amounts differ: {out.amount_fen} / {new.amount_fen} fen"))  # fmt: skip
    both_ended = out.state in ENDED and new.state in ENDED
    if (both_ended and out.state != new.state) or (new.state == "completed" and out.state not in OUT_SENT):
        found.append(diff("state", f"状态不符：转出地 {out.state}，转入地 {new.state}",
                          f"the sides disagree: old {out.state}, new {new.state}"))  # fmt: skip
    if paid is not None and credited is None and out.paid_on is not None:
        waited = (on - out.paid_on).days
        if waited > transit_days:
            found.append(diff("in_transit", f"资金付出 {waited} 天仍未记入转入地",
                              f"paid {waited} days ago and not credited at the new center"))  # fmt: skip
    return found


def reconcile(
    conn: Connection, *, on: date | None = None, transit_days: int = TRANSIT_DAYS
) -> Reconciliation:
    """Compare the two sides of every reported transfer (see the module docstring)."""
    today = on or latest_as_of(conn)
    letters = sides(conn)
    differences: list[Difference] = []
    paid_total = credited_total = transit = both = 0
    for letter_no, pair in letters.items():
        out, new = pair.get("out"), pair.get("in")
        both += out is not None and new is not None
        paid_total += (out.paid_fen or 0) if out else 0
        credited_total += (new.credited_fen or 0) if new else 0
        if out is not None and out.paid_fen is not None and (new is None or new.credited_fen is None):
            transit += out.paid_fen
        if today is not None:
            differences += compare(letter_no, out, new, today, transit_days)
    return Reconciliation(today, len(letters), both, paid_total, credited_total, transit, differences)
