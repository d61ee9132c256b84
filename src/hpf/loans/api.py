"""HTTP API of loans: the public calculator, a member's own loans and the staff loan book.

- ``/api/v1/loans/calculator``: public, no sign-in. Input as people type it (principal in yuan,
  years, rate in percent); bad input: problem+json 422 with a ``loan.*`` code.
- ``/api/v1/members/{account_no}/loans``: the loans the member is borrower or co-borrower of
  (``loan:read``; a member only with their own account number, like every member route).
- ``/api/v1/loans/{loan_id}`` and its ``/schedule``, ``/events``, ``/quote``: ``loan:read`` with
  the caller's own scope — staff see every loan, a member only a loan they are a party to; any
  other loan answers exactly like a loan that does not exist (404 ``loan.not_found``).
- ``/api/v1/loans`` (the book, with filters) and ``/api/v1/loans/collateral-risk`` (the risk
  queue): staff only; ``POST /api/v1/loans/{loan_id}/collateral-review`` clears a flag
  (``loan:risk-review``; audited like every change).

The quote (提前还款试算) is read-only: ``service.prepayment_quote`` moves no money.
``POST /api/v1/loans/{loan_id}/prepayments`` executes one (``loan:repay``): a partial prepayment
(shorten the term or lower the installment) or the payoff, idempotent by the ``Idempotency-Key``
header (the business serial; the same key answers the first result and moves nothing). A member
prepays only a loan they borrow, from their own HPF account (Dr 201 / Cr 121, Cr 40103); a
teller at the counter also by bank (money received into the center's account, Dr 101, with the
bank's serial). The answer carries the new schedule. Output in the API's units: integer fen,
decimal-string rates, ISO dates.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from hpf.access.permissions import Perm, Principal, Scope
from hpf.accounts import service as accounts
from hpf.disclosure.http import Disclose, Disclosure
from hpf.identity.identity import Forbidden
from hpf.kernel.errors import InvalidInput, NotFound
from hpf.kernel.records import fields_of
from hpf.loans.book import service
from hpf.loans.book.results import Loan, LoanEvent, LoanOverview, Prepayment, ScheduledInstallment
from hpf.loans.calculator import CalculatorInput, calculate, parse_input
from hpf.loans.calculator.schedule import Method, Schedule
from hpf.protection.masking import mask
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import INT64_MAX, Id, PositiveFen
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import code_name
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1", tags=["loans"], route_class=HpfRoute)

READ_OWN = [Depends(requires(Perm.LOAN_READ, scope=Scope.OWN))]
READ_BOOK = [Depends(requires(Perm.LOAN_READ))]  # no member in the path: the center's staff
# Events a member does not see: the center's own risk handling of their collateral.
STAFF_ONLY_EVENTS = frozenset({"collateral_flagged", "collateral_reviewed"})


class InstallmentPublic(BaseModel):
    period: int
    due_date: date
    installment_fen: int
    principal_fen: int
    interest_fen: int
    remaining_fen: int = Field(description="principal outstanding after this installment")


class CalculatorPublic(BaseModel):
    principal_fen: int
    months: int
    annual_rate: str = Field(description='annual rate as a decimal string, "0.026" = 2.60%')
    method: str = Field(description="equal-installment (等额本息) or equal-principal (等额本金)")
    method_code: str = Field(description="DKHKFS: 01 or 02")
    first_due_date: date
    monthly_payment_fen: int = Field(description="the first installment (等额本息: every one but the last)")
    last_installment_fen: int
    total_interest_fen: int
    total_paid_fen: int
    installments: list[InstallmentPublic]

    @classmethod
    def of(cls, given: CalculatorInput, schedule: Schedule) -> CalculatorPublic:
        rows = schedule.installments
        return cls(
            principal_fen=schedule.principal_fen,
            months=schedule.months,
            annual_rate=str(given.annual_rate),
            method=schedule.method.value,
            method_code=schedule.method.code,
            first_due_date=schedule.first_due_date,
            monthly_payment_fen=rows[0].installment_fen,
            last_installment_fen=rows[-1].installment_fen,
            total_interest_fen=schedule.total_interest_fen,
            total_paid_fen=schedule.total_paid_fen,
            installments=[
                InstallmentPublic(
                    period=r.period,
                    due_date=r.due_date,
                    installment_fen=r.installment_fen,
                    principal_fen=r.principal_fen,
                    interest_fen=r.interest_fen,
                    remaining_fen=r.remaining_fen,
                )
                for r in rows
            ],
        )


@router.get(
    "/loans/calculator",
    summary="Loan calculator: the repayment schedule of a loan (anyone, no sign-in)",
    dependencies=[Depends(requires(Perm.PUBLIC))],
)
def calculator(
    ctx: Ctx,
    principal: Annotated[str, Query(max_length=40, description="loan amount in yuan, e.g. 500000")],
    years: Annotated[str, Query(max_length=40, description="term in whole years, 1-30")],
    rate: Annotated[str, Query(max_length=40, description="annual rate in percent, e.g. 2.60")],
    method: Annotated[str, Query(max_length=40, description="equal-installment or equal-principal")] = (
        "equal-installment"
    ),
    start: Annotated[
        str | None, Query(max_length=40, description="first due date (default: 1st of next month)")
    ] = None,
) -> CalculatorPublic:
    given = parse_input(principal, years, rate, method, start, ctx.clock.today())
    return CalculatorPublic.of(given, calculate(given))


# ------------------------------------------------------------------------- the loan book


def risk_class_zh(code: str) -> str:
    """五级分类 name of a DKFXDJ code (the code table ``loan_risk_class``)."""
    return code_name(code, "loan_risk_class")


def require_visible(conn: Connection, who: Principal, loan_id: int) -> None:
    """Staff see any loan, a member one they borrow or co-borrow; anyone else gets the very
    refusal of a loan that does not exist (no probing of loan ids)."""
    owners = service.parties(conn, loan_id)  # NotFound loan.not_found
    if not who.is_staff and not (who.kind == "member" and service.is_party(owners, who.member_id)):
        raise NotFound("loan.not_found", "贷款不存在", f"no loan {loan_id}")


def visible_loan(conn: Connection, who: Principal, loan_id: int) -> Loan:
    """The loan as a record if ``who`` may see it (:func:`require_visible`)."""
    require_visible(conn, who, loan_id)
    return service.loan_view(conn, loan_id)


def visible_events(who: Principal, rows: list[LoanEvent]) -> list[LoanEvent]:
    if who.is_staff:
        return rows
    return [dataclasses.replace(r, actor=None) for r in rows if r.kind not in STAFF_ONLY_EVENTS]


class NextDue(BaseModel):
    period: int | None
    due_date: date | None
    amount_fen: int | None = Field(description="what is still to pay on that installment")


class Party(BaseModel):
    account_no: str
    name: str


class LoanSummary(BaseModel):
    id: int
    contract_no: str
    role: str | None = Field(None, description="the member's part: borrower or co_borrower")
    state: str = Field(description="approved, active, settled or written_off")
    state_zh: str
    principal_fen: int
    outstanding_principal_fen: int
    overdue_principal_fen: int
    overdue_interest_fen: int
    penalty_fen: int = Field(description="penalty interest (罚息) owed, accrued to its last run")
    days_past_due: int
    classification: str = Field(description="DKFXDJ 01..05 (五级分类)")
    classification_zh: str
    next_due: NextDue
    borrower: Party | None = Field(None, description="staff views only")

    @classmethod
    def of(cls, row: LoanOverview, borrower: Party | None = None) -> LoanSummary:
        return cls(
            id=row.id, contract_no=row.contract_no, role=row.role, state=row.state,
            state_zh=service.LOAN_STATE_ZH.get(row.state, row.state),
            principal_fen=row.principal_fen, outstanding_principal_fen=row.outstanding_principal_fen,
            overdue_principal_fen=row.overdue_principal_fen, overdue_interest_fen=row.overdue_interest_fen,
            penalty_fen=row.penalty_accrued_fen, days_past_due=row.days_past_due,
            classification=row.classification, classification_zh=risk_class_zh(row.classification),
            next_due=NextDue(**fields_of(row.next_due)), borrower=borrower,
        )  # fmt: skip


class LoanDetail(LoanSummary):
    annual_rate: str = Field(description='the rate in force, a decimal string: "0.026" = 2.60%')
    term_months: int
    method: str = Field(description="DKHKFS 01 等额本息 / 02 等额本金")
    method_zh: str
    contract_date: date
    first_due_date: date
    disbursed_on: date | None
    settled_on: date | None
    repayment_source: str = Field(description="hpf_account (提取还贷) or bank_debit (委托扣款)")
    guarantee_type: str = Field(description="DKDBLX")
    co_borrowers: list[Party] = Field(default_factory=list, description="staff views only")
    certificate_no: str | None = Field(None, description="他项权证号, staff only, masked unless unmasked")
    collateral_flag: str | None = Field(None, description="an unreviewed registry report (staff only)")


class LoanBookPage(BaseModel):
    items: list[LoanSummary]
    page: int
    has_next: bool


class ScheduleRow(BaseModel):
    period: int
    due_date: date
    installment_fen: int
    principal_fen: int
    interest_fen: int
    remaining_fen: int
    prepaid_fen: int
    paid_fen: int
    paid_on: date | None
    state: str = Field(description="paid, due or overdue")
    state_zh: str


class LoanEventOut(BaseModel):
    id: int
    kind: str
    kind_zh: str
    business_date: date
    amount_fen: int | None
    entry_id: int | None
    actor: str | None = Field(description="who did it (staff views only)")
    detail: dict[str, Any]


class DunningOut(BaseModel):
    issued_on: date
    stage: int = Field(description="the days-past-due threshold reached")
    days_past_due: int
    amount_fen: int = Field(description="overdue principal + interest + penalty on that day")
    overdue_since: date
    channel: str


class CollateralEventOut(BaseModel):
    kind: str
    kind_zh: str
    reported_on: date
    source: str
    external_id: str
    received_at: datetime


class LoanHistory(BaseModel):
    events: list[LoanEventOut]
    dunning_notices: list[DunningOut]
    collateral_events: list[CollateralEventOut] | None = Field(None, description="staff views only")


class PayoffOut(BaseModel):
    on: date
    principal_fen: int
    interest_fen: int
    days: int = Field(description="interest days since the last installment, 30-day months")
    total_fen: int


class QuoteOut(BaseModel):
    loan_id: int
    on: date
    choice: str = Field(description="shorten-term, reduce-installment or payoff")
    choice_zh: str
    amount_fen: int
    principal_fen: int = Field(description="of the amount: principal repaid")
    interest_fen: int = Field(description="of the amount: interest since the last due date")
    outstanding_before_fen: int
    outstanding_after_fen: int
    months_left_before: int
    months_left_after: int
    installment_before_fen: int
    installment_after_fen: int | None
    end_date_before: date
    end_date_after: date
    interest_before_fen: int = Field(description="interest the schedule still charges")
    interest_after_fen: int = Field(description="interest charged instead, today's part included")
    interest_saved_fen: int
    payoff: PayoffOut
    moves_money: bool = Field(False, description="always false: a quote, nothing is posted")

    @classmethod
    def of(cls, q: service.PrepaymentQuote) -> QuoteOut:
        fields = {k: getattr(q, k) for k in cls.model_fields if k not in ("payoff", "moves_money")}
        p = q.payoff
        return cls(
            **fields,
            payoff=PayoffOut(
                on=p.on, principal_fen=p.principal_fen, interest_fen=p.interest_fen, days=p.days, total_fen=p.total_fen
            ),
        )  # fmt: skip


class RiskItem(BaseModel):
    loan_id: int
    contract_no: str
    borrower: Party
    flag: str = Field(description="seizure 查封, sale 过户 or dispute 异议/诉讼")
    flag_zh: str
    flagged_on: date
    outstanding_principal_fen: int
    classification: str
    classification_zh: str


class ReviewIn(BaseModel):
    note: str = Field(max_length=400, description="the reviewer's note (处理意见)")


class ReviewOut(BaseModel):
    loan_id: int
    reviewed: bool


def schedule_rows(rows: list[ScheduledInstallment]) -> list[ScheduleRow]:
    return [
        ScheduleRow(
            period=r.period, due_date=r.due_date, installment_fen=r.principal_fen + r.interest_fen,
            principal_fen=r.principal_fen, interest_fen=r.interest_fen, remaining_fen=r.remaining_fen,
            prepaid_fen=r.prepaid_fen, paid_fen=r.paid_principal_fen + r.paid_interest_fen,
            paid_on=r.paid_on, state=r.state, state_zh=service.INSTALLMENT_STATE_ZH.get(r.state, r.state),
        )
        for r in rows
    ]  # fmt: skip


def parties(
    show: Disclosure, conn: Connection, ids: list[int], *, audit_conn: Connection | None = None
) -> dict[int, Party]:
    """Borrowers' names and account numbers as this viewer may see them (member reads audited,
    in ``audit_conn`` when given: the request's own write transaction)."""
    named = service.members_named(conn, ids)
    shown = show.show("member", list(named.values()), conn=audit_conn) if named else []
    return {r["id"]: Party(account_no=r["account_no"], name=r["name"]) for r in shown}


