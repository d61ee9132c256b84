"""Supervision policy as versioned data with maker-checker (decision 0040).

The shipped document (``policy.json``, version 0) holds until a version is approved. A national
supervisor proposes a document with an effective date (checked at once: ``rules.parse``);
another national supervisor approves it (the next version number) or rejects it; the proposer
cannot decide their own proposal. :func:`policy_for` answers the version in force on a day:
the approved one with the latest effective date on or before it (the highest version among
equals), else the shipped one. A month is classified under the policy in force on its last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from hpf.hub.supervision import rules
from hpf.hub.supervision.scope import Supervisor, forbidden
from hpf.hub.supervision.tables import hub_sup_policy
from hpf.kernel.errors import Conflict, NotFound


def policy_for(conn: Connection, on: date) -> rules.Policy:
    p = hub_sup_policy.c
    row = conn.execute(
        select(p.version, p.effective_from, p.document)
        .where(p.state == "approved", p.effective_from <= on)
        .order_by(p.effective_from.desc(), p.version.desc())
        .limit(1)
    ).first()
    if row is None:
        return rules.shipped()
    return rules.parse(row.document, version=int(row.version), effective_from=row.effective_from)


def _national(who: Supervisor) -> None:
    if not who.national:
        raise forbidden(
            "supervision.national_only", "仅全国监督员可调整监督政策", f"{who.login} is provincial"
        )


def propose(
    conn: Connection, who: Supervisor, document: dict[str, Any], effective_from: date, now: datetime
) -> int:
    _national(who)
    rules.parse(document)  # refused now, not at approval
    return int(
        conn.execute(
            insert(hub_sup_policy)
            .values(
                effective_from=effective_from,
                document=document,
                state="proposed",
                proposed_by=who.login,
                proposed_at=now,
            )
            .returning(hub_sup_policy.c.id)
        ).scalar_one()
    )


def decide(conn: Connection, who: Supervisor, proposal_id: int, approve: bool, now: datetime) -> int | None:
    """Approve (the new version number) or reject (None) a proposal, by another supervisor."""
    _national(who)
    p = hub_sup_policy.c
    row = conn.execute(select(p.state, p.proposed_by).where(p.id == proposal_id)).first()
    if row is None:
        raise NotFound("supervision.policy_unknown", "政策调整申请不存在", f"no proposal {proposal_id}")
    if row.state != "proposed":
        raise Conflict("supervision.policy_decided", "该申请已处理", f"proposal {proposal_id} is {row.state}")
    if row.proposed_by == who.login:
        raise forbidden(
            "supervision.same_person", "提出人不能审批自己的申请", "maker and checker must differ"
        )
    version = None
    if approve:
        version = int(conn.scalar(select(func.coalesce(func.max(p.version), 0))) or 0) + 1
    conn.execute(
        update(hub_sup_policy)
        .where(p.id == proposal_id, p.state == "proposed")
        .values(
            state="approved" if approve else "rejected", version=version, decided_by=who.login, decided_at=now
        )
    )
    return version


@dataclass(frozen=True)
class PolicyRow:
    id: int
    version: int | None
    effective_from: date
    state: str
    proposed_by: str
    decided_by: str | None


def policy_rows(conn: Connection) -> list[PolicyRow]:
    p = hub_sup_policy.c
    rows = conn.execute(
        select(p.id, p.version, p.effective_from, p.state, p.proposed_by, p.decided_by).order_by(p.id.desc())
    ).all()
    return [PolicyRow(**r._mapping) for r in rows]
