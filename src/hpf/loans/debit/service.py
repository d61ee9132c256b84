"""委托扣款: the month's debits of bank-debit loans (BDC105 贷款扣款), sent before collection.

The loan month-end (``hpf.loans.book.jobs.run_loan_month_end``) calls these when it has a bank:

1. ``create_debits`` — one ``INSERT … SELECT``: a ``pending`` row of ``loan_debit`` for every
   active bank-debit loan with a card and unpaid installments due in the month (amount =
   Σ due principal + interest); a loan that already has its row for the month is skipped, so a
   rerun adds nothing. The 业务流水号 is derived from (center, month, loan): a resend names the
   same debit and the bank takes it at most once.
2. ``send_debits`` — the pending rows in batches of at most ``DEBIT_BATCH``, each sent outside
   any transaction, each answer applied in one transaction (one ``executemany`` UPDATE).
   ``success`` / ``failed`` are final; a batch without a usable answer (timeout, 5xx) stays
   ``pending``, as do items the bank reports ``processing`` or not found, and is sent again, with
   the same numbers, by the next run.

Only a ``success`` row lets the collection take the loan's installments (Dr 101); a failed
debit leaves them due and the month-end turns them overdue, like an HPF-account loan whose
balance does not cover the month.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, text

from hpf.accounts.queries import member_refs_subquery
from hpf.db.engine import read_transaction, write_transaction
from hpf.db.metadata import UtcDateTime
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.loans.book.tables import loan, loan_debit
from hpf.protection.protect import reveal
from hpf.settlement import messages as m
from hpf.settlement.adapter import BankAdapter, BankNoAnswer
from hpf.settlement.rules import BankStatus

DEBIT_BATCH = 5_000  # items per BDC105 message

_FINAL = {BankStatus.SUCCESS: "success", BankStatus.FAILED: "failed"}


def seq_prefix(ctx: Context, month: str) -> str:
    """The debits' 业务流水号 before the loan id: center code, ``D``, YYYYMM."""
    return f"{ctx.center_code}D{month[:4]}{month[5:]}"


def create_debits(conn: Connection, ctx: Context, month: str, first: date, last: date) -> int:
    """The month's pending debits (set-based, idempotent); returns how many were added."""
    result = conn.execute(
        text(
            "INSERT INTO loan_debit (month, loan_id, seq_no, amount_fen, principal_fen, interest_fen, "
            "state, created_at) "
            "SELECT CAST(:month AS VARCHAR(7)), l.id, CAST(:prefix AS VARCHAR(32)) || substr(CAST(10000000000 + l.id AS TEXT), 2), "
            "SUM(i.principal_fen - i.paid_principal_fen + i.interest_fen - i.paid_interest_fen), "
            "SUM(i.principal_fen - i.paid_principal_fen), SUM(i.interest_fen - i.paid_interest_fen), "
            "'pending', :now "
            # The month is one key range of loan_installment (decision 0012).
            "FROM loan_installment i CROSS JOIN loan l WHERE l.id = i.loan_id "
            "AND i.due_date BETWEEN :first AND :last AND i.state = 'due' AND l.state = 'active' "
            "AND l.repayment_source = 'bank_debit' AND l.debit_card_enc IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM loan_debit d WHERE d.month = CAST(:month AS VARCHAR(7)) AND d.loan_id = l.id) "
            "GROUP BY l.id "
            "HAVING SUM(i.principal_fen - i.paid_principal_fen + i.interest_fen - i.paid_interest_fen) > 0"
        ).bindparams(
            bindparam("first", type_=loan.c.contract_date.type),
            bindparam("last", type_=loan.c.contract_date.type),
            bindparam("now", type_=UtcDateTime()),
        ),
        {
            "month": month,
            "prefix": seq_prefix(ctx, month),
            "first": first,
            "last": last,
            "now": ctx.clock.now(),
        },
    )
    return int(result.rowcount or 0)