def loan_detail(
    conn: Connection,
    who: Principal,
    show: Disclosure,
    row: Loan,
    *,
    audit_conn: Connection | None = None,
) -> LoanDetail:
    """The loan as the viewer may see it; staff also get the parties and the certificate."""
    summary = service.loan_summary(conn, row, who.member_id)
    extra: dict[str, Any] = {}
    if who.is_staff:
        people = parties(show, conn, [row.borrower_id, *row.co_borrower_ids], audit_conn=audit_conn)
        extra = {
            "borrower": people.get(row.borrower_id),
            "co_borrowers": [people[i] for i in row.co_borrower_ids if i in people],
            "certificate_no": row.certificate_no if show.unmask else mask(row.certificate_no, "full"),
            "collateral_flag": row.collateral_flag,
        }
    base = LoanSummary.of(summary).model_dump(exclude={"borrower"})
    return LoanDetail(
        **base, annual_rate=str(row.annual_rate), term_months=row.term_months, method=row.method,
        method_zh=(Method.EQUAL_INSTALLMENT if row.method == "01" else Method.EQUAL_PRINCIPAL).name_zh,
        contract_date=row.contract_date, first_due_date=row.first_due_date, disbursed_on=row.disbursed_on,
        settled_on=row.settled_on, repayment_source=row.repayment_source,
        guarantee_type=row.guarantee_type, **extra,
    )  # fmt: skip


