"""The 数据目录 page (``/data/catalog``): the data catalog with filters by table, owner,
sharing attribute and grade; the CSV download keeps the same filters."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from hpf.access.permissions import Perm, Scope
from hpf.data import catalog as cat
from hpf.data.registry import Sharing, load
from hpf.kernel.errors import InvalidInput
from hpf.protection.classification import Grade
from hpf.web.auth import requires
from hpf.web.bounds import Code
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

OWNER_ZH = {
    "accounts": "账户管理",
    "approvals": "复核审批",
    "audit": "审计日志",
    "contributions": "归集缴存",
    "db": "数据库",
    "disclosure": "信息披露与告警",
    "events": "业务事件",
    "identity": "身份认证",
    "inspection": "电子稽查",
    "supervision": "监管报送",
    "planning": "资金运行与计划",
    "jobs": "批处理",
    "ledger": "财务核算",
    "loans": "个人住房贷款",
    "policy": "政策参数",
    "protection": "数据保护",
    "quality": "数据质量",
    "services": "服务事项与申请",
    "settlement": "资金结算",
    "oversight": "监督问题与失信名单",
    "transfers": "转移接续",
    "withdrawals": "提取",
}

Filter = Annotated[Code, Query()]


@router.get("/data/catalog", dependencies=[Depends(requires(Perm.DATA_READ, scope=Scope.CENTER))])
def catalog_page(
    request: Request,
    table: Filter = "",
    owner: Filter = "",
    sharing: Filter = "",
    grade: Filter = "",
    standard: Filter = "",
) -> Response:
    offered = cat.choices()
    form = {"table": table, "owner": owner, "sharing": sharing, "grade": grade, "standard": standard}
    checks = {"table": offered["tables"], "owner": offered["owners"], "sharing": offered["sharing"]}
    checks |= {"grade": offered["grades"], "standard": ["yes", "no"]}
    errors = [name for name, value in form.items() if value and value not in checks[name]]
    if errors:
        raise InvalidInput(
            "data.catalog.filter", "筛选条件无效", f"unknown filter values: {errors}", field=errors[0]
        )
    rows = cat.catalog(
        table=table or None,
        owner=owner or None,
        sharing=sharing or None,
        grade=grade or None,
        standard={"yes": True, "no": False}.get(standard),
    )
    registry = load()
    tables = [(t, registry.of_table(t)[0].table_name_zh) for t in offered["tables"]]
    query = urlencode({k: v for k, v in form.items() if v and k != "standard"})
    if standard:
        query = "&".join(q for q in (query, f"standard={'true' if standard == 'yes' else 'false'}") if q)
    return render(
        request,
        "data_catalog.html",
        {
            "nav": "data_catalog",
            "rows": rows,
            "total": len(registry.elements),
            "form": form,
            "tables": tables,
            "owners": [(o, OWNER_ZH.get(o, o)) for o in offered["owners"]],
            "owner_zh": OWNER_ZH,
            "sharings": [(s.value, s.label_zh) for s in Sharing],
            "grades": [(g.value, g.label_zh) for g in Grade],
            "standard_tables": registry.standard_tables,
            "csv_href": "/api/v1/data/catalog.csv" + (f"?{query}" if query else ""),
        },
    )
