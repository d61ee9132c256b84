"""Loan book use cases: create a loan with its schedule, activate it once disbursed, re-price on
1 January, take repayments in the recovery order, partial and full prepayment, and the
collateral registry feed with its risk queue.

Every function takes the caller's open ``Connection`` and never commits (the use case owns the
transaction). Amounts come from the pure rules (``schedule``, ``overdue``, ``rates``); money
moves only through ``hpf.ledger`` and every money-moving call takes an idempotency key: a replay
returns the first answer and moves nothing.

Accounting (REFERENCE §6.4): disbursement Dr 121 委托贷款 / Cr 21903 at reservation, then
Dr 21903 / Cr 101 when the bank pays (``hpf.settlement``; see :func:`activate`); an installment collected Dr 201 (the borrower's HPF account,
提取还贷) or Dr 101 (bank) / Cr 121 principal, Cr 40103 interest; an installment not collected at
month-end moves its principal Dr 122 逾期贷款 / Cr 121; a recovery credits 122 for the overdue
principal it repays. Interest and penalty interest are income when received (cash basis: 111
应收利息 is not used), so the books hold principal only and ``hpf check`` proves
Σ outstanding principal of active loans = 121 + 122.

The jobs (month-end collection, the daily overdue run) live in ``hpf.loans.book.jobs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from hpf.accounts import queries as accounts_queries
from hpf.db.bulk import bulk_insert
from hpf.events import record as record_business_event
from hpf.jobs import JobSummary, finish_job, job_summary, start_job
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from hpf.kernel.identifiers import parse_bank_card
from hpf.kernel.money import require_fen
from hpf.ledger import queries as ledger_queries
from hpf.ledger import service as ledger
from hpf.ledger.chart import BANK_DEPOSITS, MEMBER_CONTROL, Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.loans.application.rules import LoanPolicy
from hpf.loans.book import overdue
from hpf.loans.book.results import (
    NO_NEXT_DUE,
    CollateralEvent,
    CollateralFlag,
    DunningNotice,
    Loan,
    LoanEvent,
    LoanOverview,
    NamedMember,
    NextDue,
    Parties,
    Prepayment,
    Repayment,
    Row,
    ScheduledInstallment,
    event_of,
    installment_of,
    loan_of,
    overview_of,
    prepayment_of,
    repayment_of,
)
from hpf.loans.book.tables import collateral_event, dunning_notice, loan, loan_event, loan_installment
from hpf.loans.calculator import rates
from hpf.loans.calculator.batch import LoanTerms as BatchTerms
from hpf.loans.calculator.batch import many_schedules
from hpf.loans.calculator.schedule import (
    Installment,
    Method,
    PrepaymentChoice,
    Schedule,
    build_schedule,
    days_30_360,
    due_date,
    payoff_quote,
    split_prepayment,
)
from hpf.loans.calculator.schedule import prepay as prepay_schedule
from hpf.policy.queries import loan_policy_at
from hpf.protection.protect import blind_index, reveal, seal

ENTRUSTED_LOANS = "121"  # 委托贷款
OVERDUE_LOANS = "122"  # 逾期贷款
LOAN_INTEREST = "40103"  # 委托贷款利息收入
RATE_SCALE = 10**7  # loan.rate_e7 = annual rate × 10⁷

# Journal business types (贷款业务明细类型 DKYWMXLX; 11 部分提取 where the member's account pays,
# so the member's statement reads it as the withdrawal it is).
BT_REPAYMENT = "02"
BT_PREPAYMENT = "03"
BT_OVERDUE_REPAYMENT = "04"
BT_PAYOFF = "06"
BT_FROM_HPF_ACCOUNT = "11"
BT_TO_OVERDUE = "99"  # 正常转逾期本金 (ZCZYQBJJE): no code of its own


class RepaymentSource(StrEnum):
    """Where a loan's installments come from."""

    HPF_ACCOUNT = "hpf_account"  # 提取还贷: the borrower's HPF balance, at month-end
    BANK_DEBIT = "bank_debit"  # 委托扣款: the borrower's bank card (BDC105 with hpf.settlement)


class PaymentSource(StrEnum):
    """Who pays a repayment or prepayment handed in at the counter."""

    HPF_ACCOUNT = "hpf_account"  # Dr 201, the borrower's balance
    BANK = "bank"  # Dr 101, money received into the center's bank account


def _invalid(code: str, title: str, detail: str, field: str | None = None) -> InvalidInput:
    extra: dict[str, Any] = {"field": field} if field else {}
    return InvalidInput(code, title, detail, **extra)


# ------------------------------------------------------------------------------- creation


@dataclass(frozen=True)
class LoanTerms:
    """The figures of an approved application that make a loan contract (借款合同)."""

    application_id: int
    borrower_id: int
    principal_fen: int
    annual_rate: Decimal
    term_months: int
    method: Method
    contract_date: date
    first_due_date: date
    repayment_source: RepaymentSource
    house_nature: str  # FWXZ 01 新房 / 02 二手房
    second_home: bool
    house_price_fen: int
    floor_area: Decimal  # m²
    guarantee_type: str  # DKDBLX 01 抵押 / 02 质押 / 03 保证 / 99
    certificate_no: str | None = None  # 他项权证号 (mortgage registration), required for 01
    appraisal_fen: int | None = None
    co_borrower_ids: tuple[int, ...] = ()
    debit_card: str | None = None  # the borrower's bank card for 委托扣款 (BDC105), sealed


def rate_e7(annual_rate: Decimal) -> int:
    """The rate as an exact integer of 10⁻⁷ (JKHTLL NUMERIC(8,7)); finer rates are refused."""
    if not isinstance(annual_rate, Decimal) or not annual_rate.is_finite() or not 0 <= annual_rate < 1:
        raise _invalid("loan.invalid_rate", "贷款年利率须为0至100%之间的小数",
                       f"the annual rate must be a Decimal in [0, 1), got {annual_rate!r}", "annual_rate")  # fmt: skip
    units = annual_rate * RATE_SCALE
    if units != units.to_integral_value():
        raise _invalid("loan.invalid_rate", "贷款利率最多保留七位小数",
                       f"rate {annual_rate} is finer than 1e-7", "annual_rate")  # fmt: skip
    return int(units)


def _validate(terms: LoanTerms, policy: LoanPolicy) -> str | None:
    """Refuse terms no loan may have; returns the normalised certificate number."""
    for name in ("principal_fen", "house_price_fen"):
        if require_fen(getattr(terms, name), name) <= 0:
            raise _invalid("loan.invalid_terms", "金额须大于零", f"{name} must be > 0", name)
    if terms.appraisal_fen is not None and require_fen(terms.appraisal_fen, "appraisal_fen") <= 0:
        raise _invalid("loan.invalid_terms", "评估价值须大于零", "appraisal_fen must be > 0", "appraisal_fen")
    rates.require_term(terms.term_months)
    if terms.term_months > policy.max_term_months:
        raise _invalid("loan.term_too_long", f"贷款期限最长{policy.max_term_months}个月",
                       f"{terms.term_months} months > {policy.max_term_months}", "term_months")  # fmt: skip
    rate_e7(terms.annual_rate)
    Method(terms.method)
    RepaymentSource(terms.repayment_source)
    if terms.house_nature not in ("01", "02"):
        raise _invalid("loan.invalid_terms", "房屋性质须为01新房或02二手房",
                       f"house_nature {terms.house_nature!r} is not 01/02", "house_nature")  # fmt: skip
    if terms.guarantee_type not in ("01", "02", "03", "99"):
        raise _invalid("loan.invalid_terms", "担保类型须为01、02、03或99",
                       f"guarantee_type {terms.guarantee_type!r}", "guarantee_type")  # fmt: skip
    if not isinstance(terms.floor_area, Decimal) or not terms.floor_area > 0:
        raise _invalid(
            "loan.invalid_terms",
            "建筑面积须为正数（平方米）",
            "floor_area must be a Decimal > 0",
            "floor_area",
        )
    if terms.first_due_date <= terms.contract_date:
        raise _invalid("loan.invalid_terms", "首期还款日须晚于合同签订日",
                       f"first due {terms.first_due_date} ≤ contract {terms.contract_date}", "first_due_date")  # fmt: skip
    certificate = (terms.certificate_no or "").strip().upper() or None
    if terms.guarantee_type == "01" and certificate is None:
        raise _invalid("loan.certificate_required", "抵押贷款须登记他项权证号",
                       "a mortgage-guaranteed loan needs its registration certificate number", "certificate_no")  # fmt: skip
    if terms.borrower_id in terms.co_borrower_ids:
        raise _invalid("loan.invalid_terms", "借款人不能同时为共同借款人",
                       "the borrower is listed as a co-borrower", "co_borrower_ids")  # fmt: skip
    return certificate