@router.get(
    "/members/{account_no}/loans",
    dependencies=[Depends(requires(Perm.LOAN_READ))],
    summary="The loans a member borrows or co-borrows, with what is due next and any arrears",
)
def member_loans(account_no: str, conn: ReadDb, show: Disclose) -> list[LoanSummary]:
    found = accounts.get_member(conn, account_no)
    rows = service.member_loans(conn, found.id)
    show.record_view("member", found.id, rows=len(rows), what="我的贷款")
    return [LoanSummary.of(r) for r in rows]


@router.get("/loans", dependencies=READ_BOOK, summary="The loan book, filtered and paged (staff)")
def loan_book(
    conn: ReadDb,
    show: Disclose,
    state: Annotated[
        str | None, Query(max_length=12, description="approved, active, settled, written_off")
    ] = None,
    classification: Annotated[str | None, Query(max_length=2, description="DKFXDJ 01..05")] = None,
    overdue: Annotated[bool | None, Query(description="true: with arrears; false: without")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> LoanBookPage:
    rows, more = service.loan_book(conn, service.BookFilter(state, classification, overdue), page=page)
    people = parties(show, conn, [r.borrower_id for r in rows])
    show.record_view("loan", "book", rows=len(rows), what="贷款台账")
    return LoanBookPage(
        items=[LoanSummary.of(r, people.get(r.borrower_id)) for r in rows], page=page, has_next=more
    )


@router.get(
    "/loans/collateral-risk", dependencies=READ_BOOK, summary="Loans whose collateral the registry flagged"
)
def collateral_risk(conn: ReadDb, show: Disclose) -> list[RiskItem]:
    rows = service.collateral_risk_queue(conn)
    people = parties(show, conn, [r.borrower_id for r in rows])
    show.record_view("loan", "collateral-risk", rows=len(rows), what="抵押物风险队列")
    return [
        RiskItem(
            loan_id=r.id, contract_no=r.contract_no, borrower=people[r.borrower_id],
            flag=r.collateral_flag, flag_zh=service.COLLATERAL_ZH[r.collateral_flag],
            flagged_on=r.collateral_flagged_on, outstanding_principal_fen=r.outstanding_principal_fen,
            classification=r.classification, classification_zh=risk_class_zh(r.classification),
        )
        for r in rows
    ]  # fmt: skip


@router.post(
    "/loans/{loan_id}/collateral-review",
    dependencies=[Depends(requires(Perm.LOAN_RISK_REVIEW))],
    summary="Mark a loan's collateral flag reviewed, with the reviewer's note",
)
def collateral_review(loan_id: Id, body: ReviewIn, conn: WriteDb, ctx: Ctx) -> ReviewOut:
    service.review_collateral(conn, ctx, loan_id, body.note)
    return ReviewOut(loan_id=loan_id, reviewed=True)


@router.get("/loans/{loan_id}", dependencies=READ_OWN, summary="A loan: contract figures, arrears, next due")
def get_loan(loan_id: Id, conn: ReadDb, who: CurrentPrincipal, show: Disclose) -> LoanDetail:
    row = visible_loan(conn, who, loan_id)
    show.record_view("loan", loan_id, rows=1, what="贷款详情")
    return loan_detail(conn, who, show, row)


@router.get("/loans/{loan_id}/schedule", dependencies=READ_OWN, summary="A loan's repayment schedule")
def get_schedule(loan_id: Id, conn: ReadDb, who: CurrentPrincipal, show: Disclose) -> list[ScheduleRow]:
    require_visible(conn, who, loan_id)
    show.record_view("loan", loan_id, rows=1, what="还款计划")
    return schedule_rows(service.installments(conn, loan_id))


@router.get(
    "/loans/{loan_id}/events",
    dependencies=READ_OWN,
    summary="A loan's history: repayments, collections, arrears, dunning notices (staff: collateral events)",
)
def get_events(loan_id: Id, conn: ReadDb, who: CurrentPrincipal, show: Disclose) -> LoanHistory:
    require_visible(conn, who, loan_id)
    show.record_view("loan", loan_id, rows=1, what="贷款记录")
    events = visible_events(who, service.events(conn, loan_id))
    return LoanHistory(
        events=[
            LoanEventOut(id=e.id, kind=e.kind, business_date=e.business_date, amount_fen=e.amount_fen,
                         entry_id=e.entry_id, actor=e.actor, kind_zh=service.EVENT_ZH.get(e.kind, e.kind),
                         detail=dict(e.detail))
            for e in events
        ],
        dunning_notices=[DunningOut(**{k: getattr(n, k) for k in DunningOut.model_fields}) for n in service.dunning_notices(conn, loan_id)],
        collateral_events=[
            CollateralEventOut(**{k: getattr(c, k) for k in CollateralEventOut.model_fields if k != "kind_zh"},
                               kind_zh=service.COLLATERAL_ZH.get(c.kind, c.kind))
            for c in service.collateral_events(conn, loan_id)
        ] if who.is_staff else None,
    )  # fmt: skip


class PrepaymentIn(BaseModel):
    choice: str = Field(max_length=24, description="shorten-term, reduce-installment or payoff")
    amount_fen: PositiveFen | None = Field(None, description="the prepayment (not for payoff)")
    source: str = Field(
        "hpf_account", max_length=16, description="hpf_account (the borrower's HPF balance) or bank (counter)"
    )
    bank_ref: str | None = Field(
        None, max_length=40, description="the bank's serial of the money received (source bank)"
    )


class PrepaymentOut(BaseModel):
    loan_id: int
    entry_id: int = Field(description="the ledger entry that moved the money")
    choice: str
    source: str
    amount_fen: int
    principal_fen: int
    interest_fen: int
    months_left: int
    next_installment_fen: int | None
    settled: bool
    replayed: bool = Field(False, description="true when the key was used before: nothing moved now")
    outstanding_principal_fen: int
    schedule: list[ScheduleRow] = Field(description="the schedule after the prepayment")


IdempotencyKey = Annotated[
    str | None, Header(max_length=48, description="business serial: same key, same effect, once")
]


def require_repayer(
    conn: Connection, who: Principal, loan_id: int, source: str, bank_ref: str | None
) -> None:
    """Staff (``loan:repay``) any loan; a member only a loan they borrow, from their HPF account."""
    require_visible(conn, who, loan_id)
    if who.is_staff:
        if source == service.PaymentSource.BANK.value and not (bank_ref or "").strip():
            raise InvalidInput("loan.bank_ref_required", "银行转账还款须填写银行流水号",
                               "source bank needs the bank's serial of the money received", field="bank_ref")  # fmt: skip
        return
    if service.parties(conn, loan_id).borrower_id != who.member_id:
        raise Forbidden("loan.not_borrower", "只有借款人本人可以办理提前还款",
                        "a co-borrower cannot prepay the loan online")  # fmt: skip
    if source != service.PaymentSource.HPF_ACCOUNT.value:
        raise InvalidInput("loan.source_not_allowed", "网上提前还款只能使用本人住房公积金账户余额，银行转账请到柜台办理",
                           "members prepay online from their own HPF account only", field="source")  # fmt: skip


def prepayment_key(loan_id: int, key: str | None) -> str:
    if not key or not key.strip():
        raise InvalidInput("idempotency.key_required", "缺少幂等键（Idempotency-Key）",
                           "money-moving calls need an Idempotency-Key header")  # fmt: skip
    return f"{loan_id}:{key.strip()}"


def prepayment_out(conn: Connection, result: Prepayment) -> PrepaymentOut:
    loan_id = result.loan_id
    rows = schedule_rows(service.installments(conn, loan_id))
    outstanding = service.loan_view(conn, loan_id).outstanding_principal_fen
    return PrepaymentOut(
        loan_id=loan_id, entry_id=result.entry_id, choice=result.choice, source=result.source or "",
        amount_fen=result.amount_fen, principal_fen=result.principal_fen, interest_fen=result.interest_fen,
        months_left=result.months_left, next_installment_fen=result.next_installment_fen, settled=result.settled,
        replayed=result.replayed, outstanding_principal_fen=outstanding, schedule=rows,
    )  # fmt: skip


@router.post(
    "/loans/{loan_id}/prepayments",
    dependencies=[Depends(requires(Perm.LOAN_REPAY, scope=Scope.OWN))],
    summary="Prepay part of a loan or pay it off (提前还款/提前结清); idempotent by Idempotency-Key",
)
def post_prepayment(
    loan_id: Id,
    body: PrepaymentIn,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> PrepaymentOut:
    key = prepayment_key(loan_id, idempotency_key)
    require_repayer(conn, who, loan_id, body.source, body.bank_ref)
    result = service.execute_prepayment(
        conn, ctx, loan_id, body.choice, body.amount_fen, body.source, key,
        (body.bank_ref or "").strip() or None,
    )  # fmt: skip
    return prepayment_out(conn, result)


@router.get(
    "/loans/{loan_id}/quote",
    dependencies=READ_OWN,
    summary="Prepayment quote (提前还款试算): the new schedule's figures and the payoff; moves no money",
)
def get_quote(
    loan_id: Id,
    conn: ReadDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    show: Disclose,
    choice: Annotated[str, Query(max_length=24, description="shorten-term, reduce-installment or payoff")],
    amount_fen: Annotated[
        int | None, Query(ge=-INT64_MAX, le=INT64_MAX, description="the prepayment (not for payoff)")
    ] = None,
) -> QuoteOut:
    require_visible(conn, who, loan_id)
    show.record_view("loan", loan_id, rows=1, what="提前还款试算")
    return QuoteOut.of(service.prepayment_quote(conn, loan_id, ctx.clock.today(), amount_fen, choice))
