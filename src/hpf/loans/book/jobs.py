"""The loan book's batch jobs: month-end collection (``hpf loan month-end``) and the daily
overdue run (``hpf loan daily``). Set-based SQL throughout: no Python loop touches a loan.

**Month-end** (per month, restartable and idempotent per (job, month) via ``batch_job``):

1. Collection, in chunks of loan ids, each chunk one transaction. Every unpaid installment due
   in the month of an active loan is collected:

   - ``hpf_account`` loans (提取还贷) from the borrower's HPF balance when it covers everything
     the borrower owes this month (carried-over part first): Dr 201 member / Cr 121 principal,
     Cr 40103 interest, one ledger entry per chunk (``ledger.post_set``), business type 11;
   - ``bank_debit`` loans are recorded as received from the bank: Dr 101 / Cr 121 + 40103,
     business type 02. With a bank (``bank=``), the month's debits (BDC105 贷款扣款,
     ``hpf.loans.debit.service``) are created and sent first, and only a loan whose debit succeeded is
     collected; a failed one stays due and becomes overdue. No bank link: bank debits taken as
     collected (tests, bench).

   The installments are marked paid in the same transaction, so a rerun never collects one
   twice; ledger keys carry the run number (``loan-me:<month>:<h|b>:<lo>-<hi>:r<run>``) because a
   rerun may collect, in a chunk, installments an earlier run could not.
2. What is still unpaid becomes overdue (one transaction): installment state ``overdue``, its
   principal moved Dr 122 / Cr 121, the loan's overdue totals, and penalty interest counted from
   the day after the due date (the base catches up the days to month-end).

Installments are therefore in their grace until the month's collection run; days past due and
penalty still count from the due date.

**Daily** (per day, restartable per day): penalty interest accrues on overdue principal +
interest (``(…) × annual rate ÷ 360 × 1.5`` a day, parameters from the loan policy, rounded once
on the accrued fen·days), days past due, the five-level class (thresholds from the policy; an
event row for each change) and dunning notices at the policy's stages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    SmallInteger,
    String,
    Table,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.types import JSON, Date

from hpf.accounts.queries import member_refs_subquery
from hpf.accounts.rules import MemberState
from hpf.contributions.rules import month_end as last_day_of
from hpf.contributions.rules import parse_month
from hpf.db.engine import read_transaction, write_transaction
from hpf.jobs import JobSummary, batch_job, finish_job, job_summary, start_job
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.ledger import queries as ledger_queries
from hpf.ledger import service as ledger
from hpf.ledger.chart import BANK_DEPOSITS, MEMBER_CONTROL, Side
from hpf.ledger.rules import BalancePart
from hpf.loans.application.rules import LoanPolicy
from hpf.loans.book.service import (
    BT_FROM_HPF_ACCOUNT,
    BT_REPAYMENT,
    BT_TO_OVERDUE,
    ENTRUSTED_LOANS,
    LOAN_INTEREST,
    OVERDUE_LOANS,
    PENALTY_OF_BASE,
    days_between_sql,
    penalty_params,
)
from hpf.loans.book.tables import loan, loan_event
from hpf.loans.debit import service as debit
from hpf.policy.queries import loan_policy_at
from hpf.settlement.adapter import BankAdapter

MONTH_END_JOB = "loan_month_end"
DAILY_JOB = "loan_daily"
Progress = Callable[[str, int, int], None]

_scratch = MetaData()
_due = Table(
    "loan_due",
    _scratch,
    Column("loan_id", BigInteger, primary_key=True, autoincrement=False),
    Column("member_id", BigInteger, nullable=False),
    Column("source", String(12), nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("interest_fen", BigInteger, nullable=False),
    Column("due_date", Date, primary_key=True),
    Column("collect", SmallInteger, nullable=False),
    prefixes=["TEMPORARY"],
)
_take = Table(
    "loan_take",
    _scratch,
    Column("member_id", BigInteger, primary_key=True, autoincrement=False),
    Column("carried_fen", BigInteger, nullable=False),
    Column("current_fen", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)


def _month_bounds(month: str) -> tuple[date, date]:
    month = parse_month(month)
    return date(int(month[:4]), int(month[5:]), 1), last_day_of(month)


def _id_ranges(first: int | None, last: int | None, size: int) -> list[tuple[int, int]]:
    if first is None or last is None:
        return []
    return [(lo, min(lo + size - 1, last)) for lo in range(first, last + 1, size)]


# ------------------------------------------------------------------------------- month-end


def run_loan_month_end(
    engine: Engine,
    ctx: Context,
    month: str,
    *,
    bank: BankAdapter | None = None,
    chunk_size: int = 50_000,
    throttle_seconds: float = 0.0,
    progress: Progress | None = None,
) -> JobSummary:
    """Collect every installment due in ``month``, then mark the rest overdue; the summary.

    Runs on or after the month's last day. A finished month returns its summary
    (``already_done``); a run killed midway is run again and carries on. With ``bank``, the
    bank-debit loans' installments are debited first (BDC105) and only the debits that succeeded
    are collected; a batch without an answer stops the run with ``loan.debit_no_answer`` (503)
    before any collection, and the next run sends it again. Without one (no bank link: tests,
    bench) bank debits are taken as collected.
    """
    if chunk_size < 1:
        raise InvalidInput("loan.chunk_size", "批次大小须为正数", f"chunk size {chunk_size} < 1")
    month = parse_month(month)
    first, last = _month_bounds(month)
    if ctx.clock.today() < last:
        raise Conflict("loan.month_end_too_early", "月末尚未到达，不能进行贷款月末扣款",
                       f"the loan month-end of {month} runs on or after {last}")  # fmt: skip
    started = time.perf_counter()
    with write_transaction(engine) as conn:
        if not start_job(conn, MONTH_END_JOB, month, ctx.clock):
            return {**(job_summary(conn, MONTH_END_JOB, month) or {}), "already_done": True}
        run = conn.scalar(
            select(batch_job.c.runs).where(batch_job.c.job == MONTH_END_JOB, batch_job.c.period == month)
        )
        low, high = conn.execute(
            select(func.min(loan.c.id), func.max(loan.c.id)).where(loan.c.state == "active")
        ).one()
        if bank is not None:
            debit.create_debits(conn, ctx, month, first, last)
    if bank is not None:
        debit.send_debits(engine, ctx, month, bank, int(run or 1))  # outside any transaction
    ranges = _id_ranges(low, high, chunk_size)
    for n, (lo, hi) in enumerate(ranges, start=1):
        with write_transaction(engine) as conn:
            collect_chunk(conn, ctx, month, (lo, hi), int(run or 1), by_debit=bank is not None)
        if progress:
            progress("collection", n, len(ranges))
        if throttle_seconds:
            time.sleep(throttle_seconds)  # lighter daytime runs; tests use it to interrupt
    with write_transaction(engine) as conn:
        marked = mark_overdue(conn, ctx, month, int(run or 1))
        summary: JobSummary = {"month": month, **_month_figures(conn, first, last), "became_overdue": marked,
                   "chunks": len(ranges), "seconds": round(time.perf_counter() - started, 3)}  # fmt: skip
        if bank is not None:
            summary.update(debit.debit_figures(conn, month))
        finish_job(conn, MONTH_END_JOB, month, ctx, summary)
    if progress:
        progress("overdue", 1, 1)
    return summary


def _month_figures(conn: Connection, first: date, last: date) -> dict[str, int]:
    # One range of the (due_date, loan_id) key.
    rows = conn.execute(
        text(
            "SELECT i.state, COUNT(*), COALESCE(SUM(i.paid_principal_fen + i.paid_interest_fen), 0) "
            "FROM loan_installment i WHERE i.due_date BETWEEN :first AND :last GROUP BY i.state"
        ).bindparams(bindparam("first", type_=Date), bindparam("last", type_=Date)),
        {"first": first, "last": last},
    ).all()
    by_state = {state: (int(count), int(paid)) for state, count, paid in rows}
    return {
        "installments_paid": by_state.get("paid", (0, 0))[0],
        "collected_fen": by_state.get("paid", (0, 0))[1],
        "installments_overdue": by_state.get("overdue", (0, 0))[0],
    }


def _take_insert() -> Any:
    """``INSERT INTO loan_take``: per borrower paying from the HPF account, what the month takes
    from each part (carried-over first) when the balance covers it all (``ledger.queries``), the
    account being normal or sealed (``accounts.queries``)."""
    d = _due.c
    owed = (
        select(d.member_id, func.sum(d.principal_fen + d.interest_fen).label("total"))
        .where(d.source == "hpf_account")
        .group_by(d.member_id)
        .subquery("t")
    )
    b = ledger_queries.member_balances_subquery("b")
    m = member_refs_subquery("m")
    covered = b.c.carried_fen >= owed.c.total
    rows = (
        select(
            owed.c.member_id,
            case((covered, owed.c.total), else_=b.c.carried_fen),
            case((covered, literal(0, BigInteger)), else_=owed.c.total - b.c.carried_fen),
        )
        .select_from(owed.join(b, b.c.member_id == owed.c.member_id).join(m, m.c.id == owed.c.member_id))
        .where(
            b.c.carried_fen + b.c.current_fen >= owed.c.total,
            m.c.state.in_((MemberState.NORMAL.value, MemberState.SEALED.value)),
        )
    )
    return insert(_take).from_select(["member_id", "carried_fen", "current_fen"], rows)


def _line(
    key: str, subject: str, side: Side, amount: Any, member: Any = None, part: str | None = None
) -> Any:
    return (
        literal(key).label("entry_key"),
        literal(subject).label("subject_code"),
        literal(side.value).label("side"),
        amount.label("amount_fen"),
        (member if member is not None else literal(None, BigInteger)).label("member_id"),
        literal(None, BigInteger).label("employer_id"),
        literal(part, String).label("balance_part"),
    )


def collect_chunk(
    conn: Connection, ctx: Context, month: str, bounds: tuple[int, int], run: int, *, by_debit: bool = False
) -> dict[str, int]:
    """Collect the month's unpaid installments of loans ``bounds`` (one transaction).

    ``by_debit``: a bank-debit loan is collected only when its debit of the month succeeded
    (``loan_debit``); otherwise every bank debit is taken as received (no bank link).
    """
    first, last = _month_bounds(month)
    for table in (_due, _take):
        table.drop(conn, checkfirst=True)
        table.create(conn)
    params = {"first": first, "last": last, "lo": bounds[0], "hi": bounds[1], "month": month,
              "any_debit": 0 if by_debit else 1}  # fmt: skip
    date_params = (bindparam("first", type_=Date), bindparam("last", type_=Date))
    conn.execute(
        text(
            "INSERT INTO loan_due (loan_id, member_id, source, principal_fen, interest_fen, "
            "due_date, collect) SELECT i.loan_id, l.borrower_id, l.repayment_source, "
            "i.principal_fen - i.paid_principal_fen, i.interest_fen - i.paid_interest_fen, i.due_date, "
            "CASE WHEN l.repayment_source = 'bank_debit' AND (:any_debit = 1 OR EXISTS (SELECT 1 FROM "
            "loan_debit b WHERE b.month = :month AND b.loan_id = l.id AND b.state = 'success')) THEN 1 ELSE 0 END "
            # CROSS JOIN keeps SQLite's loop order: the month's installments (side by side in
            # the key order), then each one's loan by primary key.
            "FROM loan_installment i CROSS JOIN loan l WHERE l.id = i.loan_id "
            "AND i.due_date BETWEEN :first AND :last AND i.loan_id BETWEEN :lo AND :hi "
            "AND i.state = 'due' AND l.state = 'active'"
        ).bindparams(*date_params),
        params,
    )
    # The borrower's balance must cover all the borrower owes this month; members whose
    # accounts are closed or frozen (冻结 06) pay nothing from them.
    conn.execute(_take_insert())
    conn.exec_driver_sql(
        "UPDATE loan_due SET collect = 1 WHERE source = 'hpf_account' "
        "AND member_id IN (SELECT member_id FROM loan_take)"
    )
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE loan_due")
        conn.exec_driver_sql("ANALYZE loan_take")
    d = _due.c
    totals = {
        source: conn.execute(
            select(func.coalesce(func.sum(d.principal_fen), 0), func.coalesce(func.sum(d.interest_fen), 0))
            .where(d.collect == 1, d.source == source)
        ).one()
        for source in ("hpf_account", "bank_debit")
    }  # fmt: skip
    headers, parts = [], []
    suffix = f"{month}:{{}}:{bounds[0]}-{bounds[1]}:r{run}"
    today = ctx.clock.today()
    for source, letter, bt, memo in (
        ("hpf_account", "h", BT_FROM_HPF_ACCOUNT, f"{month}提取还贷"),
        ("bank_debit", "b", BT_REPAYMENT, f"{month}委托扣款还贷"),
    ):
        principal, interest = totals[source]
        if not principal + interest:
            continue
        key = "loan-me:" + suffix.format(letter)
        headers.append(ledger.EntryHeader(bt, f"LOAN-ME-{month}", key, last, today, memo, ctx.actor))
        if source == "hpf_account":
            t = _take.c
            parts += [
                select(*_line(key, MEMBER_CONTROL, Side.DEBIT, t.carried_fen, t.member_id, BalancePart.CARRIED.value))
                .where(t.carried_fen > 0),
                select(*_line(key, MEMBER_CONTROL, Side.DEBIT, t.current_fen, t.member_id, BalancePart.CURRENT.value))
                .where(t.current_fen > 0),
            ]  # fmt: skip
        else:
            parts.append(
                select(*_line(key, BANK_DEPOSITS, Side.DEBIT, literal(int(principal + interest), BigInteger)))
            )
        if principal:
            parts.append(
                select(*_line(key, ENTRUSTED_LOANS, Side.CREDIT, literal(int(principal), BigInteger)))
            )
        if interest:
            parts.append(select(*_line(key, LOAN_INTEREST, Side.CREDIT, literal(int(interest), BigInteger))))
    if headers:
        entries = ledger.post_set(conn, headers, union_all(*parts), ctx.clock)
        entry_of = {h.idempotency_key.split(":")[2]: entries[h.idempotency_key] for h in headers}
    else:
        entry_of = {}
    _apply_collection(conn, ctx, month, last, entry_of)
    collected = sum(int(p + i) for p, i in totals.values())
    for table in (_take, _due):
        table.drop(conn)
    return {"collected_fen": collected}


def _apply_collection(
    conn: Connection, ctx: Context, month: str, last: date, entry_of: dict[str, int]
) -> None:
    """Mark the collected installments paid, lower the loans' principal, settle repaid loans,
    and write one event per installment collected (all set-based)."""
    day = bindparam("last", type_=Date)
    conn.execute(
        text(
            "UPDATE loan_installment SET paid_principal_fen = principal_fen, paid_interest_fen = interest_fen, "
            "paid_on = :last, state = 'paid' "
            "WHERE due_date BETWEEN :first AND :last "
            "AND (due_date, loan_id) IN (SELECT due_date, loan_id FROM loan_due WHERE collect = 1)"
        ).bindparams(day, bindparam("first", type_=Date)),
        {"last": last, "first": last.replace(day=1)},
    )
    conn.exec_driver_sql(
        "UPDATE loan SET outstanding_principal_fen = outstanding_principal_fen - "
        "(SELECT SUM(d.principal_fen) FROM loan_due d WHERE d.loan_id = loan.id AND d.collect = 1), "
        "version = version + 1 "
        "WHERE id IN (SELECT loan_id FROM loan_due WHERE collect = 1)"
    )
    conn.execute(
        text(
            "UPDATE loan SET state = 'settled', settled_on = :last "
            "WHERE id IN (SELECT loan_id FROM loan_due WHERE collect = 1) "
            "AND outstanding_principal_fen = 0 AND penalty_fen = 0 AND penalty_base = 0 "
            "AND NOT EXISTS (SELECT 1 FROM loan_installment i WHERE i.loan_id = loan.id AND i.state <> 'paid')"
        ).bindparams(day),
        {"last": last},
    )
    d = _due.c
    entry = _entry_case(entry_of)
    conn.execute(
        loan_event.insert().from_select(
            ["loan_id", "kind", "business_date", "recorded_at", "actor", "entry_id", "amount_fen", "detail"],
            select(
                d.loan_id,
                literal("collected"),
                literal(last, Date),
                literal(ctx.clock.now()),
                literal(ctx.actor),
                entry,
                d.principal_fen + d.interest_fen,
                literal({"month": month}, JSON),
            ).where(d.collect == 1),
        )
    )


def _entry_case(entry_of: dict[str, int]) -> Any:
    d = _due.c
    return case(
        (d.source == "hpf_account", literal(entry_of.get("h"), BigInteger)),
        else_=literal(entry_of.get("b"), BigInteger),
    )


# ------------------------------------------------------------------------------- overdue


def mark_overdue(conn: Connection, ctx: Context, month: str, run: int) -> int:
    """The month's installments still unpaid become overdue; returns how many."""
    first, last = _month_bounds(month)
    policy = loan_policy_at(conn, last)
    accrue_penalty(conn, last, policy)  # the loans already overdue, through month-end first
    for table in (_due,):
        table.drop(conn, checkfirst=True)
        table.create(conn)
    conn.execute(
        text(
            "INSERT INTO loan_due (loan_id, member_id, source, principal_fen, interest_fen, "
            "due_date, collect) SELECT i.loan_id, l.borrower_id, l.repayment_source, "
            "i.principal_fen - i.paid_principal_fen, i.interest_fen - i.paid_interest_fen, i.due_date, 0 "
            "FROM loan_installment i CROSS JOIN loan l WHERE l.id = i.loan_id "
            "AND i.due_date BETWEEN :first AND :last AND i.state = 'due' AND l.state = 'active'"
        ).bindparams(bindparam("first", type_=Date), bindparam("last", type_=Date)),
        {"first": first, "last": last},
    )
    count, principal = conn.execute(
        select(func.count(), func.coalesce(func.sum(_due.c.principal_fen), 0))
    ).one()
    if not count:
        _due.drop(conn)
        return 0
    if principal:
        key = f"loan-overdue:{month}:r{run}"
        header = ledger.EntryHeader(BT_TO_OVERDUE, f"LOAN-ME-{month}", key, last, ctx.clock.today(),
                                    f"{month}正常转逾期本金", ctx.actor)  # fmt: skip
        amount = literal(int(principal), BigInteger)
        lines = union_all(
            select(*_line(key, OVERDUE_LOANS, Side.DEBIT, amount)),
            select(*_line(key, ENTRUSTED_LOANS, Side.CREDIT, amount)),
        )
        ledger.post_set(conn, [header], lines, ctx.clock)
    conn.execute(
        text(
            "UPDATE loan_installment SET state = 'overdue' WHERE due_date BETWEEN :first AND :last "
            "AND (due_date, loan_id) IN (SELECT due_date, loan_id FROM loan_due)"
        ).bindparams(bindparam("first", type_=Date), bindparam("last", type_=Date)),
        {"first": first, "last": last},
    )
    days = days_between_sql(conn, ":last", "d.due_date")
    conn.execute(
        text(
            "UPDATE loan SET "
            "overdue_principal_fen = overdue_principal_fen + "
            "  (SELECT SUM(d.principal_fen) FROM loan_due d WHERE d.loan_id = loan.id), "
            "overdue_interest_fen = overdue_interest_fen + "
            "  (SELECT SUM(d.interest_fen) FROM loan_due d WHERE d.loan_id = loan.id), "
            "penalty_base = penalty_base + (SELECT SUM((d.principal_fen + d.interest_fen) * "
            f"  {days}) FROM loan_due d WHERE d.loan_id = loan.id), "
            "overdue_since = COALESCE(overdue_since, (SELECT MIN(d.due_date) FROM loan_due d WHERE d.loan_id = loan.id)), "
            "penalty_through = :last, version = version + 1 "
            "WHERE id IN (SELECT loan_id FROM loan_due)"
        ).bindparams(bindparam("last", type_=Date)),
        {"last": last},
    )
    d = _due.c
    conn.execute(
        loan_event.insert().from_select(
            ["loan_id", "kind", "business_date", "recorded_at", "actor", "amount_fen", "detail"],
            select(d.loan_id, literal("overdue"), literal(last, Date), literal(ctx.clock.now()),
                   literal(ctx.actor), d.principal_fen + d.interest_fen, literal({"month": month}, JSON)),
        )
    )  # fmt: skip
    refresh_overdue_state(conn, ctx, last, policy)
    _due.drop(conn)
    return int(count)


