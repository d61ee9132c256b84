"""Staff back-office pages for accounts and the ledger (Chinese, server-rendered, htmx).

Every page works as plain HTML; where htmx is present, searches update as the clerk types and
long lists load more in place. Routes that answer htmx with a fragment answer a plain request
with the whole page. A refusal (unknown account, bad query) is a Chinese HTML page with the
refusal's status, never problem+json.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection, func, select
from starlette.responses import RedirectResponse, Response

from hpf.accounts import charts, service
from hpf.accounts.tables import employer, member
from hpf.ledger import service as ledger
from hpf.ledger.chart import parent_of
from hpf.ledger.tables import member_balance
from hpf.loans import service as loans
from hpf.security.permissions import Perm, Scope
from hpf.web.auth import CurrentPrincipal, requires
from hpf.web.deps import ReadDb
from hpf.web.disclosure import Disclose
from hpf.web.pages_common import PageRoute, history_changes, is_htmx, render

SEARCH_LIMIT = 50
EMPLOYERS_PER_PAGE = 50
MEMBERS_PER_PAGE = 100
STATEMENT_PER_PAGE = 50
MAX_PAGE = 1_000_000

Page = Query(1, ge=1, le=MAX_PAGE, description="页码")
SearchText = Query("", max_length=60)

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _paged(rows: list[dict[str, Any]], per_page: int) -> tuple[list[dict[str, Any]], bool]:
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
    employers = _employers_by_id(conn, {row["employer_id"], *_employer_ids(changes)})
    names = {i: f"{e['name']}（{e['account_no']}）" for i, e in employers.items()}
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
            "has_loans": loans.has_loans(conn, row["id"]),  # the 我的贷款 link
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
    lines, more = _statement(conn, found["id"], page)
    return render(
        request,
        "_statement_rows.html",
        {"m": found, "lines": lines, "page": page, "more": more},
        varies=True,
    )


def _statement(conn: Connection, member_id: int, page: int) -> tuple[list[dict[str, Any]], bool]:
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


def _employers_by_id(conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    rows = conn.execute(
        select(employer.c.id, employer.c.name, employer.c.account_no).where(employer.c.id.in_(ids))
    ).mappings()
    return {r["id"]: dict(r) for r in rows}


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
    by_state, held = _member_counts(conn, row["id"])
    unallocated = ledger.employer_balance_of(conn, row["id"])
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
            "remittance_chart": charts.employer_remittance_chart(conn, row["id"]),
            "members": members,
            "page": page,
            "pages": max(1, -(-total // MEMBERS_PER_PAGE)),
            "history": [
                {**h, "changes": history_changes("employer", h)}
                for h in show.show(
                    "account_history", service.history(conn, "employer", row["id"]), subject_ids=[]
                )
            ],
        },
    )


def _member_counts(conn: Connection, employer_id: int) -> tuple[list[tuple[str, int]], int]:
    """Members per state, and what the employer's members hold in all (fen)."""
    rows = conn.execute(
        select(
            member.c.state,
            func.count(),
            func.coalesce(func.sum(member_balance.c.carried_fen + member_balance.c.current_fen), 0),
        )
        .select_from(member.outerjoin(member_balance, member_balance.c.member_id == member.c.id))
        .where(member.c.employer_id == employer_id)
        .group_by(member.c.state)
        .order_by(member.c.state)
    ).all()
    return [(state, int(count)) for state, count, _ in rows], sum(int(held) for _, _, held in rows)


# ------------------------------------------------------------------------------------- ledger


@router.get("/ledger", dependencies=[Depends(requires(Perm.LEDGER_READ))])
def ledger_page(request: Request, conn: ReadDb) -> Response:
    subjects = ledger.subject_balances(conn)
    for s in subjects:
        s["depth"] = _depth(s["code"])
    leaves = [s for s in subjects if s["postable"]]
    return render(
        request,
        "ledger.html",
        {
            "nav": "ledger",
            "subjects": subjects,
            "debit_total": sum(s["debit_fen"] for s in leaves),
            "credit_total": sum(s["credit_fen"] for s in leaves),
        },
    )


def _depth(code: str) -> int:
    """How many listed ancestors a subject has (``3210102`` → 1: its parent is ``321``)."""
    parent = parent_of(code)
    return 0 if parent is None else 1 + _depth(parent)
