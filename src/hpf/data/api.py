"""HTTP API of the data catalog: ``GET /api/v1/data/catalog`` (JSON; ``?format=csv`` or
``/api/v1/data/catalog.csv`` for CSV), filtered by table, owner, sharing, grade and whether the
field is in the standard. Metadata only — no stored values — so no disclosure row is written;
the permission ``data:read`` keeps it to governance roles.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from hpf.access.permissions import Perm, Scope
from hpf.data import catalog as cat
from hpf.kernel.errors import InvalidInput
from hpf.web.auth import requires
from hpf.web.bounds import Code
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1/data", tags=["data"], route_class=HpfRoute)

READ = [Depends(requires(Perm.DATA_READ, scope=Scope.CENTER))]


def _filters(
    table: str | None, owner: str | None, sharing: str | None, grade: str | None
) -> dict[str, str | None]:
    """The filters, each checked against the values the catalog has (the field named if not)."""
    offered = cat.choices()
    given = {"table": table, "owner": owner, "sharing": sharing, "grade": grade}
    lists = {"table": "tables", "owner": "owners", "sharing": "sharing", "grade": "grades"}
    for name, value in given.items():
        if value not in (None, "") and value not in offered[lists[name]]:
            raise InvalidInput(
                "data.catalog.filter",
                f"筛选条件“{name}”的值无效",
                f"{name}: {value!r} is not one of the catalog's values",
                field=name,
            )
    return {k: (v or None) for k, v in given.items()}


def _rows(
    table: str | None, owner: str | None, sharing: str | None, grade: str | None, standard: bool | None
) -> list[cat.CatalogRow]:
    return cat.catalog(**_filters(table, owner, sharing, grade), standard=standard)


def _csv(rows: list[cat.CatalogRow]) -> Response:
    return Response(
        ("\ufeff" + cat.to_csv(rows)).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="data-catalog.csv"'},
    )


Filter = Annotated[Code | None, Query()]


@router.get(
    "/catalog",
    dependencies=READ,
    summary="The data catalog: every stored field as a data element (JSON, or CSV with format=csv)",
    response_model=list[cat.CatalogRow],
    responses={200: {"content": {"text/csv": {}}}},
)
def data_catalog(
    table: Filter = None,
    owner: Filter = None,
    sharing: Filter = None,
    grade: Filter = None,
    standard: Annotated[bool | None, Query(description="true: in JGJ/T 320; false: center-local")] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> object:
    rows = _rows(table, owner, sharing, grade, standard)
    if format == "csv":
        return _csv(rows)
    return rows


@router.get(
    "/catalog.csv",
    dependencies=READ,
    summary="The data catalog as CSV (UTF-8 with BOM, for spreadsheet programs)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def data_catalog_csv(
    table: Filter = None,
    owner: Filter = None,
    sharing: Filter = None,
    grade: Filter = None,
    standard: Annotated[bool | None, Query()] = None,
) -> Response:
    return _csv(_rows(table, owner, sharing, grade, standard))