def _pending(engine: Engine, month: str, after: int, size: int) -> list[Any]:
    d, ln = loan_debit.c, loan.c
    member = member_refs_subquery()  # the borrower's name, as the bank knows the card's holder
    with read_transaction(engine) as conn:
        return list(
            conn.execute(
                select(d.id, d.seq_no, d.amount_fen, d.principal_fen, d.interest_fen, ln.contract_no,
                       ln.debit_card_enc, member.c.name)
                .select_from(loan_debit.join(loan, loan.c.id == d.loan_id)
                             .join(member, member.c.id == ln.borrower_id))
                .where(d.month == month, d.state == "pending", d.id > after)
                .order_by(d.id)
                .limit(size)
            ).all()
        )  # fmt: skip


def _item(row: Any) -> m.LoanDebit:
    return m.LoanDebit(
        seq_no=row.seq_no, contract_no=row.contract_no,
        de_acct_no=reveal("loan", "debit_card", row.debit_card_enc) or "", de_acct_name=row.name,
        amt_fen=int(row.amount_fen), cap_amt_fen=int(row.principal_fen), int_amt_fen=int(row.interest_fen),
    )  # fmt: skip


def apply_answer(conn: Connection, ctx: Context, month: str, answer: m.LoanDebitAnswer) -> int:
    """Record the bank's final answers (one UPDATE over the items); returns how many changed.

    Only pending rows change: an answer repeated, or one for another month, moves nothing.
    """
    rows = [
        {"seq": item.seq_no, "state": _FINAL[item.status], "bank_seq": item.bank_seq_no or None,
         "code": item.ret_code[:10], "msg": item.ret_msg[:120]}
        for item in answer.items if item.status in _FINAL
    ]  # fmt: skip
    if not rows:
        return 0
    result = conn.execute(
        text(
            "UPDATE loan_debit SET state = :state, bank_seq_no = :bank_seq, ret_code = :code, "
            "ret_msg = :msg, answered_at = :now WHERE seq_no = :seq AND month = :month AND state = 'pending'"
        ).bindparams(bindparam("now", type_=UtcDateTime())),
        [{**r, "now": ctx.clock.now(), "month": month} for r in rows],
    )
    return max(int(result.rowcount or 0), 0)


def send_debits(
    engine: Engine, ctx: Context, month: str, bank: BankAdapter, run: int, *, batch_size: int = DEBIT_BATCH
) -> dict[str, int]:
    """Send the month's pending debits; raises ``loan.debit_no_answer`` (503) if a batch went
    unanswered (after trying every batch), so the job stops before collecting and a rerun resends."""
    sent = unanswered = batches = 0
    after = 0
    while rows := _pending(engine, month, after, batch_size):
        after = int(rows[-1].id)
        batches += 1
        batch_no = f"{seq_prefix(ctx, month)}R{run:03d}B{batches:05d}"
        try:
            answer = bank.debit_loans(batch_no, [_item(r) for r in rows])
        except BankNoAnswer:
            unanswered += len(rows)
            continue
        sent += len(rows)
        with write_transaction(engine) as conn:
            apply_answer(conn, ctx, month, answer)
    if unanswered:
        raise HpfError(
            "loan.debit_no_answer", "银行未应答贷款扣款，请稍后重新运行贷款月末",
            f"{unanswered} debits of {month} got no answer from the bank (BDC105); they stay pending "
            "and the next run of the month-end sends them again with the same numbers",
            status=503,
        )  # fmt: skip
    return {"debits_sent": sent, "debit_batches": batches}


def debit_figures(conn: Connection, month: str) -> dict[str, int]:
    """How the month's debits ended (for the job summary)."""
    rows = conn.execute(
        text("SELECT state, COUNT(*) FROM loan_debit WHERE month = :month GROUP BY state"), {"month": month}
    ).all()
    by_state = {str(s): int(n) for s, n in rows}
    return {f"debits_{s}": by_state.get(s, 0) for s in ("success", "failed", "pending")}