def accrue_penalty(conn: Connection, day: date, policy: LoanPolicy) -> int:
    """Penalty base through ``day`` for every overdue loan, and the penalty owed as of it.

    ``penalty_through`` makes it idempotent: a day already accrued adds nothing.
    """
    days = days_between_sql(conn, ":day", "penalty_through")
    result = conn.execute(
        text(
            "UPDATE loan SET penalty_base = penalty_base + "
            f"(overdue_principal_fen + overdue_interest_fen) * {days}, penalty_through = :day "
            "WHERE state = 'active' AND overdue_since IS NOT NULL AND penalty_through < :day"
        ).bindparams(bindparam("day", type_=Date)),
        {"day": day},
    )
    conn.execute(
        text(
            f"UPDATE loan SET penalty_accrued_fen = penalty_fen + {PENALTY_OF_BASE} "
            "WHERE state = 'active' AND (overdue_since IS NOT NULL OR penalty_fen > 0)"
        ),
        penalty_params(policy),
    )
    return int(result.rowcount or 0)


def _class_case(policy: LoanPolicy, days: str) -> tuple[str, dict[str, int]]:
    t = policy.classification_thresholds
    sql = (
        f"CASE WHEN {days} >= :t_loss THEN '05' WHEN {days} >= :t_doubtful THEN '04' "
        f"WHEN {days} >= :t_sub THEN '03' WHEN {days} >= :t_special THEN '02' ELSE '01' END"
    )
    return sql, {
        "t_loss": t.loss,
        "t_doubtful": t.doubtful,
        "t_sub": t.substandard,
        "t_special": t.special_mention,
    }


