"""Showing personal data over HTTP: masking by role, the audit row for every read, the read alerts.

A route that returns members or employers (API or page) takes a ``Disclose`` dependency and
passes its records through ``Disclosure.show`` before answering. ``show``

1. writes one audit row per record shown (``member.read`` / ``employer.read``; ``*.unmask`` when
   shown in full) with who, role, center, when, from where, why (``purpose``) — in the request's
   own write transaction when it has one (``conn=``), else through the audit sink's group
   commit (``hpf.web.audit_sink``: no connection or writer turn of its own), and waits until it
   is committed, *before* the data leaves: a read that cannot be audited is not answered;
2. checks the staff member's read rate (``hpf.disclosure.alerts.after_reads``: one answer shown
   masked is one read however many members it lists; members shown in full count one each);
3. masks every field declared with a masking kind (``hpf.protection.classification``), unless
   the viewer asked for ``unmask`` — which needs ``member:unmask`` and a purpose, and is logged
   as such (a refused attempt is logged as ``denied``).

Names stay in clear for every signed-in role except partners: staff, members and employers work
with names; ID numbers, phones, birth dates and bank accounts are what masking protects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy import Connection

from hpf.access.permissions import Perm, Principal
from hpf.audit import trail as audit
from hpf.disclosure import alerts
from hpf.identity.identity import Forbidden
from hpf.kernel.errors import InvalidInput
from hpf.kernel.records import Record, fields_of
from hpf.protection.masking import mask_record
from hpf.web import audit_sink
from hpf.web.auth import Found, signed_in
from hpf.web.callers import request_context, role_of, source_ip

DEFAULT_PURPOSE = {
    "staff": "业务办理",
    "member": "本人查询",
    "employer": "单位查询本单位职工信息",
    "partner": "共享查询",
}
NAMES_IN_CLEAR = frozenset({"name"})


@dataclass(frozen=True)
class Disclosure:
    request: Request
    principal: Principal
    unmask: bool
    purpose: str

    @property
    def keep(self) -> frozenset[str]:
        return frozenset() if self.principal.kind == "partner" else NAMES_IN_CLEAR

    def show(
        self,
        table: str,
        records: Sequence[Record],
        *,
        conn: Connection | None = None,
        subject_ids: Sequence[int] | None = None,
    ) -> list[dict[str, Any]]:
        """``records`` (typed results or mappings) as this viewer may see them, as mappings, after
        auditing the read.

        ``subject_ids`` are the member/employer ids read when the records are not rows of
        ``table`` with an ``id`` (a member's history rows, for instance).
        """
        rows = [fields_of(r) for r in records]
        ids = list(subject_ids) if subject_ids is not None else [r["id"] for r in rows]
        subject = "member" if table in ("member", "account_history") else table
        if ids:
            work = self._audit(subject, ids)
            if conn is not None:
                work(conn)
                # Should the request's transaction roll back, the read still happened: the unit
                # of work then queues these rows to the sink (hpf.web.deps).
                pending = getattr(self.request.state, "reads_in_unit_of_work", None)
                if pending is None:
                    pending = self.request.state.reads_in_unit_of_work = []
                pending.append(work)
            else:
                audit_sink.write(self.request, work)
        return self.masked(table, rows)

    def masked(self, table: str, records: Sequence[Record]) -> list[dict[str, Any]]:
        """Masking only: for an export, whose audit row is ``record_export``'s."""
        return [mask_record(table, fields_of(r), can_unmask=self.unmask, keep=self.keep) for r in records]

    def record_export(self, object_type: str, object_id: str, *, rows: int, digest: str, what: str) -> None:
        """One audit row for an export (its size and the SHA-256 of the file), and the bulk alert."""
        action = "export.unmasked" if self.unmask else "export"
        self.record_view(object_type, object_id, rows=rows, what=what, action=action, sha256=digest)

    def record_view(
        self,
        object_type: str,
        object_id: str | int,
        *,
        rows: int,
        what: str,
        action: str | None = None,
        **facts: str,
    ) -> None:
        """One audit row for a document holding many people's data (a list and its rows, a
        prefilled template), with the number of rows; exports also check the bulk alert."""
        ctx = request_context(self.request, self.principal)
        ip = source_ip(self.request)
        action = action or f"{object_type}.read"
        role = role_of(self.principal)
        purpose = self.purpose
        actor = self.principal.login
        detail = {"what": what, "rows": rows, "path": self.request.url.path[:200], **facts}

        def work(conn: Connection) -> None:
            audit.append(
                conn,
                ctx,
                role=role,
                source_ip=ip,
                action=action,
                object_type=object_type,
                object_id=object_id,
                purpose=purpose,
                detail=detail,
            )
            if action.startswith("export"):
                alerts.after_export(conn, ctx, actor=actor, rows=rows, what=what, source_ip=ip)

        audit_sink.write(self.request, work)

    def one(self, table: str, record: Record, *, conn: Connection | None = None) -> dict[str, Any]:
        return self.show(table, [record], conn=conn)[0]

    def _audit(self, subject: str, ids: Sequence[int]) -> audit_sink.Work:
        """The read's rows (and the read-rate alert of staff) as work for a connection."""
        ctx = request_context(self.request, self.principal)
        ip = source_ip(self.request)
        role = role_of(self.principal)
        action = f"{subject}.{'unmask' if self.unmask else 'read'}"
        object_ids = list(dict.fromkeys(ids))
        purpose = self.purpose
        detail = {"path": self.request.url.path[:200]}
        alert_actor = self.principal.login if subject == "member" and self.principal.is_staff else None

        def work(conn: Connection) -> None:
            audit.append_many(
                conn,
                ctx,
                role=role,
                source_ip=ip,
                action=action,
                object_type=subject,
                object_ids=object_ids,
                purpose=purpose,
                detail=detail,
            )
            if alert_actor is not None:
                alerts.after_reads(conn, ctx, actor=alert_actor, source_ip=ip)

        return work


async def _disclosure(  # async: no I/O (a refusal's row is queued), no thread hand-off
    request: Request,
    found: Found,
    unmask: bool = Query(False, description="show personal data in full (needs member:unmask; logged)"),
    purpose: str | None = Query(
        None, max_length=200, description="why the data is read (required to unmask)"
    ),
) -> Disclosure:
    principal = signed_in(found)
    why = " ".join((purpose or "").split())
    if unmask:
        refusal: Exception | None = None
        if not principal.may(Perm.MEMBER_UNMASK):
            refusal = Forbidden(
                "auth.unmask_forbidden",
                "无权查看完整个人信息",
                "showing personal data in full needs member:unmask",
            )
        elif not why:
            refusal = InvalidInput(
                "audit.purpose_required",
                "查看完整信息须填写用途",
                "say why (purpose) to see the data in full",
            )
        if refusal is not None:
            # Queued, not waited for: this request may hold the write lock the sink needs. The
            # answer (the refusal) still leaves only once the row is committed (AuditTrail).
            ctx = request_context(request, principal)
            role = role_of(principal)
            ip = source_ip(request)
            detail = {"path": request.url.path[:200], "reason": getattr(refusal, "code", "")}

            def work(conn: Connection) -> None:
                audit.append(
                    conn,
                    ctx,
                    role=role,
                    source_ip=ip,
                    action="unmask",
                    object_type="request",
                    object_id=None,
                    purpose=why or "（未填写）",
                    outcome="denied",
                    detail=detail,
                )

            audit_sink.queue(request, work)
            raise refusal
    return Disclosure(request, principal, unmask, why or DEFAULT_PURPOSE.get(principal.kind, "业务办理"))


Disclose = Annotated[Disclosure, Depends(_disclosure)]
