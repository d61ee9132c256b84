"""Staff back-office pages for accounts and the ledger (Chinese, server-rendered, htmx).

Every page works as plain HTML; where htmx is present, searches update as the clerk types and
long lists load more in place. Routes that answer htmx with a fragment answer a plain request
with the whole page. A refusal (unknown account, bad query) is a Chinese HTML page with the
refusal's status, never problem+json.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import Connection
from starlette.responses import RedirectResponse, Response

from hpf.access.permissions import Perm, Scope
from hpf.accounts import charts, service
from hpf.disclosure.http import Disclose
from hpf.kernel.records import fields_of
from hpf.ledger import service as ledger
from hpf.ledger.chart import parent_of
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.deps import Ctx, ReadDb
from hpf.web.pages_common import PageRoute, history_changes, is_htmx, render, staff_names

SEARCH_LIMIT = 50
EMPLOYERS_PER_PAGE = 50
MEMBERS_PER_PAGE = 100
STATEMENT_PER_PAGE = 50
MAX_PAGE = 1_000_000

T = TypeVar("T")

Page = Query(1, ge=1, le=MAX_PAGE, description="页码")
SearchText = Query("", max_length=60)

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _paged(rows: list[T], per_page: int) -> tuple[list[T], bool]:
    """Rows of one page (fetched with one extra row) and whether another page follows."""
    return rows[:per_page], len(rows) > per_page


# --------------------------------------------------------------------------------------- home


@router.get("/", dependencies=[Depends(requires(Perm.AUTHENTICATED, scope=Scope.OPEN))])
def home(request: Request, who: CurrentPrincipal) -> Response:
    if not who.is_staff:
        return RedirectResponse("/self", status_code=303)
    return render(request, "home.html", {"nav": "home", "q": "", "members": None, "more": False})


@router.get("/members/search", dependencies=[Depends(requires(Perm.MEMBER_READ))])
def search_members(request: Request, conn: ReadDb, show: Disclose, q: str = SearchText) -> Response:
    q = q.strip()
    rows, more = (
        _paged(service.find_members(conn, q, limit=SEARCH_LIMIT + 1), SEARCH_LIMIT) if q else ([], False)
    )
    context = {"q": q, "members": show.show("member", rows), "more": more}
    if is_htmx(request):
        return render(request, "_member_results.html", context, varies=True)
    return render(request, "home.html", {"nav": "home", **context}, varies=True)


# ------------------------------------------------------------------------------------ members


@router.get("/members/{account_no}", dependencies=[Depends(requires(Perm.MEMBER_READ))])
def member_page(
    request: Request, account_no: str, conn: ReadDb, show: Disclose, page: int = Page
) -> Response:
    found = service.get_member(conn, account_no)  # NotFound → 404 page
    row = show.one("member", found)
    lines, more = _statement(conn, row["id"], page)
    today = request.app.state.clock.today()
    years = charts.member_year_rows(conn, row["id"])
    changes = show.show("account_history", service.history(conn, "member", row["id"]), subject_ids=[])
    employers = service.employers_named(conn, {row["employer_id"], *_employer_ids(changes)})
    names = {i: f"{e.name}（{e.account_no}）" for i, e in employers.items()}
    return render(
        request,
        "member.html",
        {
            "m": row,
            "unmasked": show.unmask,
            "employer": employers[row["employer_id"]],
            "lines": lines,
            "page": page,
            "more": more,
            "history": [{**h, "changes": history_changes("member", h, names)} for h in changes],
            "actor_names": staff_names(conn, (h["actor"] for h in changes)),
            # what packages above this one know of the member (the 我的贷款 link): wired by hpf.app
            **request.app.state.member_page_facts(conn, row["id"]),
            "balance_chart": charts.member_balance_chart(conn, row["id"], today),
            "years": years[::-1],  # newest first, as the statement
            "yearly_chart": charts.member_yearly_chart(years),
        },
    )


@router.get("/members/{account_no}/statement", dependencies=[Depends(requires(Perm.MEMBER_READ))])
def member_statement(request: Request, account_no: str, conn: ReadDb, page: int = Page) -> Response:
    """The next page of statement lines (htmx "更多"); a plain request goes to the page."""
    if not is_htmx(request):
        return RedirectResponse(f"/members/{account_no}?page={page}#statement", status_code=303)
    found = service.get_member(conn, account_no)
    lines, more = _statement(conn, found.id, page)
    return render(
        request,
        "_statement_rows.html",
        {"m": found, "lines": lines, "page": page, "more": more},
        varies=True,
    )


def _statement(conn: Connection, member_id: int, page: int) -> tuple[list[ledger.MemberPosting], bool]:
    rows = ledger.member_statement(
        conn, member_id, limit=STATEMENT_PER_PAGE + 1, offset=(page - 1) * STATEMENT_PER_PAGE
    )
    return _paged(rows, STATEMENT_PER_PAGE)


def _employer_ids(changes: list[dict[str, Any]]) -> set[int]:
    """The employers a member's history mentions (it records them by id)."""
    return {
        side["employer_id"]
        for h in changes
        for side in (h["before"], h["after"])
        if side and isinstance(side.get("employer_id"), int)
    }


# ---------------------------------------------------------------------------------- employers


@router.get("/employers", dependencies=[Depends(requires(Perm.EMPLOYER_READ))])
def employers_page(request: Request, conn: ReadDb, q: str = SearchText, page: int = Page) -> Response:
    q = q.strip()
    rows, more = _paged(
        service.find_employers(conn, q, limit=EMPLOYERS_PER_PAGE + 1, offset=(page - 1) * EMPLOYERS_PER_PAGE),
        EMPLOYERS_PER_PAGE,
    )
    context = {"q": q, "employers": rows, "page": page, "more": more}
    if is_htmx(request):
        return render(request, "_employer_results.html", context, varies=True)
    return render(request, "employers.html", {"nav": "employers", **context}, varies=True)


