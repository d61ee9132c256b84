"""What other packages may read of remittance lists: typed reads and an SQL building block.

The contributions' tables are private to the package (``tests/test_architecture.py``); other
packages read them through this module, or through ``service`` where a use case already
answers (``get_remittance``, ``employer_remittances``, ``open_arrears`` …).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Connection, Subquery, bindparam, case, func, select, union

from hpf.contributions.rules import Kind
from hpf.contributions.tables import arrears, carried_month, remittance, remittance_row

# ------------------------------------------------------------------------------- typed reads


_MEMBER_MONTHS = union(
    select(remittance.c.month)
    .join(remittance_row, remittance_row.c.remittance_id == remittance.c.id)
    .where(remittance_row.c.member_id == bindparam("member_id"), remittance.c.state == "posted"),
    select(carried_month.c.month).where(carried_month.c.member_id == bindparam("member_id")),
)  # built once: a withdrawal's evaluation reads it for every application


def member_posted_months(conn: Connection, member_id: int) -> list[str]:
    """The months (``YYYY-MM``) of the posted lists one member is on, in no particular order, and
    the months carried in from another center by a transfer (each month once)."""
    return [str(m) for m in conn.scalars(_MEMBER_MONTHS, {"member_id": member_id})]


def posted_months(conn: Connection, member_ids: Sequence[int]) -> dict[int, list[str]]:
    """The months (``YYYY-MM``) of the posted lists each member is on (汇缴 and 补缴), and the
    months carried in from another center by a transfer, each once, in no particular order;
    every id asked for is a key (an empty list when none)."""
    ids = list(member_ids)
    months: dict[int, list[str]] = {i: [] for i in ids}
    for member_id, month in conn.execute(
        union(
            select(remittance_row.c.member_id, remittance.c.month)
            .join(remittance, remittance.c.id == remittance_row.c.remittance_id)
            .where(remittance_row.c.member_id.in_(ids), remittance.c.state == "posted"),
            select(carried_month.c.member_id, carried_month.c.month).where(
                carried_month.c.member_id.in_(ids)
            ),
        )
    ):
        months[int(member_id)].append(str(month))
    return months


class MonthRemittances(NamedTuple):
    """An employer's posted lists for one month: 汇缴 and 补缴 in fen, members on the 汇缴."""

    month: str  # YYYY-MM
    remittance_fen: int
    back_payment_fen: int
    members: int


def monthly_remittances(conn: Connection, employer_id: int, *, months: int = 36) -> list[MonthRemittances]:
    """Posted lists per month they are for, summed in SQL: the last ``months`` months that have
    any, oldest first."""
    kind = remittance.c.kind
    remit, back = Kind.REMITTANCE.value, Kind.BACK_PAYMENT.value
    rows = conn.execute(
        select(
            remittance.c.month,
            func.sum(case((kind == remit, remittance.c.total_fen), else_=0)),
            func.sum(case((kind == back, remittance.c.total_fen), else_=0)),
            func.sum(case((kind == remit, remittance.c.members), else_=0)),
        )
        .where(remittance.c.employer_id == employer_id, remittance.c.state == "posted")
        .group_by(remittance.c.month)
        .order_by(remittance.c.month.desc())
        .limit(months)
    ).all()
    return [MonthRemittances(str(m), int(r), int(b), int(n)) for m, r, b, n in reversed(rows)]


# ---------------------------------------------------------------------- SQL building blocks


def remittances_subquery(name: str | None = None) -> Subquery:
    """Every remittance list (汇缴 and 补缴 清册).

    Columns: ``id``, ``employer_id``, ``kind`` (``01`` 汇缴, ``02`` 补缴), ``month`` (the month
    it pays, ``YYYY-MM``), ``state`` (``pending``, ``posted``, ``cancelled``), ``total_fen``,
    ``created_on`` (the business date the list was filed), ``posted_on`` (when its money was
    allocated, NULL before).
    """
    r = remittance.c
    return select(
        r.id, r.employer_id, r.kind, r.month, r.state, r.total_fen, r.created_on, r.posted_on
    ).subquery(name)


def arrears_subquery(name: str | None = None) -> Subquery:
    """Every month an employer was found in arrears (欠缴) at its month-end, cleared since or not.

    Columns: ``employer_id``, ``month`` (``YYYY-MM``), ``state`` (``open``, ``cleared``),
    ``marked_on``, ``cleared_on`` (NULL while open). The good-credit incentive (decision 0042)
    counts an employer's months since its last arrears from it.
    """
    a = arrears.c
    return select(a.employer_id, a.month, a.state, a.marked_on, a.cleared_on).subquery(name)


def remittance_members(conn: Connection, remittance_ids: Sequence[int]) -> dict[int, list[int]]:
    """The members on each of ``remittance_ids`` (a list's rows), for the hub's account index
    (decision 0031: a posted month moves a member's 缴至年月)."""
    ids = sorted(set(remittance_ids))
    members: dict[int, list[int]] = {i: [] for i in ids}
    if not ids:
        return members
    r = remittance_row.c
    for remittance_id, member_id in conn.execute(
        select(r.remittance_id, r.member_id).where(r.remittance_id.in_(ids)).order_by(r.remittance_id, r.id)
    ):
        members[int(remittance_id)].append(int(member_id))
    return members


def remittance_rows_subquery(name: str | None = None) -> Subquery:
    """Every row of every remittance list with its list's employer, kind, month and state.

    Columns: ``remittance_id``, ``employer_id``, ``kind``, ``month``, ``state``, ``member_id``,
    ``base_fen``, ``employer_fen``, ``member_fen``, ``created_on``, ``posted_on`` (the list's).
    """
    r, w = remittance.c, remittance_row.c
    return (
        select(w.remittance_id, r.employer_id, r.kind, r.month, r.state, w.member_id, w.base_fen,
               w.employer_fen, w.member_fen, r.created_on, r.posted_on)
        .join(remittance, remittance.c.id == w.remittance_id)
        .subquery(name)
    )  # fmt: skip