def _require_members(conn: Connection, ids: Sequence[int]) -> None:
    found = {m.id for m in accounts_queries.open_members(conn, ids=ids)}
    missing = sorted(set(ids) - found)
    if missing:
        raise NotFound("loan.member_not_found", "借款人或共同借款人的个人账户不存在或已销户",
                       f"no open member account {missing[0]}", member_id=missing[0])  # fmt: skip


def create_loan(conn: Connection, ctx: Context, terms: LoanTerms) -> int:
    """Store the contract of an approved application and its schedule; returns the loan id.

    Idempotent by ``application_id``: the same terms again return the same loan; other terms
    under a used application are refused.
    """
    policy = loan_policy_at(conn, terms.contract_date)
    certificate = _validate(terms, policy)
    existing = conn.execute(
        select(loan.c.id, loan.c.borrower_id, loan.c.principal_fen, loan.c.rate_e7, loan.c.term_months)
        .where(loan.c.application_id == terms.application_id)
    ).first()  # fmt: skip
    if existing is not None:
        if tuple(existing[1:]) != (terms.borrower_id, terms.principal_fen, rate_e7(terms.annual_rate),
                                   terms.term_months):  # fmt: skip
            raise Conflict("loan.application_used", "该申请已生成另一笔贷款合同",
                           f"application {terms.application_id} already made loan {existing.id}", loan_id=existing.id)  # fmt: skip
        return int(existing.id)
    _require_members(conn, [terms.borrower_id, *terms.co_borrower_ids])
    debit_card = parse_bank_card(terms.debit_card, field="debit_card") if terms.debit_card else None
    schedule = build_schedule(
        terms.principal_fen, terms.annual_rate, terms.term_months, Method(terms.method), terms.first_due_date
    )
    loan_id = conn.execute(
        insert(loan).returning(loan.c.id),
        {
            "contract_no": f"{ctx.center_code}{terms.contract_date:%Y}{terms.application_id:010d}",
            "application_id": terms.application_id,
            "borrower_id": terms.borrower_id,
            "co_borrower_ids": list(terms.co_borrower_ids),
            "house_nature": terms.house_nature,
            "second_home": terms.second_home,
            "house_price_fen": terms.house_price_fen,
            "floor_area": terms.floor_area,
            "certificate_no_enc": seal("loan", "certificate_no", certificate),
            "certificate_no_bidx": blind_index("loan", "certificate_no", certificate)
            if certificate
            else None,
            "debit_card_enc": seal("loan", "debit_card", debit_card),
            "appraisal_fen": terms.appraisal_fen,
            "guarantee_type": terms.guarantee_type,
            "principal_fen": terms.principal_fen,
            "annual_rate": terms.annual_rate,
            "rate_e7": rate_e7(terms.annual_rate),
            "term_months": terms.term_months,
            "method": Method(terms.method).code,
            "contract_date": terms.contract_date,
            "first_due_date": terms.first_due_date,
            "repayment_source": RepaymentSource(terms.repayment_source).value,
            "state": "approved",
            "outstanding_principal_fen": 0,
            "overdue_principal_fen": 0,
            "overdue_interest_fen": 0,
            "days_past_due": 0,
            "classification": "01",
            "penalty_base": 0,
            "penalty_fen": 0,
            "penalty_accrued_fen": 0,
            "created_at": ctx.clock.now(),
            "version": 1,
        },
    ).scalar_one()
    store_installments(conn, loan_id, schedule.installments)
    record_event(conn, ctx, loan_id, "created", amount_fen=terms.principal_fen,
                 detail={"application_id": terms.application_id, "months": schedule.months,
                         "installment_fen": schedule.installments[0].installment_fen})  # fmt: skip
    return int(loan_id)


INSTALLMENT_COLUMNS = (
    "loan_id", "period", "due_date", "rate_e7", "principal_fen", "interest_fen", "remaining_fen",
    "prepaid_fen", "paid_principal_fen", "paid_interest_fen", "state",
)  # fmt: skip


def store_installments(conn: Connection, loan_id: int, rows: Iterable[Installment]) -> None:
    bulk_insert(
        conn, loan_installment, INSTALLMENT_COLUMNS,
        [(loan_id, r.period, r.due_date, rate_e7(r.annual_rate), r.principal_fen, r.interest_fen, r.remaining_fen,
          r.prepaid_fen, 0, 0, "due") for r in rows],
    )  # fmt: skip


