"""Loan pages (Chinese, phone-width): the public calculator, a member's 我的贷款, a loan's page
with its schedule, history and prepayment quote, the staff loan book and the collateral risk queue.

Who sees what is ``hpf.loans.api``'s rule (``visible_loan``): staff every loan, a member the
loans they borrow or co-borrow; anything else is the 404 of a loan that does not exist.
The quote form is a GET: it shows figures and moves no money. Under a quote, the borrower (from
their own HPF account) and a teller (HPF account or bank, with the bank's serial) confirm it:
``POST /loans/{id}/prepay`` executes it (``service.execute_prepayment``, idempotent by the form's
key) and the page shows the new schedule. Clearing a risk flag is the other POST. Both are
CSRF-checked and audited by the middleware like every change.

The 贷款试算 page (``/loans/calculator``): anyone may use it, signed in or not. A GET form: with no query it shows the form filled with an example (500,000 yuan, 30 years,
the national first-home rate in force today); with a query it adds the summary and the
schedule. htmx swaps only the result (``_loans_result.html``); without JavaScript the whole
page reloads. Bad input: the page (or fragment) with the Chinese message, status 422.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Principal, Scope
from hpf.accounts import service as accounts
from hpf.disclosure.http import Disclose, Disclosure
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.money import parse_yuan
from hpf.ledger import service as ledger
from hpf.loans import charts
from hpf.loans.api import (
    READ_BOOK,
    READ_OWN,
    loan_detail,
    parties,
    prepayment_key,
    require_repayer,
    require_visible,
    schedule_rows,
    visible_events,
    visible_loan,
)
from hpf.loans.book import service
from hpf.loans.book.results import Loan
from hpf.loans.calculator import MAX_YEARS, calculate, first_of_next_month, parse_input, rates
from hpf.loans.calculator.schedule import Method, PrepaymentChoice
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.bounds import Id, QueryId
from hpf.web.deps import Ctx, ReadDb, WriteDb
from hpf.web.pages_common import PageRoute, is_htmx, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

Text = Annotated[str | None, Query(max_length=40)]


def _rate_percent(today: date) -> str:
    """Today's national rate for a first home over 5 years, in percent (``2.60``)."""
    try:
        return f"{rates.rate_on(today, 360, False) * 100:.2f}"
    except HpfError:
        return "2.60"


@router.get("/loans/calculator", dependencies=[Depends(requires(Perm.PUBLIC))])
def calculator_page(
    request: Request,
    ctx: Ctx,
    principal: Text = None,
    years: Text = None,
    rate: Text = None,
    method: Text = None,
    start: Text = None,
) -> Response:
    today = ctx.clock.today()
    form = {
        "principal": principal if principal is not None else "500000",
        "years": years if years is not None else "30",
        "rate": rate if rate is not None else _rate_percent(today),
        "method": method if method is not None else Method.EQUAL_INSTALLMENT.value,
        "start": start if start is not None else first_of_next_month(today).isoformat(),
    }
    context: dict[str, Any] = {
        "nav": "loans",
        "form": form,
        "methods": list(Method),
        "max_years": MAX_YEARS,
        "schedule": None,
        "error": None,
        "asked": principal is not None,
    }
    status = 200
    if principal is not None:
        try:
            given = parse_input(
                form["principal"], form["years"], form["rate"], form["method"], form["start"], today
            )
            context["schedule"] = calculate(given)
            context["years"] = charts.schedule_years(context["schedule"])
            context["charts"] = charts.calculator_charts(context["years"])
            context["rate_percent"] = f"{(given.annual_rate * 100).normalize():f}"
        except HpfError as exc:
            context["error"], context["error_code"], status = exc.title, exc.code, 422
    name = "_loans_result.html" if is_htmx(request) else "loans_calculator.html"
    response = render(request, name, context, status_code=status, varies=True)
    if context["error"]:
        response.headers["X-HPF-Error"] = context["error_code"]
    return response


