"""The page of what this center reported to the hub (监管报送, ``/supervision/reports``; decision 0039).

Staff with ``data:read``: every version of every month sent — the chunks and how many the hub
has accepted, the figures and member rows, a restatement's reason, who sent it and when — and
the indicators of the catalogue this center computes and those it cannot, with the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from hpf.access.permissions import Perm, Scope
from hpf.supervision import indicators, service
from hpf.transfers.link import installed
from hpf.web.auth import requires
from hpf.web.deps import ReadDb
from hpf.web.pages_common import PageRoute, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.get("/supervision/reports", dependencies=[Depends(requires(Perm.DATA_READ, scope=Scope.CENTER))])
def reports_page(request: Request, conn: ReadDb) -> Response:
    catalogue = indicators.catalogue()
    unsupported = [
        (code, item.name, indicators.unsupported_reason(code))
        for code, item in catalogue.items()
        if code not in indicators.COMPUTED
    ]
    return render(
        request,
        "supervision_reports.html",
        {
            "nav": "supervision",
            "linked": installed().link is not None,
            "reports": service.reports(conn),
            "computed": sorted(indicators.COMPUTED.items()),
            "unsupported": unsupported,
            "catalogue_size": len(catalogue),
        },
    )
