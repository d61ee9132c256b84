"""The center's monthly history, read set-based through the published reads (decision 0024).

Each series is a run of consecutive months ``YYYY-MM`` with a value in fen per month (0 where
nothing moved), from the first month anything moved to the last complete month before the
given day:

- ``collections``: money credited to members' accounts by remittances and back-payments
  (business types 01 汇缴 and 02 补缴 on subject 201, reversals netted);
- ``withdrawals`` and ``withdrawals:<reason>``: the paid withdrawal claims by the month they were
  filed, in total and per reason (提取原因);
- ``loan_disbursements``: entries that raised the loan book (121 + 122) — loans paid out;
- ``loan_repayments``: entries that lowered it — principal collected, prepaid or paid off
  (a move from 121 to 122 nets out within its entry).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, case, func, select

from hpf.db.periods import month_of
from hpf.ledger.chart import MEMBER_CONTROL
from hpf.ledger.queries import subject_entries_subquery
from hpf.withdrawals.queries import withdrawals_subquery
from hpf.withdrawals.rules import REASON_ZH

COLLECTION_TYPES = ("01", "02")  # 汇缴, 补缴
LOAN_SUBJECTS = ("121", "122")  # 委托贷款, 逾期贷款
COLLECTIONS = "collections"
WITHDRAWALS = "withdrawals"
DISBURSEMENTS = "loan_disbursements"
REPAYMENTS = "loan_repayments"

SERIES_ZH = {
    COLLECTIONS: "归集额（汇缴与补缴）",
    WITHDRAWALS: "提取额（合计）",
    DISBURSEMENTS: "贷款发放额",
    REPAYMENTS: "贷款回收额",
}


def series_zh(name: str) -> str:
    """The Chinese name of a series (``withdrawals:07`` → 提取额：租赁住房)."""
    if name.startswith(f"{WITHDRAWALS}:"):
        reason = name.split(":", 1)[1]
        return f"提取额：{REASON_ZH.get(reason, reason)}"  # type: ignore[call-overload]
    return SERIES_ZH.get(name, name)


@dataclass(frozen=True)
class MonthlySeries:
    name: str
    months: tuple[str, ...]  # consecutive YYYY-MM
    values_fen: tuple[int, ...]

    @property
    def zh(self) -> str:
        return series_zh(self.name)


def next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + mon // 12}-{mon % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` included (empty when first > last)."""
    out: list[str] = []
    month = first
    while month <= last:
        out.append(month)
        month = next_month(month)
    return out


def last_complete_month(on: date) -> str:
    """The month before ``on``'s month: the last one whose figures are complete on ``on``."""
    year, month = (on.year, on.month - 1) if on.month > 1 else (on.year - 1, 12)
    return f"{year}-{month:02d}"


def _collections(conn: Connection, before: date) -> dict[str, int]:
    moves = subject_entries_subquery([MEMBER_CONTROL], "member_moves")
    month = month_of(moves.c.posting_date)
    rows = conn.execute(
        select(month.label("month"), func.sum(-moves.c.net_debit_fen))
        .where(moves.c.business_type.in_(COLLECTION_TYPES), moves.c.posting_date < before)
        .group_by(month)
    )
    return {m: int(v or 0) for m, v in rows}


def _withdrawals(conn: Connection, before: date) -> dict[str, dict[str, int]]:
    w = withdrawals_subquery("w")
    month = month_of(w.c.applied_on)
    rows = conn.execute(
        select(month.label("month"), w.c.reason, func.sum(w.c.allowed_fen))
        .where(w.c.state == "paid", w.c.applied_on < before)
        .group_by(month, w.c.reason)
    )
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for m, reason, total in rows:
        out[str(reason)][m] = int(total or 0)
    return out


def _loans(conn: Connection, before: date) -> tuple[dict[str, int], dict[str, int]]:
    moves = subject_entries_subquery(LOAN_SUBJECTS, "loan_moves")
    month = month_of(moves.c.posting_date)
    net = moves.c.net_debit_fen
    rows = conn.execute(
        select(
            month.label("month"),
            func.sum(case((net > 0, net), else_=0)),
            func.sum(case((net < 0, -net), else_=0)),
        )
        .where(moves.c.posting_date < before)
        .group_by(month)
    )
    out, back = {}, {}
    for m, up, down in rows:
        out[m], back[m] = int(up or 0), int(down or 0)
    return out, back


def monthly_history(conn: Connection, on: date) -> list[MonthlySeries]:
    """Every series up to the last complete month before ``on`` (see the module's list)."""
    last = last_complete_month(on)
    first_of_month = date(on.year, on.month, 1)
    collected = _collections(conn, first_of_month)
    by_reason = _withdrawals(conn, first_of_month)
    out_loans, back_loans = _loans(conn, first_of_month)
    total_withdrawn: dict[str, int] = defaultdict(int)
    for per_month in by_reason.values():
        for m, v in per_month.items():
            total_withdrawn[m] += v
    raw: dict[str, dict[str, int]] = {
        COLLECTIONS: collected,
        WITHDRAWALS: dict(total_withdrawn),
        DISBURSEMENTS: out_loans,
        REPAYMENTS: back_loans,
        **{f"{WITHDRAWALS}:{r}": per for r, per in sorted(by_reason.items())},
    }
    moved = [m for per in raw.values() for m, v in per.items() if v]
    if not moved:
        return [MonthlySeries(name, (), ()) for name in raw]
    months = month_range(min(moved), last)
    return [
        MonthlySeries(name, tuple(months), tuple(per.get(m, 0) for m in months)) for name, per in raw.items()
    ]
