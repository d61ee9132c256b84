"""Every invariant of the center's books, as ``hpf check`` and ``GET /api/v1/ledger/check``: the
ledger's own (``hpf.ledger.check``) and the loan book's against it (``hpf.loans.book.check``).

Above both packages in the layer order, so the ledger does not reach up into the loans.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import Connection

from hpf.access.permissions import Perm
from hpf.kernel.findings import Finding
from hpf.ledger.check import check_ledger
from hpf.loans.book.check import check_loans
from hpf.web.auth import requires
from hpf.web.deps import ReadDb
from hpf.web.routing import HpfRoute

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"], route_class=HpfRoute)


def check_center(conn: Connection) -> list[Finding]:
    """Every finding, the ledger's first; an empty list is a clean center."""
    return [*check_ledger(conn), *check_loans(conn)]


class FindingPublic(BaseModel):
    check: str
    account: str
    detail: str


class CheckResult(BaseModel):
    ok: bool
    findings: list[FindingPublic]


@router.get(
    "/check",
    summary="Verify every ledger invariant (same as `hpf check`)",
    dependencies=[Depends(requires(Perm.LEDGER_READ))],
)
def check(conn: ReadDb) -> CheckResult:
    findings = check_center(conn)
    return CheckResult(
        ok=not findings,
        findings=[
            FindingPublic(check=f.code, account=f.subject or "", detail=f.message_en) for f in findings
        ],
    )
