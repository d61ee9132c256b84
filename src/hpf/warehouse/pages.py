"""The 管理看板 pages (permission ``dashboard:read``): the landing page ``/dashboards``, one page
per board (``/dashboards/{board}``: its chart by month under the filters, the figures as a table,
each figure a link to the rows behind it) and the drill-down ``/dashboards/{board}/rows``. The
rows name members only by the warehouse's pseudonym, whoever looks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from hpf.access.permissions import Perm, Scope
from hpf.warehouse import dashboards
from hpf.warehouse.build import default_path
from hpf.web.auth import requires
from hpf.web.bounds import Offset
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

DASHBOARD = [Depends(requires(Perm.DASHBOARD_READ, scope=Scope.CENTER))]
Month = Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2})?$", max_length=7)]  # empty: not limited
Code = Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{0,12}$", max_length=12)]
BoardKey = Annotated[str, Path(pattern=r"^[a-z]{1,20}$", max_length=20)]
SeriesKey = Annotated[str, Query(pattern=r"^[0-9a-z_]{1,20}$", max_length=20)]

# The landing page's links, in the order shown: (href, title, what it shows). Other dashboards
# (liquidity, forecasts and the plan, what-if, early warning) add their entries to this list.
LINKS: list[tuple[str, str, str]] = [
    ("/dashboards/collection", "归集", "各月汇缴、补缴入账金额"),
    ("/dashboards/withdrawals", "提取", "各月按提取原因的支付金额"),
    ("/dashboards/loans", "贷款与逾期", "各月贷款发放与回收，贷款余额的五级分类与逾期"),
    ("/dashboards/channels", "服务渠道", "各月网上与柜台受理的业务笔数"),
    # fund operation and planning (hpf.planning, decision 0038)
    ("/planning/liquidity", "资金运行监测", "银行存款与未来30天、90天预计支出，个贷率、使用率、逾期率与预警"),
    ("/planning/forecasts", "预测", "归集、提取、贷款发放与回收未来12个月的预测及其回测误差"),
    ("/planning/plan", "归集使用计划", "由预测起草的年度计划，假设可修改，可导出表格与PDF"),
    ("/planning/whatif", "政策模拟", "改变一项政策参数，与现行政策并列推演12至24个月"),
    ("/planning/warnings", "贷款风险预警", "逾期之前列入风险队列的贷款"),
]


def _path(request: Request) -> Any:
    return default_path(request.app.state.settings.database_url)


def _filters(
    month_from: str | None, month_to: str | None, employer_type: str | None, region: str | None
) -> Any:
    return dashboards.Filters(month_from or None, month_to or None, employer_type or None, region or None)


def _chart(board: dashboards.Board, query: str) -> dict[str, Any]:
    unit = board.spec.unit
    return {
        "x": list(board.months),
        "axes": [{"unit": "fen" if unit == "fen" else "count", "name": "元" if unit == "fen" else "笔"}],
        "stack": True,
        "series": [
            {"name": s.name_zh, "key": s.key, "type": "bar", "stack": "all", "data": list(s.values)}
            for s in board.series
        ],
        "drill": f"/dashboards/{board.spec.key}/rows?month={{x}}&series={{s}}{query}",
    }


def _query(filters: dashboards.Filters) -> str:
    parts = [
        f"&{k}={v}"
        for k, v in (
            ("month_from", filters.month_from),
            ("month_to", filters.month_to),
            ("employer_type", filters.employer_type),
            ("region", filters.region),
        )
        if v
    ]
    return "".join(parts)


@router.get("/dashboards", dependencies=DASHBOARD)
def landing_page(request: Request) -> Response:
    as_of = None
    try:
        with dashboards.opened(_path(request)) as con:
            as_of = dashboards.options(con).as_of
    except dashboards.WarehouseMissing:
        pass
    # Before the first build a board has nothing to show (it answers 404): its link is not shown.
    links = [entry for entry in LINKS if as_of is not None or not entry[0].startswith("/dashboards/")]
    return render(request, "dashboards.html", {"nav": "dashboards", "links": links, "as_of": as_of})


@router.get("/dashboards/{board_key}", dependencies=DASHBOARD)
def board_page(
    request: Request,
    board_key: BoardKey,
    month_from: Month = None,
    month_to: Month = None,
    employer_type: Code = None,
    region: Code = None,
) -> Response:
    spec = dashboards.spec_of(board_key)
    filters = _filters(month_from, month_to, employer_type, region)
    with dashboards.opened(_path(request)) as con:
        opts = dashboards.options(con)
        board = dashboards.board(con, board_key, filters)
        book = dashboards.loan_book(con, filters) if board_key == "loans" else (None, ())
    query = _query(filters)
    return render(
        request,
        "dashboard.html",
        {
            "nav": "dashboards",
            "spec": spec,
            "board": board,
            "filters": filters,
            "options": opts,
            "chart_spec": _chart(board, query) if board.series else None,
            "query": query,
            "book_month": book[0],
            "book": book[1],
        },
    )


@router.get("/dashboards/{board_key}/rows", dependencies=DASHBOARD)
def rows_page(
    request: Request,
    board_key: BoardKey,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", max_length=7)],
    series: SeriesKey,
    offset: Offset = 0,
    month_from: Month = None,
    month_to: Month = None,
    employer_type: Code = None,
    region: Code = None,
) -> Response:
    filters = _filters(month_from, month_to, employer_type, region)
    with dashboards.opened(_path(request)) as con:
        drill = dashboards.drill(con, board_key, filters, month=month, series=series, offset=offset)
        value = dashboards.board(con, board_key, dashboards.Filters(month, month, filters.employer_type,
                                                                    filters.region)).value(month, series)  # fmt: skip
    query = _query(filters)
    return render(
        request,
        "dashboard_rows.html",
        {
            "nav": "dashboards",
            "drill": drill,
            "value": value,
            "query": query,
            "page_size": dashboards.PAGE_SIZE,
        },
    )