@router.get("/employers/{account_no}", dependencies=[Depends(requires(Perm.EMPLOYER_READ))])
def employer_page(
    request: Request, account_no: str, conn: ReadDb, show: Disclose, page: int = Page
) -> Response:
    row = show.one("employer", service.get_employer(conn, account_no))  # NotFound → 404 page
    total, listed = service.employer_members(
        conn, row["id"], limit=MEMBERS_PER_PAGE, offset=(page - 1) * MEMBERS_PER_PAGE
    )
    members = show.show("member", listed)
    by_state, held = service.member_counts(conn, row["id"])
    unallocated = ledger.employer_balance_of(conn, row["id"])
    history = show.show("account_history", service.history(conn, "employer", row["id"]), subject_ids=[])
    return render(
        request,
        "employer.html",
        {
            "nav": "employers",
            "e": row,
            "total": total,
            "by_state": by_state,
            "held_fen": held,
            "unallocated_fen": unallocated,
            # what packages above this one know of the employer (its remittances chart): wired by hpf.app
            **request.app.state.employer_page_facts(conn, row["id"]),
            "members": members,
            "page": page,
            "pages": max(1, -(-total // MEMBERS_PER_PAGE)),
            "history": [{**h, "changes": history_changes("employer", h)} for h in history],
            "actor_names": staff_names(conn, (h["actor"] for h in history)),
        },
    )


# ------------------------------------------------------------------------------------- ledger


LEDGER_LINES_PER_PAGE = 50
PeriodText = Query("", max_length=10)


def _period(today: date, month: str, start: str, end: str) -> tuple[date, date, list[str]]:
    """The period asked for: a month (``2025-03``), or from–to dates, else the business month
    so far. Errors in Chinese, all at once; on an error the business month is used."""
    errors: list[str] = []
    first = today.replace(day=1)
    if month.strip():
        try:
            y, m = (int(x) for x in month.strip().split("-"))
            first_of = date(y, m, 1)
        except ValueError:
            errors.append("月份格式错误，应为YYYY-MM")
        else:
            last = date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)
            return first_of, min(last, today) if first_of <= today else last, errors
    if start.strip() or end.strip():
        found: list[date] = []
        for text, label in ((start, "起始日期"), (end, "终止日期")):
            try:
                found.append(date.fromisoformat(text.strip()))
            except ValueError:
                errors.append(f"{label}格式错误，应为YYYY-MM-DD")
        if len(found) == 2 and found[0] > found[1]:
            errors.append("起始日期不能晚于终止日期")
        if not errors:
            return found[0], found[1], errors
    return first, today, errors


@router.get("/ledger", dependencies=[Depends(requires(Perm.LEDGER_READ))])
def ledger_page(
    request: Request,
    conn: ReadDb,
    ctx: Ctx,
    month: str = PeriodText,
    start: str = Query("", alias="from", max_length=10),
    end: str = Query("", alias="to", max_length=10),
) -> Response:
    today = ctx.clock.today()
    first, last, errors = _period(today, month, start, end)
    subjects = [
        {**fields_of(s), "depth": _depth(s.code)} for s in ledger.period_trial_balance(conn, first, last)
    ]
    leaves = [s for s in subjects if s["postable"]]
    totals = {
        key: sum(s[key] for s in leaves)
        for key in (
            "opening_debit_fen", "opening_credit_fen", "debit_fen", "credit_fen",
            "closing_debit_fen", "closing_credit_fen",
        )
    }  # fmt: skip
    balanced = (
        totals["opening_debit_fen"] == totals["opening_credit_fen"]
        and totals["debit_fen"] == totals["credit_fen"]
        and totals["closing_debit_fen"] == totals["closing_credit_fen"]
    )
    return render(
        request,
        "ledger.html",
        {
            "nav": "ledger",
            "subjects": subjects,
            "totals": totals,
            "balanced": balanced,
            "first": first,
            "last": last,
            "month": month if month.strip() and not errors else "",
            "period_query": urlencode({"from": first.isoformat(), "to": last.isoformat()}),
            "errors": errors,
        },
        status_code=422 if errors else 200,
    )


@router.get("/ledger/{code}", dependencies=[Depends(requires(Perm.LEDGER_READ))])
def ledger_subject_page(
    request: Request,
    code: Annotated[str, Path(max_length=10, pattern=r"^[0-9]{3,10}$")],
    conn: ReadDb,
    ctx: Ctx,
    start: str = Query("", alias="from", max_length=10),
    end: str = Query("", alias="to", max_length=10),
    page: int = Page,
) -> Response:
    today = ctx.clock.today()
    first, last, errors = _period(today, "", start, end)
    lines, count = ledger.subject_lines(
        conn, code, first, last, limit=LEDGER_LINES_PER_PAGE, offset=(page - 1) * LEDGER_LINES_PER_PAGE
    )
    [row] = [s for s in ledger.period_trial_balance(conn, first, last) if s.code == code]
    query = {"from": first.isoformat(), "to": last.isoformat()}
    return render(
        request,
        "ledger_subject.html",
        {
            "nav": "ledger",
            "s": row,
            "lines": lines,
            "count": count,
            "page": page,
            "pages": max(1, -(-count // LEDGER_LINES_PER_PAGE)),
            "first": first,
            "last": last,
            "period_query": urlencode(query),
            "errors": errors,
        },
        status_code=422 if errors else 200,
    )


def _depth(code: str) -> int:
    """How many listed ancestors a subject has (``3210102`` → 1: its parent is ``321``)."""
    parent = parent_of(code)
    return 0 if parent is None else 1 + _depth(parent)