# ------------------------------------------------------------------------- the loan book

CHOICES = [(c.value, c.name_zh) for c in PrepaymentChoice] + [(service.PAYOFF, "全部结清（提前结清）")]
Filter = Annotated[str, Query(max_length=12)]


def _zh() -> dict[str, Any]:
    """Chinese names the loan templates share."""
    return {
        "loan_state_zh": service.LOAN_STATE_ZH,
        "installment_state_zh": service.INSTALLMENT_STATE_ZH,
        "event_zh": service.EVENT_ZH,
        "collateral_zh": service.COLLATERAL_ZH,
    }


@router.get("/members/{account_no}/loans", dependencies=[Depends(requires(Perm.LOAN_READ))])
def my_loans_page(request: Request, account_no: str, conn: ReadDb, show: Disclose) -> Response:
    """我的贷款: the loans the member borrows or co-borrows (staff: any member's)."""
    found = accounts.get_member(conn, account_no)  # NotFound → 404 page
    rows = service.member_loans(conn, found.id)
    show.record_view("member", found.id, rows=len(rows), what="我的贷款")
    context = {"m": show.masked("member", [found])[0], "loans": rows, "nav": "self", **_zh()}
    return render(request, "loan_mine.html", context)


@router.get("/loans", dependencies=READ_BOOK)
def loan_book_page(
    request: Request,
    conn: ReadDb,
    show: Disclose,
    state: Filter = "",
    classification: Filter = "",
    overdue: Filter = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    """贷款台账: every loan, filtered by state, class and arrears (staff)."""
    form = {"state": state, "classification": classification, "overdue": overdue}
    if overdue not in ("", "yes", "no"):
        raise InvalidInput(
            "loan.invalid_filter", "逾期筛选条件无效", f"overdue {overdue!r} is not yes/no", field="overdue"
        )
    late = {"yes": True, "no": False}.get(overdue)
    filters = service.BookFilter(state or None, classification or None, late)  # bad filter → 422 page
    rows, more = service.loan_book(conn, filters, page=page)
    people = parties(show, conn, [r.borrower_id for r in rows])
    show.record_view("loan", "book", rows=len(rows), what="贷款台账")
    by_class, class_chart = charts.book_by_class(conn)
    query = "&".join(f"{k}={v}" for k, v in form.items() if v)
    context = {
        "nav": "loan_book", "loans": rows, "people": people, "form": form, "page": page, "more": more,
        "base": f"/loans?{query}&" if query else "/loans?", "classes": ("01", "02", "03", "04", "05"), "by_class": by_class, "class_chart": class_chart, **_zh(),
    }  # fmt: skip
    return render(request, "loan_book.html", context)


def _risk_context(
    conn: Connection, show: Disclosure, *, writing: bool = False, **extra: Any
) -> dict[str, Any]:
    """The queue; ``writing``: inside the request's write transaction, whose connection then
    carries the audit rows of the names shown (a second writer would wait on SQLite)."""
    rows = service.collateral_risk_queue(conn)
    people = parties(show, conn, [r.borrower_id for r in rows], audit_conn=conn if writing else None)
    if not writing:
        show.record_view("loan", "collateral-risk", rows=len(rows), what="抵押物风险队列")
    return {"nav": "loan_risk", "queue": rows, "people": people, "error": "", "done": None, **_zh(), **extra}


@router.get("/loans/collateral-risk", dependencies=READ_BOOK)
def collateral_risk_page(
    request: Request, conn: ReadDb, show: Disclose, done: QueryId | None = None
) -> Response:
    """抵押物风险队列: loans whose home the registry reported seized, sold or disputed."""
    return render(request, "loan_risk_queue.html", _risk_context(conn, show, done=done))


@router.post("/loans/{loan_id}/collateral-review", dependencies=[Depends(requires(Perm.LOAN_RISK_REVIEW))])
def collateral_review_page(
    request: Request,
    loan_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    show: Disclose,
    note: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    try:
        with conn.begin_nested():
            service.review_collateral(conn, dataclasses.replace(ctx, source="page"), loan_id, note)
    except HpfError as exc:
        context = _risk_context(conn, show, writing=True, error=exc.title, error_loan=loan_id, note=note)
        response = render(request, "loan_risk_queue.html", context, status_code=exc.status)
        response.headers["X-HPF-Error"] = exc.code
        return response
    return RedirectResponse(f"/loans/collateral-risk?done={loan_id}", status_code=303)


def _loan_context(
    conn: Connection, who: Principal, show: Disclosure, loan_id: int, *, writing: bool = False
) -> dict[str, Any]:
    """``writing``: inside the request's write transaction, whose connection then carries the
    audit rows of the names shown (a second writer would wait on SQLite), as ``_risk_context``."""
    row = visible_loan(conn, who, loan_id)  # another member's loan: the 404 of a missing one
    if not writing:
        show.record_view("loan", loan_id, rows=1, what="贷款详情")
    detail = loan_detail(conn, who, show, row, audit_conn=conn if writing else None)
    return {
        "nav": "loan_book" if who.is_staff else "self",
        "staff": who.is_staff,
        "loan": detail,
        "member_account_no": _own_account_no(conn, who),
        "schedule": schedule_rows(service.installments(conn, loan_id)),
        "loan_charts": charts.loan_charts(conn, loan_id),
        "events": visible_events(who, service.events(conn, loan_id)),
        "dunning": service.dunning_notices(conn, loan_id),
        "collateral": service.collateral_events(conn, loan_id) if who.is_staff else [],
        "choices": CHOICES,
        "done": None,
        "quote": None,
        "quote_error": "",
        "quote_form": {"amount": "", "choice": PrepaymentChoice.SHORTEN_TERM.value},
        **_repay_context(conn, who, row),
        **_zh(),
    }


def _repay_context(conn: Connection, who: Principal, row: Loan) -> dict[str, Any]:
    """Whether the viewer may execute a quote (a teller; the borrower, from their HPF account),
    the borrower's HPF balance it would come from, and a fresh key for the confirmation form."""
    may = who.may(Perm.LOAN_REPAY) and (who.is_staff or row.borrower_id == who.member_id)
    balance = sum(ledger.member_balances(conn, [row.borrower_id]).get(row.borrower_id, (0, 0)))
    return {
        "can_repay": may and row.state == "active", "loan_id": row.id, "staff": who.is_staff,
        "borrower_balance_fen": balance, "form_key": secrets.token_urlsafe(12), "prepay_error": "",
        "prepay_form": {"source": "hpf_account", "bank_ref": ""},
    }  # fmt: skip


def _own_account_no(conn: Connection, who: Principal) -> str | None:
    """The signed-in member's account number (the crumbs back to 我的贷款)."""
    if who.member_id is None:
        return None
    return accounts.account_numbers_of(conn, [who.member_id]).get(who.member_id)


@router.get("/loans/{loan_id}", dependencies=READ_OWN)
def loan_page(
    request: Request,
    loan_id: Id,
    conn: ReadDb,
    who: CurrentPrincipal,
    show: Disclose,
    done: Annotated[str, Query(max_length=12)] = "",
) -> Response:
    """A loan: contract figures, schedule, history, dunning notices and the prepayment quote form;
    ``done=prepay``: the prepayment just executed, above its new schedule."""
    context = _loan_context(conn, who, show, loan_id)
    if done == "prepay":
        last = [e for e in context["events"] if e.kind in ("prepaid", "paid_off")]
        context["done"] = last[-1] if last else None
    return render(request, "loan_detail.html", context)


@router.post("/loans/{loan_id}/prepay", dependencies=[Depends(requires(Perm.LOAN_REPAY, scope=Scope.OWN))])
def prepay_page(
    request: Request,
    loan_id: Id,
    conn: WriteDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    show: Disclose,
    amount: Annotated[str, Form(max_length=20)] = "",
    choice: Annotated[str, Form(max_length=24)] = "",
    source: Annotated[str, Form(max_length=16)] = "hpf_account",
    bank_ref: Annotated[str, Form(max_length=40)] = "",
    form_key: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """确认办理 a quoted prepayment or payoff; then the loan page with its new schedule."""
    try:
        with conn.begin_nested():
            require_repayer(conn, who, loan_id, source, bank_ref)
            picked = service.parse_choice(choice)
            fen = None if picked == service.PAYOFF else _amount_fen(amount)
            service.execute_prepayment(
                conn, dataclasses.replace(ctx, source="page"), loan_id, picked, fen, source,
                prepayment_key(loan_id, form_key), bank_ref.strip() or None,
            )  # fmt: skip
    except HpfError as exc:
        if exc.status in (401, 403, 404) and exc.code != "loan.not_borrower":
            raise
        context = _loan_context(conn, who, show, loan_id, writing=True)
        context["quote_form"] = {"amount": amount, "choice": choice}
        context["prepay_form"] = {"source": source, "bank_ref": bank_ref}
        context["prepay_error"], context["form_key"] = exc.title, form_key or context["form_key"]
        try:
            picked = service.parse_choice(choice)
            fen = None if picked == service.PAYOFF else _amount_fen(amount)
            context["quote"] = service.prepayment_quote(conn, loan_id, ctx.clock.today(), fen, picked)
        except HpfError:
            context["quote"] = None
        response = render(request, "loan_detail.html", context, status_code=exc.status)
        response.headers["X-HPF-Error"] = exc.code
        return response
    return RedirectResponse(f"/loans/{loan_id}?done=prepay#prepay-done", status_code=303)


def _amount_fen(text: str) -> int:
    try:
        fen = parse_yuan(text.strip(), "amount")
    except HpfError:
        fen = 0
    if fen <= 0:
        raise InvalidInput(
            "loan.invalid_prepayment",
            "提前还款金额须为大于零的金额（元），最多两位小数",
            f"amount: {text!r} is not a positive yuan amount",
            field="amount",
        )
    return fen


@router.get("/loans/{loan_id}/quote", dependencies=READ_OWN)
def quote_page(
    request: Request,
    loan_id: Id,
    conn: ReadDb,
    ctx: Ctx,
    who: CurrentPrincipal,
    show: Disclose,
    amount: Annotated[str, Query(max_length=20)] = "",
    choice: Annotated[str, Query(max_length=24)] = "",
) -> Response:
    """提前还款试算: the figures of a prepayment today; htmx swaps only the result. No money moves."""
    if is_htmx(request):
        require_visible(conn, who, loan_id)
        show.record_view("loan", loan_id, rows=1, what="提前还款试算")
        row = service.loan_view(conn, loan_id)
        context: dict[str, Any] = {
            "quote": None,
            "quote_error": "",
            **_repay_context(conn, who, row),
            **_zh(),
        }
    else:
        context = _loan_context(conn, who, show, loan_id)
    context["quote_form"] = {"amount": amount, "choice": choice}
    status = 200
    try:
        picked = service.parse_choice(choice)
        fen = None if picked == service.PAYOFF else _amount_fen(amount)
        context["quote"] = service.prepayment_quote(conn, loan_id, ctx.clock.today(), fen, picked)
    except HpfError as exc:
        if exc.status in (401, 403, 404):
            raise
        context["quote_error"], status = exc.title, exc.status
        context["quote_error_code"] = exc.code
    name = "loan_quote.html" if is_htmx(request) else "loan_detail.html"
    response = render(request, name, context, status_code=status, varies=True)
    if context["quote_error"]:
        response.headers["X-HPF-Error"] = context["quote_error_code"]
    return response
