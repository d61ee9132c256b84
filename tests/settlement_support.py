"""Helpers of the settlement tests: a deposit, a payout request, balances read back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from hpf.kernel.context import Context
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.ledger.tables import journal_entry
from hpf.settlement.rules import AccountClass, Payee, PayoutRequest, Source

SECRET = b"settlement-tests-shared-key-0123456789"
CARD = "6222020200001234562"  # 19 digits, valid Luhn check digit


def deposit(conn: Connection, ctx: Context, member_id: int, fen: int, key: str = "seed") -> int:
    today = ctx.clock.today()
    return ledger.post(
        conn,
        JournalEntry(
            "01", f"SEED-{key}", f"seed:{key}:{member_id}", today, today,
            (Line("101", Side.DEBIT, fen), Line("201", Side.CREDIT, fen, member_id=member_id, part=BalancePart.CURRENT)),
        ),
        ctx.clock,
    )  # fmt: skip


def payout(
    member_id: int, fen: int, key: str, *, owner_id: str = "W1", card: str = CARD, **kw: Any
) -> PayoutRequest:
    return PayoutRequest(
        owner_kind=kw.pop("owner_kind", "test"), owner_id=owner_id, amount_fen=fen,
        sources=(Source("201", fen, member_id=member_id, part=BalancePart.CURRENT),),
        payee=Payee("张三", card, "中国工商银行济南分行", AccountClass.PERSONAL, "102451000010"),
        business_type="11", fund_business_type=kw.pop("fund_business_type", "02"), idempotency_key=key, summary="部分提取", **kw,
    )  # fmt: skip


def balance(conn: Connection, member_id: int) -> int:
    carried, current = ledger.member_balances(conn, [member_id])[member_id]
    return carried + current


def subject(conn: Connection, code: str) -> int:
    return {s.code: s.balance_fen for s in ledger.subject_balances(conn)}[code]


def entries_of(conn: Connection, order_no: str) -> int:
    return int(
        conn.scalar(
            select(func.count()).select_from(journal_entry).where(journal_entry.c.business_id == order_no)
        )
        or 0
    )