def refresh_overdue_state(conn: Connection, ctx: Context, day: date, policy: LoanPolicy) -> dict[str, int]:
    """Days past due and five-level class of every active loan as of ``day`` (set-based), an
    event for each change of class, and the dunning notices due."""
    dpd = (
        "CASE WHEN overdue_since IS NULL THEN 0 ELSE "
        + days_between_sql(conn, ":day", "overdue_since")
        + " END"
    )
    new_class, thresholds = _class_case(policy, dpd)
    scope = "state = 'active' AND (overdue_since IS NOT NULL OR days_past_due <> 0 OR classification <> '01')"
    day_param = bindparam("day", type_=Date)
    detail = (
        f"json_object('from', classification, 'to', {new_class})"
        if conn.dialect.name == "sqlite"
        else f"json_build_object('from', classification, 'to', {new_class})"
    )
    changed = conn.execute(
        text(
            "INSERT INTO loan_event (loan_id, kind, business_date, recorded_at, actor, detail) "
            f"SELECT id, 'classified', :day, :now, :actor, {detail} FROM loan "
            f"WHERE {scope} AND classification <> {new_class}"
        ).bindparams(day_param, bindparam("now", type_=loan.c.created_at.type)),
        {"day": day, "now": ctx.clock.now(), "actor": ctx.actor, **thresholds},
    ).rowcount
    conn.execute(
        text(f"UPDATE loan SET days_past_due = {dpd}, classification = {new_class} WHERE {scope}").bindparams(
            day_param
        ),
        {"day": day, **thresholds},
    )
    stage = " ".join(f"WHEN l.days_past_due >= {int(d)} THEN {int(d)}" for d in reversed(policy.dunning_days))
    notices = conn.execute(
        text(
            "INSERT INTO dunning_notice (loan_id, overdue_since, stage, issued_on, days_past_due, amount_fen, channel) "
            f"SELECT l.id, l.overdue_since, CASE {stage} END, :day, l.days_past_due, "
            "l.overdue_principal_fen + l.overdue_interest_fen + l.penalty_accrued_fen, 'letter' FROM loan l "
            f"WHERE l.state = 'active' AND l.overdue_since IS NOT NULL AND l.days_past_due >= {int(policy.dunning_days[0])} "
            "AND NOT EXISTS (SELECT 1 FROM dunning_notice n WHERE n.loan_id = l.id "
            f"AND n.overdue_since = l.overdue_since AND n.stage = CASE {stage} END)"
        ).bindparams(day_param),
        {"day": day},
    ).rowcount
    return {"classification_changes": int(changed or 0), "dunning_notices": int(notices or 0)}


