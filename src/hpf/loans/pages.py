"""The 贷款试算 page (``/loans/calculator``): anyone may use it, signed in or not.

A GET form: with no query it shows the form filled with an example (500,000 yuan, 30 years,
the national first-home rate in force today); with a query it adds the summary and the
schedule. htmx swaps only the result (``_loans_result.html``); without JavaScript the whole
page reloads. Bad input: the page (or fragment) with the Chinese message, status 422.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hpf.kernel.errors import HpfError
from hpf.loans import rates
from hpf.loans.calculator import MAX_YEARS, calculate, first_of_next_month, parse_input
from hpf.loans.schedule import Method
from hpf.security.permissions import Perm
from hpf.web.auth import requires
from hpf.web.deps import Ctx
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
            context["rate_percent"] = f"{(given.annual_rate * 100).normalize():f}"
        except HpfError as exc:
            context["error"], context["error_code"], status = exc.title, exc.code, 422
    name = "_loans_result.html" if is_htmx(request) else "loans_calculator.html"
    response = render(request, name, context, status_code=status, varies=True)
    if context["error"]:
        response.headers["X-HPF-Error"] = context["error_code"]
    return response