def record_event(
    conn: Connection,
    ctx: Context,
    loan_id: int,
    kind: str,
    *,
    entry_id: int | None = None,
    amount_fen: int | None = None,
    detail: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> None:
    """The loan's history row and its business event ``loan.<kind>``, in the caller's transaction."""
    conn.execute(
        insert(loan_event).values(
            loan_id=loan_id, kind=kind, business_date=ctx.clock.today(), recorded_at=ctx.clock.now(),
            actor=ctx.actor, entry_id=entry_id, amount_fen=amount_fen, detail=detail or {},
            idempotency_key=idempotency_key,
        )
    )  # fmt: skip
    record_business_event(conn, ctx, f"loan.{kind}", "loan", loan_id,
                          {**(detail or {}), "entry_id": entry_id, "amount_fen": amount_fen})  # fmt: skip


# ------------------------------------------------------------------------------- reading


def _load(conn: Connection, loan_id: int, *, lock: bool = True) -> Any:
    query = select(loan).where(loan.c.id == loan_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("loan.not_found", "贷款不存在", f"no loan {loan_id}")
    return row


def parties(conn: Connection, loan_id: int) -> Parties:
    """Who the loan belongs to (borrower and co-borrowers), without decrypting anything."""
    row = conn.execute(select(loan.c.borrower_id, loan.c.co_borrower_ids).where(loan.c.id == loan_id)).first()
    if row is None:
        raise NotFound("loan.not_found", "贷款不存在", f"no loan {loan_id}")
    return Parties(
        borrower_id=row.borrower_id, co_borrower_ids=tuple(int(i) for i in row.co_borrower_ids or ())
    )


def loan_view(conn: Connection, loan_id: int) -> Loan:
    """The loan as a record (certificate number and debit card in plaintext)."""
    row = _load(conn, loan_id, lock=False)._mapping
    return loan_of(
        row,
        certificate_no=reveal("loan", "certificate_no", row["certificate_no_enc"]),
        debit_card=reveal("loan", "debit_card", row["debit_card_enc"]),
    )


def installments(conn: Connection, loan_id: int) -> list[ScheduledInstallment]:
    rows = conn.execute(
        select(loan_installment)
        .where(loan_installment.c.loan_id == loan_id)
        .order_by(loan_installment.c.period)
    ).mappings()
    return [installment_of(r) for r in rows]


def events(conn: Connection, loan_id: int) -> list[LoanEvent]:
    rows = conn.execute(select(loan_event).where(loan_event.c.loan_id == loan_id).order_by(loan_event.c.id))
    return [event_of(r._mapping) for r in rows]


def _schedule(row: Any, rows: Sequence[ScheduledInstallment]) -> Schedule:
    method = Method.EQUAL_INSTALLMENT if row.method == "01" else Method.EQUAL_PRINCIPAL
    return Schedule(
        row.principal_fen, method, row.first_due_date,
        tuple(Installment(r.period, r.due_date, Decimal(r.rate_e7) / RATE_SCALE, r.principal_fen,
                          r.interest_fen, r.remaining_fen, r.prepaid_fen) for r in rows),
    )  # fmt: skip


def _replay(conn: Connection, key: str) -> dict[str, Any] | None:
    """The detail recorded by the first call with ``key``, if there was one."""
    detail = conn.scalar(select(loan_event.c.detail).where(loan_event.c.idempotency_key == key))
    return None if detail is None else dict(detail)


# ------------------------------------------------------------------------------- activation


def activate(conn: Connection, ctx: Context, loan_id: int, disbursed_on: date, entry_id: int) -> None:
    """Mark an approved loan active once its money has left: called by the disbursement flow.

    The payout belongs to ``hpf.settlement``: its *reservation* entry debits 121 委托贷款 and
    credits 21903 付款在途; when the bank pays, ``hpf.loans.application.handler.disbursement_settled``
    calls this with that entry (the payment entry, Dr 21903 / Cr 101, does not touch 121;
    decision 0013). Tests and the bench may post Dr 121 / Cr 101 themselves. The entry must debit
    121 by exactly the principal; the same call again is a no-op.
    """
    row = _load(conn, loan_id)
    if row.state == "active" and row.disbursement_entry_id == entry_id:
        return
    if row.state != "approved":
        raise IllegalTransition("loan.not_approved", "只有已审批未发放的贷款才能发放",
                                f"loan {loan_id} is {row.state}", state=row.state)  # fmt: skip
    if not row.contract_date <= disbursed_on < row.first_due_date:
        raise _invalid("loan.disbursement_date", "发放日期须在合同签订日与首期还款日之间",
                       f"{disbursed_on} outside [{row.contract_date}, {row.first_due_date})", "disbursed_on")  # fmt: skip
    debited = ledger_queries.entry_amount(conn, entry_id, ENTRUSTED_LOANS, Side.DEBIT)
    if debited != row.principal_fen:
        raise _invalid("loan.disbursement_mismatch", "发放凭证借记委托贷款金额与合同金额不符",
                       f"entry {entry_id} debits 121 by {debited} fen, the loan is {row.principal_fen}", "entry_id")  # fmt: skip
    used = conn.scalar(select(loan.c.id).where(loan.c.disbursement_entry_id == entry_id))
    if used is not None:
        raise Conflict(
            "loan.disbursement_used", "该发放凭证已用于另一笔贷款", f"entry {entry_id} disbursed loan {used}"
        )
    conn.execute(
        update(loan).where(loan.c.id == loan_id).values(
            state="active", disbursed_on=disbursed_on, disbursement_entry_id=entry_id,
            outstanding_principal_fen=row.principal_fen, version=loan.c.version + 1,
        )
    )  # fmt: skip
    record_event(conn, ctx, loan_id, "activated", entry_id=entry_id, amount_fen=row.principal_fen,
                 detail={"disbursed_on": disbursed_on.isoformat()})  # fmt: skip


# ---------------------------------------------------------------------- penalty in SQL


def days_between_sql(conn: Connection, later: str, earlier: str) -> str:
    """SQL for whole days from ``earlier`` to ``later`` (two date expressions), per engine."""
    if conn.dialect.name == "sqlite":
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
    return f"({later} - {earlier})"


def penalty_params(policy: LoanPolicy) -> dict[str, int]:
    """``penalty of a base = (2·base·rate_e7·mnum + scale) / (2·scale)`` in integer SQL: the
    same half-up rounding as ``overdue.penalty_interest(base, rate, 1)``."""
    mnum, mden = policy.penalty_multiplier.as_integer_ratio()
    return {"mnum": mnum, "scale": policy.penalty_day_basis * RATE_SCALE * mden}


PENALTY_OF_BASE = "((2 * penalty_base * rate_e7 * :mnum + :scale) / (2 * :scale))"


def crystallise_penalty_sql(where: str) -> str:
    """Fold the penalty of the accrued base into ``penalty_fen`` (before a rate change)."""
    return (
        f"UPDATE loan SET penalty_fen = penalty_fen + {PENALTY_OF_BASE}, penalty_base = 0 "
        f"WHERE penalty_base > 0 AND {where}"
    )


# ----------------------------------------------------------------------------- re-pricing

REPRICE_JOB = "loan_reprice"
_scratch = MetaData()
_reprice = Table(
    "loan_reprice_plan",
    _scratch,
    Column("loan_id", BigInteger, primary_key=True, autoincrement=False),
    Column("from_period", SmallInteger, nullable=False),
    Column("rate_e7", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


def reprice(conn: Connection, ctx: Context, on: date) -> JobSummary:
    """Re-price every active loan whose rate changes on ``on`` (a 1 January; REFERENCE §4.4).

    The new rate of each (contract date, term bucket, home) comes from ``rates``; only loans
    whose rate differs are touched: their installments from the first one due on or after
    ``on`` are recomputed on the contractual principal then outstanding over the months left,
    by the same method (``batch.many_schedules``, exact), in bulk. Penalty interest accrued at
    the old rate is crystallised first. Idempotent per year (``batch_job`` loan_reprice); a loan
    already at its new rate is left alone.
    """
    if (on.month, on.day) != (1, 1):
        raise _invalid("loan.reprice_date", "存量贷款利率调整日为1月1日", f"{on} is not a 1 January", "on")
    if ctx.clock.today() < on:
        raise Conflict(
            "loan.reprice_too_early",
            "未到利率调整日",
            f"re-pricing of {on} needs the business date on or after it",
        )
    period = on.isoformat()
    if not start_job(conn, REPRICE_JOB, period, ctx.clock):
        return {**(job_summary(conn, REPRICE_JOB, period) or {}), "already_done": True}
    combos = conn.execute(
        select(loan.c.contract_date, loan.c.term_months, loan.c.second_home, loan.c.rate_e7)
        .where(loan.c.state == "active").distinct()
    ).all()  # fmt: skip
    changes = {}
    for contract_date, term, second, old in combos:
        new = rate_e7(rates.rate_for_existing_loan(contract_date, on, term, second))
        if new != old:
            changes[(contract_date, term, bool(second), old)] = new
    policy = loan_policy_at(conn, on)
    _reprice.drop(conn, checkfirst=True)
    _reprice.create(conn)
    touched = _plan_repricing(conn, changes, on)
    if touched:
        conn.execute(text(crystallise_penalty_sql("id IN (SELECT loan_id FROM loan_reprice_plan)")),
                     penalty_params(policy))  # fmt: skip
        _rebuild_remaining(conn, ctx, on)
    _reprice.drop(conn)
    summary: JobSummary = {"on": period, "loans_repriced": touched, "rate_changes": len(changes)}
    finish_job(conn, REPRICE_JOB, period, ctx, summary)
    return summary


def _plan_repricing(conn: Connection, changes: dict[tuple[date, int, bool, int], int], on: date) -> int:
    rows = []
    for (contract_date, term, second, old), new in changes.items():
        first_open = (
            select(func.min(loan_installment.c.period)).where(
                loan_installment.c.loan_id == loan.c.id, loan_installment.c.state == "due",
                loan_installment.c.due_date >= on, loan_installment.c.paid_principal_fen == 0,
                loan_installment.c.paid_interest_fen == 0,
            ).scalar_subquery()
        )  # fmt: skip
        found = conn.execute(
            select(loan.c.id, first_open).where(
                loan.c.state == "active", loan.c.contract_date == contract_date, loan.c.term_months == term,
                loan.c.second_home == second, loan.c.rate_e7 == old,
            )
        ).all()  # fmt: skip
        rows += [(loan_id, start, new) for loan_id, start in found if start is not None]
    bulk_insert(conn, _reprice.name, ("loan_id", "from_period", "rate_e7"), rows)
    return len(rows)


def _rebuild_remaining(conn: Connection, ctx: Context, on: date) -> None:
    """Replace the installments of every planned loan from its ``from_period`` on."""
    li, plan = loan_installment.c, _reprice.c
    before = (
        select(li.remaining_fen).where(li.loan_id == plan.loan_id, li.period == plan.from_period - 1)
        .scalar_subquery()
    )  # fmt: skip
    last = select(func.max(li.period)).where(li.loan_id == plan.loan_id).scalar_subquery()
    work = conn.execute(
        select(plan.loan_id, plan.from_period, plan.rate_e7, func.coalesce(before, loan.c.principal_fen),
               last, loan.c.method, loan.c.first_due_date)
        .join(loan, loan.c.id == plan.loan_id).order_by(plan.loan_id)
    ).all()  # fmt: skip
    terms = [
        BatchTerms(balance, Decimal(new) / RATE_SCALE, last_period - start + 1,
                   Method.EQUAL_INSTALLMENT if method == "01" else Method.EQUAL_PRINCIPAL)
        for _, start, new, balance, last_period, method, _ in work
    ]  # fmt: skip
    computed = many_schedules(terms)
    conn.execute(
        delete(loan_installment).where(
            select(plan.loan_id).where(plan.loan_id == li.loan_id, li.period >= plan.from_period).exists()
        )
    )
    out = []
    for n, (loan_id, start, new, _bal, _last, _method, first_due) in enumerate(work):
        rate = new
        for offset, (principal, interest, remaining) in enumerate(computed.rows(n)):
            period = start + offset
            out.append((loan_id, period, due_date(first_due, period), rate, principal, interest, remaining,
                        0, 0, 0, "due"))  # fmt: skip
    bulk_insert(conn, loan_installment, INSTALLMENT_COLUMNS, out)
    for new in sorted({w[2] for w in work}):  # a few distinct new rates
        conn.execute(
            update(loan)
            .where(loan.c.id.in_(select(plan.loan_id).where(plan.rate_e7 == new)))
            .values(rate_e7=new, annual_rate=Decimal(new) / RATE_SCALE, version=loan.c.version + 1)
        )
    # The loans' history rows in one statement; the run's business event is its batch_job.finished.
    conn.execute(insert(loan_event), [
        {"loan_id": loan_id, "kind": "repriced", "business_date": ctx.clock.today(), "recorded_at": ctx.clock.now(),
         "actor": ctx.actor, "entry_id": None, "amount_fen": None, "idempotency_key": None,
         "detail": {"on": on.isoformat(), "from_period": start, "annual_rate": str(Decimal(new) / RATE_SCALE)}}
        for loan_id, start, new, *_ in work
    ])  # fmt: skip


# --------------------------------------------------------------------------- repayments


def _owed_rows(conn: Connection, loan_id: int, today: date) -> tuple[list[Any], list[Any]]:
    li = loan_installment.c
    rows = conn.execute(
        select(li.period, li.state, (li.principal_fen - li.paid_principal_fen).label("principal"),
               (li.interest_fen - li.paid_interest_fen).label("interest"))
        .where(li.loan_id == loan_id, li.state != "paid",
               (li.state == "overdue") | (li.due_date <= today))
        .order_by(li.period)
    ).all()  # fmt: skip
    return [r for r in rows if r.state == "overdue"], [r for r in rows if r.state == "due"]


def _accrue_penalty_to(conn: Connection, row: Any, today: date, policy: LoanPolicy) -> int:
    """Accrue and crystallise the penalty of one loan through ``today``; the penalty owed."""
    base = row.penalty_base
    if row.overdue_since is not None and row.penalty_through is not None and row.penalty_through < today:
        base += (row.overdue_principal_fen + row.overdue_interest_fen) * (today - row.penalty_through).days
    rate = Decimal(row.rate_e7) / RATE_SCALE
    penalty = row.penalty_fen + overdue.penalty_interest(
        base, rate, 1, policy.penalty_multiplier, policy.penalty_day_basis
    )
    conn.execute(
        update(loan).where(loan.c.id == row.id).values(
            penalty_base=0, penalty_fen=penalty, penalty_accrued_fen=penalty,
            penalty_through=today if row.overdue_since is not None else row.penalty_through,
        )
    )  # fmt: skip
    return int(penalty)


def _payer_lines(conn: Connection, row: Any, source: PaymentSource, amount: int) -> list[Line]:
    """The debit side of a payment: the borrower's HPF balance (carried-over part first) or the bank."""
    if PaymentSource(source) is PaymentSource.BANK:
        return [Line(BANK_DEPOSITS, Side.DEBIT, amount)]
    carried, current = ledger.member_balances(conn, [row.borrower_id]).get(row.borrower_id, (0, 0))
    if carried + current < amount:
        raise Conflict("loan.insufficient_balance", "借款人住房公积金账户余额不足",
                       f"balance {carried + current} fen < {amount} fen", balance_fen=carried + current)  # fmt: skip
    from_carried = min(carried, amount)
    lines = []
    if from_carried:
        lines.append(Line(MEMBER_CONTROL, Side.DEBIT, from_carried, member_id=row.borrower_id,
                          part=BalancePart.CARRIED))  # fmt: skip
    if amount - from_carried:
        lines.append(Line(MEMBER_CONTROL, Side.DEBIT, amount - from_carried, member_id=row.borrower_id,
                          part=BalancePart.CURRENT))  # fmt: skip
    return lines


def _business_type(loan_type: str, source: PaymentSource) -> str:
    """The entry's business type: the loan's (DKYWMXLX) when the bank pays; 11 部分提取 when the
    borrower's HPF account pays, so the member's statement reads it as the withdrawal it is
    (like the month-end's 提取还贷); the loan event keeps what it was for the loan."""
    return BT_FROM_HPF_ACCOUNT if PaymentSource(source) is PaymentSource.HPF_ACCOUNT else loan_type


def _credit_lines(interest: int, overdue_principal: int, principal: int) -> list[Line]:
    parts = ((LOAN_INTEREST, interest), (OVERDUE_LOANS, overdue_principal), (ENTRUSTED_LOANS, principal))
    return [Line(code, Side.CREDIT, fen) for code, fen in parts if fen]


def _refresh_overdue(conn: Connection, ctx: Context, loan_id: int, today: date, policy: LoanPolicy) -> None:
    """Overdue totals, days past due and class of one loan from its installments; a change of
    class (a recovery to 正常 after a repayment too) is recorded as a ``classified`` event."""
    li = loan_installment.c
    before = conn.scalar(select(loan.c.classification).where(loan.c.id == loan_id))
    since, principal, interest = conn.execute(
        select(func.min(li.due_date), func.coalesce(func.sum(li.principal_fen - li.paid_principal_fen), 0),
               func.coalesce(func.sum(li.interest_fen - li.paid_interest_fen), 0))
        .where(li.loan_id == loan_id, li.state == "overdue")
    ).one()  # fmt: skip
    days = (today - since).days if since is not None else 0
    values: dict[str, Any] = {
        "overdue_principal_fen": principal, "overdue_interest_fen": interest, "overdue_since": since,
        "days_past_due": days,
        "classification": overdue.classify(days, policy.classification_thresholds).value,
    }  # fmt: skip
    if since is None:
        values.update(penalty_base=0, penalty_through=None)
    conn.execute(update(loan).where(loan.c.id == loan_id).values(**values))
    if before is not None and before != values["classification"]:
        record_event(
            conn, ctx, loan_id, "classified", detail={"from": before, "to": values["classification"]}
        )


def _settle_if_repaid(conn: Connection, loan_id: int, today: date) -> bool:
    """Settle a loan with nothing left to pay (the caller records the event)."""
    row = _load(conn, loan_id)
    unpaid = conn.scalar(
        select(func.count()).where(loan_installment.c.loan_id == loan_id, loan_installment.c.state != "paid")
    )
    if row.outstanding_principal_fen or unpaid or row.penalty_fen:
        return False
    conn.execute(update(loan).where(loan.c.id == loan_id).values(state="settled", settled_on=today))
    return True


def repay(
    conn: Connection,
    ctx: Context,
    loan_id: int,
    amount_fen: int,
    source: PaymentSource,
    idempotency_key: str,
) -> Repayment:
    """A repayment of what is owed today, in the recovery order (``overdue.allocate_recovery``):
    penalty interest, overdue interest, overdue principal, then the installments due.

    Overdue principal leaves 122, current principal 121; interest and penalty are income
    (40103). Paying more than is owed is refused: see :func:`prepay`. Replays return the first
    answer (``replayed``).
    """
    key = f"loan-repay:{idempotency_key}"
    replayed = _replay(conn, key)
    if replayed is not None:
        return repayment_of(replayed, replayed=True)
    row = _load(conn, loan_id)
    if row.state != "active":
        raise IllegalTransition(
            "loan.not_active", "贷款不在还款期", f"loan {loan_id} is {row.state}", state=row.state
        )
    today = ctx.clock.today()
    policy = loan_policy_at(conn, today)
    penalty = _accrue_penalty_to(conn, row, today, policy)
    late, current = _owed_rows(conn, loan_id, today)
    as_owed = [overdue.Owed(r.period, r.interest, r.principal) for r in late]
    paid = overdue.allocate_recovery(
        amount_fen, penalty, as_owed, [overdue.Owed(r.period, r.interest, r.principal) for r in current]
    )
    interest = sum(o.interest_fen for o in (*paid.overdue, *paid.current)) + paid.penalty_fen
    late_principal = sum(o.principal_fen for o in paid.overdue)
    principal = sum(o.principal_fen for o in paid.current)
    business_type = _business_type(BT_OVERDUE_REPAYMENT if late else BT_REPAYMENT, source)
    entry = JournalEntry(
        business_type, f"LOAN-{loan_id}", key, today, today,
        (*_payer_lines(conn, row, source, amount_fen), *_credit_lines(interest, late_principal, principal)),
        memo="逾期还款" if late else "正常还款", actor=ctx.actor,
    )  # fmt: skip
    entry_id = ledger.post(conn, entry, ctx.clock)
    for o in (*paid.overdue, *paid.current):
        if o.interest_fen or o.principal_fen:
            _pay_installment(conn, loan_id, o.period, o.principal_fen, o.interest_fen, today)
    conn.execute(
        update(loan).where(loan.c.id == loan_id).values(
            outstanding_principal_fen=loan.c.outstanding_principal_fen - late_principal - principal,
            penalty_fen=loan.c.penalty_fen - paid.penalty_fen,
            penalty_accrued_fen=loan.c.penalty_accrued_fen - paid.penalty_fen, version=loan.c.version + 1,
        )
    )  # fmt: skip
    _refresh_overdue(conn, ctx, loan_id, today, policy)
    result: dict[str, Any] = {
        "loan_id": loan_id, "entry_id": entry_id, "amount_fen": amount_fen, "penalty_fen": paid.penalty_fen,
        "overdue_interest_fen": sum(o.interest_fen for o in paid.overdue),
        "overdue_principal_fen": late_principal,
        "current_interest_fen": sum(o.interest_fen for o in paid.current), "current_principal_fen": principal,
    }  # fmt: skip
    result["settled"] = _settle_if_repaid(conn, loan_id, today)
    record_event(conn, ctx, loan_id, "repaid", entry_id=entry_id, amount_fen=amount_fen, detail=result,
                 idempotency_key=key)  # fmt: skip
    if result["settled"]:
        record_event(conn, ctx, loan_id, "settled", detail={"on": today.isoformat()})
    return repayment_of(result)


def _pay_installment(
    conn: Connection, loan_id: int, period: int, principal: int, interest: int, day: date
) -> None:
    li = loan_installment.c
    conn.execute(
        update(loan_installment).where(li.loan_id == loan_id, li.period == period).values(
            paid_principal_fen=li.paid_principal_fen + principal, paid_interest_fen=li.paid_interest_fen + interest,
            paid_on=day,
        )
    )  # fmt: skip
    conn.execute(
        update(loan_installment)
        .where(li.loan_id == loan_id, li.period == period, li.paid_principal_fen == li.principal_fen, li.paid_interest_fen == li.interest_fen)
        .values(state="paid")
    )  # fmt: skip


# --------------------------------------------------------------------------- prepayment


def _prepayable(conn: Connection, row: Any, today: date) -> tuple[Schedule, int]:
    """The loan's schedule and the last period paid; refused while anything is owed."""
    if row.state != "active":
        raise IllegalTransition(
            "loan.not_active", "贷款不在还款期", f"loan {row.id} is {row.state}", state=row.state
        )
    rows = installments(conn, row.id)
    owing = [r for r in rows if r.state == "overdue" or (r.state == "due" and r.due_date <= today)]
    if owing or row.penalty_fen or row.penalty_base:
        raise Conflict("loan.arrears_first", "请先归还逾期及当期应还本息、罚息，再办理提前还款",
                       f"period {owing[0].period if owing else '-'} and any penalty must be repaid first")  # fmt: skip
    paid_through = max((r.period for r in rows if r.state == "paid"), default=0)
    return _schedule(row, rows), paid_through


def _plan_prepayment(
    schedule: Schedule, paid_through: int, amount_fen: int, choice: PrepaymentChoice | str, today: date
) -> tuple[int, int, Schedule]:
    """A partial prepayment of ``amount_fen`` today: its principal and interest parts and the new
    schedule (what :func:`prepay` books and :func:`prepayment_quote` shows)."""
    if paid_through == 0:
        raise Conflict("loan.prepay_too_early", "首期还款前不能部分提前还款（可全部结清）",
                       "a partial prepayment needs the first installment paid")  # fmt: skip
    days = days_30_360(schedule.installments[paid_through - 1].due_date, today)
    principal, interest = split_prepayment(amount_fen, schedule.installments[paid_through].annual_rate, days)
    return principal, interest, prepay_schedule(schedule, paid_through, principal, PrepaymentChoice(choice))


def prepay(
    conn: Connection,
    ctx: Context,
    loan_id: int,
    amount_fen: int,
    choice: PrepaymentChoice,
    source: PaymentSource,
    idempotency_key: str,
    reference: str | None = None,
) -> Prepayment:
    """A partial prepayment (部分提前还款) of ``amount_fen`` today; the borrower chooses to shorten
    the term or lower the installment (``schedule.prepay``).

    The amount is split into principal and the interest on it since the last due date
    (``schedule.split_prepayment``, REFERENCE §4.6); the remaining installments are recomputed.
    Only after the first installment and with nothing owed. Dr payer / Cr 121, Cr 40103.
    """
    key = f"loan-prepay:{idempotency_key}"
    replayed = _replay(conn, key)
    if replayed is not None:
        return prepayment_of(replayed, replayed=True)
    require_fen(amount_fen, "amount_fen")
    row = _load(conn, loan_id)
    today = ctx.clock.today()
    schedule, paid_through = _prepayable(conn, row, today)
    principal, interest, new = _plan_prepayment(schedule, paid_through, amount_fen, choice, today)
    entry = JournalEntry(
        _business_type(BT_PREPAYMENT, source), f"LOAN-{loan_id}", key, today, today,
        (*_payer_lines(conn, row, source, amount_fen), *_credit_lines(interest, 0, principal)),
        memo=f"部分提前还款（{PrepaymentChoice(choice).name_zh}）"
        + ("，提取还贷" if PaymentSource(source) is PaymentSource.HPF_ACCOUNT else ""),
        actor=ctx.actor,
    )  # fmt: skip
    entry_id = ledger.post(conn, entry, ctx.clock)
    li = loan_installment.c
    conn.execute(delete(loan_installment).where(li.loan_id == loan_id, li.period > paid_through))
    kept = new.installments[paid_through - 1]
    conn.execute(
        update(loan_installment).where(li.loan_id == loan_id, li.period == paid_through)
        .values(prepaid_fen=kept.prepaid_fen, remaining_fen=kept.remaining_fen)
    )  # fmt: skip
    store_installments(conn, loan_id, new.installments[paid_through:])
    conn.execute(
        update(loan).where(loan.c.id == loan_id).values(
            outstanding_principal_fen=loan.c.outstanding_principal_fen - principal, version=loan.c.version + 1
        )
    )  # fmt: skip
    result: dict[str, Any] = {
        "loan_id": loan_id, "entry_id": entry_id, "amount_fen": amount_fen, "principal_fen": principal,
        "interest_fen": interest, "choice": PrepaymentChoice(choice).value, "months_left": new.months - paid_through,
        "next_installment_fen": new.installments[paid_through].installment_fen,
        "source": PaymentSource(source).value, "reference": reference,
    }  # fmt: skip
    record_event(conn, ctx, loan_id, "prepaid", entry_id=entry_id, amount_fen=amount_fen, detail=result,
                 idempotency_key=key)  # fmt: skip
    return prepayment_of(result)


def payoff(
    conn: Connection, ctx: Context, loan_id: int, source: PaymentSource, idempotency_key: str,
    reference: str | None = None,
) -> Prepayment:  # fmt: skip
    """Full prepayment (提前结清) today: the principal outstanding plus interest accrued since the
    last due date (``schedule.payoff_quote``). The next installment becomes the payoff row, later
    ones go; the loan is settled. Dr payer / Cr 121, Cr 40103.
    """
    key = f"loan-payoff:{idempotency_key}"
    replayed = _replay(conn, key)
    if replayed is not None:
        return prepayment_of(replayed, replayed=True)
    row = _load(conn, loan_id)
    today = ctx.clock.today()
    schedule, paid_through = _prepayable(conn, row, today)
    quote = payoff_quote(schedule, paid_through, today, row.disbursed_on)
    entry = JournalEntry(
        _business_type(BT_PAYOFF, source), f"LOAN-{loan_id}", key, today, today,
        (*_payer_lines(conn, row, source, quote.total_fen), *_credit_lines(quote.interest_fen, 0, quote.principal_fen)),
        memo="提前结清（提取还贷）" if PaymentSource(source) is PaymentSource.HPF_ACCOUNT else "提前结清",
        actor=ctx.actor,
    )  # fmt: skip
    entry_id = ledger.post(conn, entry, ctx.clock)
    li = loan_installment.c
    last = paid_through + 1
    conn.execute(delete(loan_installment).where(li.loan_id == loan_id, li.period > last))
    conn.execute(
        update(loan_installment).where(li.loan_id == loan_id, li.period == last).values(
            principal_fen=quote.principal_fen, interest_fen=quote.interest_fen, remaining_fen=0, prepaid_fen=0,
            paid_principal_fen=quote.principal_fen, paid_interest_fen=quote.interest_fen, paid_on=today,
            state="paid",
        )
    )  # fmt: skip
    conn.execute(
        update(loan).where(loan.c.id == loan_id).values(
            outstanding_principal_fen=0, state="settled", settled_on=today, version=loan.c.version + 1
        )
    )  # fmt: skip
    result: dict[str, Any] = {
        "loan_id": loan_id, "entry_id": entry_id, "amount_fen": quote.total_fen,
        "principal_fen": quote.principal_fen, "interest_fen": quote.interest_fen, "days": quote.days,
        "choice": PAYOFF, "months_left": 0, "settled": True, "source": PaymentSource(source).value,
        "reference": reference,
    }  # fmt: skip
    record_event(conn, ctx, loan_id, "paid_off", entry_id=entry_id, amount_fen=quote.total_fen, detail=result,
                 idempotency_key=key)  # fmt: skip
    return prepayment_of(result)


def execute_prepayment(
    conn: Connection,
    ctx: Context,
    loan_id: int,
    choice: str,
    amount_fen: int | None,
    source: PaymentSource | str,
    idempotency_key: str,
    reference: str | None = None,
) -> Prepayment:
    """提前还款 as a member or a teller hands it in: ``choice`` ``shorten-term`` or
    ``reduce-installment`` (:func:`prepay`, ``amount_fen`` required) or ``payoff``
    (:func:`payoff`, the amount is the payoff's). The same key answers the first result
    (``replayed``) and moves nothing; the same key with another choice or amount is refused.
    """
    picked = parse_choice(choice)
    try:
        paid_by = PaymentSource(source)
    except ValueError:
        raise _invalid("loan.invalid_source", "请选择还款资金来源：公积金账户或银行转账",
                       f"source {source!r} is not hpf_account or bank", "source") from None  # fmt: skip
    if picked == PAYOFF:
        result = payoff(conn, ctx, loan_id, paid_by, idempotency_key, reference)
    else:
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
            raise _invalid("loan.invalid_prepayment", "请填写大于零的提前还款金额",
                           f"amount_fen must be a positive integer, got {amount_fen!r}", "amount")  # fmt: skip
        result = prepay(
            conn, ctx, loan_id, amount_fen, PrepaymentChoice(picked), paid_by, idempotency_key, reference
        )
    if result.replayed:
        asked: tuple[Any, ...] = (loan_id, picked, None if picked == PAYOFF else amount_fen)
        first: tuple[Any, ...] = (
            result.loan_id, result.choice, None if picked == PAYOFF else result.amount_fen,
        )  # fmt: skip
        if asked != first:
            raise Conflict("loan.idempotency_conflict", "该业务流水号已用于另一笔提前还款",
                           f"key {idempotency_key!r} was used for {first}, not {asked}")  # fmt: skip
    return result


# ----------------------------------------------------------------------- collateral feed


@dataclass(frozen=True)
class CollateralNotice:
    """One record of the real-estate registry feed about a mortgaged home."""

    external_id: str  # the feed's record id (replays are recognised by it)
    certificate_no: str  # 他项权证号 of the mortgage
    kind: str  # seizure 查封 | sale 过户 | dispute 异议/诉讼 | release 解除
    reported_on: date


class CollateralFeed(Protocol):
    """The registry (不动产登记) interface: notices reported on or after a day."""

    def notices(self, since: date) -> Iterable[CollateralNotice]: ...


@dataclass
class FakeCollateralFeed:
    """Development and tests: a feed that returns the notices it was given."""

    given: Sequence[CollateralNotice]

    def notices(self, since: date) -> Iterable[CollateralNotice]:
        return [n for n in self.given if n.reported_on >= since]


ADVERSE = ("seizure", "sale", "dispute")


def ingest_collateral_events(
    conn: Connection, ctx: Context, notices: Iterable[CollateralNotice], source: str
) -> dict[str, int]:
    """Store the feed's notices against the loans they concern (by the certificate's blind
    index) and flag the loan on a seizure, sale or dispute, for the risk queue.

    A notice seen before (same source and ``external_id``) is skipped; one about no loan is
    counted as ``unmatched`` and not stored.
    """
    counts = {"stored": 0, "duplicates": 0, "unmatched": 0, "flagged": 0}
    for notice in notices:
        if notice.kind not in (*ADVERSE, "release"):
            raise _invalid(
                "loan.collateral_kind", "不动产登记通知类型无法识别", f"kind {notice.kind!r}", "kind"
            )
        seen = conn.scalar(
            select(collateral_event.c.id).where(
                collateral_event.c.source == source, collateral_event.c.external_id == notice.external_id
            )
        )
        if seen is not None:
            counts["duplicates"] += 1
            continue
        bidx = blind_index("loan", "certificate_no", notice.certificate_no.strip().upper())
        loan_ids = conn.scalars(
            select(loan.c.id).where(
                loan.c.certificate_no_bidx == bidx, loan.c.state.in_(("approved", "active"))
            )
        ).all()
        if not loan_ids:
            counts["unmatched"] += 1
            continue
        for loan_id in loan_ids:
            conn.execute(
                insert(collateral_event).values(
                    loan_id=loan_id, kind=notice.kind, reported_on=notice.reported_on, source=source,
                    external_id=notice.external_id, received_at=ctx.clock.now(),
                )
            )  # fmt: skip
            counts["stored"] += 1
            if notice.kind in ADVERSE:
                conn.execute(
                    update(loan).where(loan.c.id == loan_id)
                    .values(collateral_flag=notice.kind, collateral_flagged_on=notice.reported_on)
                )  # fmt: skip
                record_event(conn, ctx, loan_id, "collateral_flagged",
                             detail={"kind": notice.kind, "reported_on": notice.reported_on.isoformat(), "source": source})  # fmt: skip
                counts["flagged"] += 1
    return counts


def collateral_risk_queue(conn: Connection) -> list[CollateralFlag]:
    """Loans whose collateral the registry reported on, not yet reviewed, oldest flag first."""
    rows = conn.execute(
        select(loan.c.id, loan.c.contract_no, loan.c.borrower_id, loan.c.collateral_flag,
               loan.c.collateral_flagged_on, loan.c.outstanding_principal_fen, loan.c.classification)
        .where(loan.c.collateral_flag.is_not(None))
        .order_by(loan.c.collateral_flagged_on, loan.c.id)
    ).mappings()  # fmt: skip
    return [
        CollateralFlag(
            id=r["id"], contract_no=r["contract_no"], borrower_id=r["borrower_id"],
            collateral_flag=r["collateral_flag"], collateral_flagged_on=r["collateral_flagged_on"],
            outstanding_principal_fen=r["outstanding_principal_fen"], classification=r["classification"],
        )
        for r in rows
    ]  # fmt: skip


def review_collateral(conn: Connection, ctx: Context, loan_id: int, note: str) -> None:
    """Staff reviewed the flag (the risk queue's way out); the events stay."""
    row = _load(conn, loan_id)
    if row.collateral_flag is None:
        raise Conflict(
            "loan.no_collateral_flag", "该贷款没有待处理的抵押物风险提示", f"loan {loan_id} is not flagged"
        )
    if not note.strip():
        raise _invalid("loan.note_required", "请填写处理意见", "a review needs a note", "note")
    conn.execute(
        update(loan).where(loan.c.id == loan_id).values(collateral_flag=None, collateral_flagged_on=None)
    )
    record_event(
        conn, ctx, loan_id, "collateral_reviewed", detail={"flag": row.collateral_flag, "note": note}
    )


# ------------------------------------------------------------------- pages and API (reads)
#
# Read-only views for the member's 我的贷款, the staff loan book and the prepayment quote: none
# of these writes a row or posts an entry.

LOAN_STATE_ZH = {"approved": "已审批待发放", "active": "还款中", "settled": "已结清", "written_off": "已核销"}
LOAN_STATES_SHOWN = tuple(LOAN_STATE_ZH)
INSTALLMENT_STATE_ZH = {"paid": "已还", "due": "待还", "overdue": "逾期"}
EVENT_ZH = {
    "created": "签订借款合同", "activated": "贷款发放", "collected": "按月扣收", "overdue": "转入逾期",
    "classified": "风险分类调整", "repaid": "还款", "prepaid": "部分提前还款", "paid_off": "提前结清",
    "settled": "贷款结清", "repriced": "利率调整", "collateral_flagged": "抵押物风险提示",
    "collateral_reviewed": "风险提示已处理",
}  # fmt: skip
COLLATERAL_ZH = {"seizure": "查封", "sale": "过户", "dispute": "异议/诉讼", "release": "解除"}
PAYOFF = "payoff"  # the quote's third choice besides the two PrepaymentChoice values
BOOK_PAGE_SIZE = 50


def co_borrowed_clause(conn: Connection) -> Any:
    """``loan`` rows where one of ``:ids`` (bind a list) is a co-borrower: the JSON list, per engine."""
    if conn.dialect.name == "sqlite":
        fragment = "EXISTS (SELECT 1 FROM json_each(loan.co_borrower_ids) AS e WHERE e.value IN :ids)"
    else:
        fragment = (
            "EXISTS (SELECT 1 FROM json_array_elements_text(loan.co_borrower_ids) AS e(v) "
            "WHERE CAST(e.v AS BIGINT) IN :ids)"
        )
    return text(fragment).bindparams(bindparam("ids", expanding=True))


def _party_clause(conn: Connection, member_id: int) -> Any:
    """Loans whose borrower or a co-borrower is ``member_id`` (bind ``ids=[member_id]``)."""
    return or_(loan.c.borrower_id == member_id, co_borrowed_clause(conn))


_SUMMARY = (
    loan.c.id, loan.c.contract_no, loan.c.borrower_id, loan.c.co_borrower_ids, loan.c.state, loan.c.principal_fen,
    loan.c.outstanding_principal_fen, loan.c.overdue_principal_fen, loan.c.overdue_interest_fen,
    loan.c.penalty_accrued_fen, loan.c.days_past_due, loan.c.classification, loan.c.annual_rate,
    loan.c.term_months, loan.c.method, loan.c.contract_date, loan.c.disbursed_on, loan.c.settled_on,
    loan.c.collateral_flag,
)  # fmt: skip


def next_due(conn: Connection, loan_ids: Sequence[int]) -> dict[int, NextDue]:
    """Each loan's next installment not yet due-and-unpaid (state ``due``): its period, date and
    the amount still to pay on it; loans with none are absent. One query for all."""
    if not loan_ids:
        return {}
    li = loan_installment.c
    first = (
        select(li.loan_id, func.min(li.period).label("period"))
        .where(li.loan_id.in_(list(loan_ids)), li.state == "due")
        .group_by(li.loan_id)
        .subquery()
    )
    rows = conn.execute(
        select(li.loan_id, li.period, li.due_date,
               (li.principal_fen - li.paid_principal_fen + li.interest_fen - li.paid_interest_fen).label("amount_fen"))
        .join(first, (first.c.loan_id == li.loan_id) & (first.c.period == li.period))
    ).mappings()  # fmt: skip
    return {r["loan_id"]: NextDue(period=r["period"], due_date=r["due_date"], amount_fen=r["amount_fen"])
            for r in rows}  # fmt: skip


def _with_next_due(
    conn: Connection, rows: Sequence[Row | Loan], roles: Sequence[str | None]
) -> list[LoanOverview]:
    ids = [r.id if isinstance(r, Loan) else r["id"] for r in rows]
    due = next_due(conn, ids)
    return [
        overview_of(r, role=role, next_due=due.get(i, NO_NEXT_DUE))
        for r, i, role in zip(rows, ids, roles, strict=True)
    ]


def member_loans(conn: Connection, member_id: int) -> list[LoanOverview]:
    """The loans of a member as borrower or co-borrower (``role``), newest first, with the next
    installment due."""
    rows = (
        conn.execute(
            select(*_SUMMARY)
            .where(_party_clause(conn, member_id))
            .order_by(loan.c.contract_date.desc(), loan.c.id.desc()),
            {"ids": [member_id]},
        )
        .mappings()
        .all()
    )
    roles = ["borrower" if r["borrower_id"] == member_id else "co_borrower" for r in rows]
    return _with_next_due(conn, rows, roles)


def has_loans(conn: Connection, member_id: int) -> bool:
    """Whether the member is a borrower or co-borrower of any loan (the member page's link)."""
    found = conn.execute(
        select(loan.c.id).where(_party_clause(conn, member_id)).limit(1), {"ids": [member_id]}
    )
    return found.first() is not None


def is_party(row: Parties | Loan | LoanOverview, member_id: int | None) -> bool:
    """Whether ``member_id`` is the loan's borrower or one of its co-borrowers."""
    return member_id is not None and (row.borrower_id == member_id or member_id in row.co_borrower_ids)


@dataclass(frozen=True)
class BookFilter:
    """The staff loan book's filters; ``None`` = any."""

    state: str | None = None
    classification: str | None = None
    overdue: bool | None = None  # True: some principal or interest overdue; False: none

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in LOAN_STATES_SHOWN:
            raise _invalid("loan.invalid_filter", "贷款状态筛选条件无效", f"state {self.state!r}", "state")
        if self.classification is not None and self.classification not in ("01", "02", "03", "04", "05"):
            raise _invalid("loan.invalid_filter", "风险分类筛选条件无效",
                           f"classification {self.classification!r}", "classification")  # fmt: skip


def loan_book(
    conn: Connection, filters: BookFilter, *, page: int = 1, per_page: int = BOOK_PAGE_SIZE
) -> tuple[list[LoanOverview], bool]:
    """One page of the loan book (by id), the borrower's name and account number joined, and
    whether another page follows."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise _invalid("loan.invalid_page", "页码须为正整数", f"page {page!r}", "page")
    member = accounts_queries.member_refs_subquery()
    query = select(*_SUMMARY, member.c.name.label("borrower_name"),
                   member.c.account_no.label("borrower_account_no")).join(member, member.c.id == loan.c.borrower_id)  # fmt: skip
    if filters.state is not None:
        query = query.where(loan.c.state == filters.state)
    if filters.classification is not None:
        query = query.where(loan.c.classification == filters.classification)
    if filters.overdue is not None:
        late = (loan.c.overdue_principal_fen > 0) | (loan.c.overdue_interest_fen > 0)
        query = query.where(late if filters.overdue else ~late)
    rows = conn.execute(
        query.order_by(loan.c.id).limit(per_page + 1).offset((page - 1) * per_page)
    ).mappings().all()  # fmt: skip
    shown = rows[:per_page]
    return _with_next_due(conn, shown, [None] * len(shown)), len(rows) > per_page


def dunning_notices(conn: Connection, loan_id: int) -> list[DunningNotice]:
    rows = conn.execute(
        select(dunning_notice).where(dunning_notice.c.loan_id == loan_id).order_by(dunning_notice.c.id)
    ).mappings()
    return [
        DunningNotice(
            id=r["id"], loan_id=r["loan_id"], overdue_since=r["overdue_since"], stage=r["stage"],
            issued_on=r["issued_on"], days_past_due=r["days_past_due"], amount_fen=r["amount_fen"],
            channel=r["channel"],
        )
        for r in rows
    ]  # fmt: skip


def collateral_events(conn: Connection, loan_id: int) -> list[CollateralEvent]:
    rows = conn.execute(
        select(collateral_event).where(collateral_event.c.loan_id == loan_id).order_by(collateral_event.c.id)
    ).mappings()
    return [
        CollateralEvent(
            id=r["id"], loan_id=r["loan_id"], kind=r["kind"], reported_on=r["reported_on"], source=r["source"],
            external_id=r["external_id"], received_at=r["received_at"],
        )
        for r in rows
    ]  # fmt: skip


@dataclass(frozen=True)
class PrepaymentQuote:
    """What a prepayment today would do (提前还款试算), computed by the pure rules; nothing moves.

    ``interest_before_fen``: the interest the schedule still charges after ``paid_through``;
    ``interest_after_fen``: what is charged instead — the interest part of today's payment plus
    the new schedule's (for a payoff: the accrued interest only). ``payoff`` is always quoted.
    """

    loan_id: int
    on: date
    choice: str  # shorten-term | reduce-installment | payoff
    amount_fen: int
    principal_fen: int
    interest_fen: int
    paid_through: int
    outstanding_before_fen: int
    outstanding_after_fen: int
    months_left_before: int
    months_left_after: int
    installment_before_fen: int
    installment_after_fen: int | None
    end_date_before: date
    end_date_after: date
    interest_before_fen: int
    interest_after_fen: int
    payoff: Any  # schedule.PayoffQuote

    @property
    def interest_saved_fen(self) -> int:
        return self.interest_before_fen - self.interest_after_fen

    @property
    def choice_zh(self) -> str:
        return "全部结清" if self.choice == PAYOFF else PrepaymentChoice(self.choice).name_zh


def parse_choice(raw: str | None) -> str:
    """``shorten-term``, ``reduce-installment`` or ``payoff``; anything else is refused."""
    value = (raw or "").strip()
    if value not in (*(c.value for c in PrepaymentChoice), PAYOFF):
        raise _invalid("loan.invalid_choice", "请选择提前还款方式：缩短期限、减少月供或全部结清",
                       f"choice {raw!r} is not shorten-term, reduce-installment or payoff", "choice")  # fmt: skip
    return value


def prepayment_quote(
    conn: Connection, loan_id: int, today: date, amount_fen: int | None, choice: str
) -> PrepaymentQuote:
    """The quote of a prepayment of ``amount_fen`` on ``today`` (``choice``: a
    ``PrepaymentChoice`` value or ``payoff``, for which the amount is the payoff's), with the
    same rules and refusals as :func:`prepay` and :func:`payoff`. Read-only: no row is locked,
    written or posted."""
    choice = parse_choice(choice)
    row = _load(conn, loan_id, lock=False)
    schedule, paid_through = _prepayable(conn, row, today)
    payoff_now = payoff_quote(schedule, paid_through, today, row.disbursed_on)
    rest = schedule.installments[paid_through:]
    before: dict[str, Any] = {
        "outstanding_before_fen": schedule.outstanding_after(paid_through), "months_left_before": len(rest),
        "installment_before_fen": rest[0].installment_fen, "end_date_before": rest[-1].due_date,
        "interest_before_fen": sum(r.interest_fen for r in rest),
    }  # fmt: skip
    common: dict[str, Any] = {
        "loan_id": loan_id,
        "on": today,
        "choice": choice,
        "paid_through": paid_through,
        "payoff": payoff_now,
    }
    if choice == PAYOFF:
        return PrepaymentQuote(
            **common, **before, amount_fen=payoff_now.total_fen, principal_fen=payoff_now.principal_fen,
            interest_fen=payoff_now.interest_fen, outstanding_after_fen=0, months_left_after=0,
            installment_after_fen=None, end_date_after=today, interest_after_fen=payoff_now.interest_fen,
        )  # fmt: skip
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise _invalid("loan.invalid_prepayment", "请填写大于零的提前还款金额",
                       f"amount_fen must be a positive integer, got {amount_fen!r}", "amount")  # fmt: skip
    principal, interest, new = _plan_prepayment(schedule, paid_through, amount_fen, choice, today)
    after = new.installments[paid_through:]
    return PrepaymentQuote(
        **common, **before, amount_fen=amount_fen, principal_fen=principal, interest_fen=interest,
        outstanding_after_fen=new.outstanding_after(paid_through), months_left_after=len(after),
        installment_after_fen=after[0].installment_fen, end_date_after=after[-1].due_date,
        interest_after_fen=interest + sum(r.interest_fen for r in after),
    )  # fmt: skip


def members_named(conn: Connection, member_ids: Sequence[int]) -> dict[int, NamedMember]:
    """``{id: {id, name, account_no}}`` of borrowers and co-borrowers, for links."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    member = accounts_queries.member_refs_subquery()
    rows = conn.execute(
        select(member.c.id, member.c.name, member.c.account_no).where(member.c.id.in_(ids))
    ).mappings()
    return {r["id"]: NamedMember(id=r["id"], name=r["name"], account_no=r["account_no"]) for r in rows}


def loan_summary(conn: Connection, row: Loan, member_id: int | None = None) -> LoanOverview:
    """A loan with the member's ``role`` in it (if any) and its next installment due."""
    role = None
    if is_party(row, member_id):
        role = "borrower" if row.borrower_id == member_id else "co_borrower"
    return _with_next_due(conn, [row], [role])[0]