# ---------------------------------------------------------------------------------- daily


def run_loan_daily(engine: Engine, ctx: Context, day: date) -> JobSummary:
    """The overdue run of ``day``: penalty, days past due, classes, dunning (one transaction)."""
    if ctx.clock.today() < day:
        raise Conflict("loan.daily_too_early", "业务日期未到，不能进行逾期日终处理",
                       f"the daily loan run of {day} needs the business date on or after it")  # fmt: skip
    period = day.isoformat()
    with write_transaction(engine) as conn:
        policy = loan_policy_at(conn, day)
        if not start_job(conn, DAILY_JOB, period, ctx.clock):
            return {**(job_summary(conn, DAILY_JOB, period) or {}), "already_done": True}
        accrued = accrue_penalty(conn, day, policy)
        changes = refresh_overdue_state(conn, ctx, day, policy)
        overdue_loans, penalty = conn.execute(
            select(func.count(), func.coalesce(func.sum(loan.c.penalty_accrued_fen), 0))
            .where(loan.c.state == "active", loan.c.overdue_since.is_not(None))
        ).one()  # fmt: skip
        by_class: dict[str, int] = dict(
            conn.execute(
                select(loan.c.classification, func.count())
                .where(loan.c.state == "active")
                .group_by(loan.c.classification)
            ).all()
        )
        summary: JobSummary = {
            "day": period, "loans_accrued": accrued, "overdue_loans": int(overdue_loans),
            "penalty_accrued_fen": int(penalty), **changes,
            "classes": {str(k): int(v) for k, v in sorted(by_class.items())},
        }  # fmt: skip
        finish_job(conn, DAILY_JOB, period, ctx, summary)
    return summary


def loan_job_summary(engine: Engine, job: str, period: str) -> JobSummary | None:
    with read_transaction(engine) as conn:
        return job_summary(conn, job, period)
