"""What other packages may read of payment orders (their owners, the checks, the simulator).

Settlement's tables are private to the package (``tests/test_architecture.py``); other packages
read them through this module, or through ``service`` where a use case already answers
(``get_order``, ``order_by_no``, ``list_orders``, ``state_counts``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, func, select

from hpf.kernel.errors import NotFound
from hpf.settlement.rules import FINAL, OrderState
from hpf.settlement.tables import payment_order


def order_ids(conn: Connection, *, owner_kind: str, owner_id: str, state: OrderState) -> list[int]:
    """The ids of an owner's orders in ``state``, by id."""
    rows = conn.scalars(
        select(payment_order.c.id)
        .where(
            payment_order.c.owner_kind == owner_kind,
            payment_order.c.owner_id == owner_id,
            payment_order.c.state == state.value,
        )
        .order_by(payment_order.c.id)
    )
    return [int(i) for i in rows]


def order_nos(conn: Connection, *, owner_kind: str, state: OrderState) -> list[str]:
    """The 业务流水号 of every order of ``owner_kind`` in ``state``, by id."""
    rows = conn.scalars(
        select(payment_order.c.order_no)
        .where(payment_order.c.owner_kind == owner_kind, payment_order.c.state == state.value)
        .order_by(payment_order.c.id)
    )
    return [str(n) for n in rows]


def paid_order_no(
    conn: Connection, *, owner_kind: str, owner_id: str, reserve_entry_id: object
) -> str | None:
    """The 业务流水号 of the owner's paid order that the entry ``reserve_entry_id`` reserved."""
    found = conn.scalar(
        select(payment_order.c.order_no).where(
            payment_order.c.reserve_entry_id == reserve_entry_id,
            payment_order.c.owner_kind == owner_kind,
            payment_order.c.owner_id == owner_id,
            payment_order.c.state == OrderState.PAID.value,
        )
    )
    return None if found is None else str(found)


def reserve_entry_of(conn: Connection, order_id: int) -> int:
    """The ledger entry that reserved an order's money (Dr the owner's subject / Cr 21903)."""
    row = conn.execute(select(payment_order.c.reserve_entry_id).where(payment_order.c.id == order_id)).first()
    if row is None:
        raise NotFound("settlement.order_not_found", "付款指令不存在", f"no payment order {order_id}")
    return int(row[0])


def in_flight_fen(conn: Connection, owner_kind: str) -> int:
    """Σ fen of the orders of ``owner_kind`` not final yet (reserved, sent, unknown): money
    reserved through 21903 that the bank has not paid or refused."""
    total = conn.scalar(
        select(func.coalesce(func.sum(payment_order.c.amount_fen), 0)).where(
            payment_order.c.owner_kind == owner_kind,
            payment_order.c.state.not_in([state.value for state in FINAL]),
        )
    )
    return int(total or 0)


def paid_orders(conn: Connection, order_ids: list[int]) -> dict[int, tuple[int, date | None]]:
    """``{order id: (amount fen, settled on)}`` of those of ``order_ids`` that are paid (one read)."""
    po = payment_order.c
    found: dict[int, tuple[int, date | None]] = {}
    for start in range(0, len(order_ids), 900):
        rows = conn.execute(
            select(po.id, po.amount_fen, po.settled_on).where(
                po.id.in_(order_ids[start : start + 900]), po.state == OrderState.PAID.value
            )
        )
        found.update({int(r.id): (int(r.amount_fen), r.settled_on) for r in rows})
    return found
