"""Withdrawal use cases on storage: the facts a decision needs, the risk checks inside the process
(part of D3), and the real-estate registry feed.

Risk checks stop straight-through approval and say why; they never refuse by themselves (a
registry lags a sale, two strangers may share a card legitimately): staff decide.

- **Shared document**: the same purchase contract or certificate number (by blind index) in
  another member's withdrawal, and that member is not in the declared family.
- **Registered home**: a rent withdrawal while the registry feed holds a home of the member.
- **Repeated withdrawals**: housing withdrawals this year beyond the policy's count.
- **Shared payee card**: the payee card (by blind index) used by another member's withdrawal,
  and that member is not in the declared family.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select

from hpf.accounts.tables import account_history, member
from hpf.contributions.tables import remittance, remittance_row
from hpf.interest.service import interest_preview
from hpf.kernel.context import Context
from hpf.kernel.errors import NotFound
from hpf.ledger.service import member_balances
from hpf.security.protect import blind_index, seal
from hpf.withdrawals.rules import (
    CLOSING,
    Claim,
    MemberFacts,
    PastWithdrawal,
    Reason,
    ReasonOverview,
    Risk,
    WithdrawalPolicy,
    overview,
    policy_on,
    repeated_withdrawals,
)
from hpf.withdrawals.tables import property_record, withdrawal

COUNTED_STATES = ("reserved", "paid")  # a withdrawal in flight counts like one paid
HOME_HELD = ("held", "seized", "disputed")  # still the member's in the registry


def _month_index(text: str) -> int:
    return int(text[:4]) * 12 + int(text[5:7]) - 1


def continuous_deposit_months(months: Iterable[str]) -> int:
    """Length of the run of consecutive months ending at the latest one deposited."""
    indexes = sorted({_month_index(m) for m in months}, reverse=True)
    run = 0
    for k, got in enumerate(indexes):
        if got != indexes[0] - k:
            break
        run += 1
    return run


def member_facts(conn: Connection, member_id: int, today: date, reason: Reason) -> MemberFacts:
    """What a decision on ``member_id``'s withdrawal needs, read in the caller's transaction."""
    row = conn.execute(
        select(member.c.state, member.c.gender, member.c.birth_date, member.c.resident_id_bidx).where(
            member.c.id == member_id
        )
    ).first()
    if row is None:
        raise NotFound("member.not_found", "个人账户不存在", f"no member {member_id}")
    carried, current = member_balances(conn, [member_id]).get(member_id, (0, 0))
    months = conn.scalars(
        select(remittance.c.month)
        .join(remittance_row, remittance_row.c.remittance_id == remittance.c.id)
        .where(remittance_row.c.member_id == member_id, remittance.c.state == "posted")
        .distinct()
    ).all()
    sealed_since = conn.scalar(
        select(func.max(account_history.c.business_date)).where(
            account_history.c.subject_kind == "member",
            account_history.c.subject_id == member_id,
            account_history.c.action == "seal",
        )
    )
    past = [
        PastWithdrawal(day, Reason(reason_code), amount)
        for day, reason_code, amount in conn.execute(
            select(withdrawal.c.applied_on, withdrawal.c.reason, withdrawal.c.allowed_fen).where(
                withdrawal.c.member_id == member_id, withdrawal.c.state.in_(COUNTED_STATES)
            )
        )
    ]
    interest = interest_preview(conn, member_id, today)["interest_fen"] if reason in CLOSING else 0
    return MemberFacts(
        state=row.state,
        gender=row.gender,
        birth_date=row.birth_date,
        carried_fen=carried,
        current_fen=current,
        continuous_deposit_months=continuous_deposit_months(months),
        sealed_since=sealed_since if row.state == "02" else None,
        interest_to_date_fen=int(interest),
        past=tuple(past),
    )


@dataclass(frozen=True)
class Identifiers:
    """The blind indexes a claim is checked by (computed once from the plaintext the member gave)."""

    member_bidx: str
    family_bidx: tuple[str, ...]
    document_bidx: str | None
    payee_card_bidx: str

    @classmethod
    def of(
        cls, member_bidx: str, family_ids: Sequence[str], document_no: str | None, payee_card: str
    ) -> Identifiers:
        return cls(
            member_bidx,
            tuple(blind_index("member", "resident_id", f.upper()) for f in family_ids),
            blind_index("withdrawal", "document_no", document_no.strip().upper()) if document_no else None,
            blind_index("withdrawal", "payee_card", payee_card),
        )


def family_withdrawn_fen(conn: Connection, ids: Identifiers) -> int:
    """What the member and the declared family already withdrew against the same document."""
    if ids.document_bidx is None:
        return 0
    owners = (ids.member_bidx, *ids.family_bidx)
    total = conn.scalar(
        select(func.coalesce(func.sum(withdrawal.c.allowed_fen), 0))
        .join(member, member.c.id == withdrawal.c.member_id)
        .where(
            withdrawal.c.document_no_bidx == ids.document_bidx,
            withdrawal.c.state.in_(COUNTED_STATES),
            member.c.resident_id_bidx.in_(owners),
        )
    )
    return int(total or 0)


def _strangers_sharing(conn: Connection, column: Any, value: str, ids: Identifiers) -> int:
    family = (ids.member_bidx, *ids.family_bidx)
    return int(
        conn.scalar(
            select(func.count(func.distinct(withdrawal.c.member_id)))
            .join(member, member.c.id == withdrawal.c.member_id)
            .where(
                and_(
                    column == value,
                    withdrawal.c.state.in_((*COUNTED_STATES, "pending")),
                    member.c.resident_id_bidx.not_in(family),
                )
            )
        )
        or 0
    )


def risk_checks(
    conn: Connection,
    claim: Claim,
    facts: MemberFacts,
    ids: Identifiers,
    policy: WithdrawalPolicy,
    today: date,
) -> list[Risk]:
    """Every risk the claim raises (empty: nothing stops straight-through approval)."""
    risks = list(repeated_withdrawals(claim, facts, policy, today))
    if ids.document_bidx is not None and claim.reason in (Reason.PURCHASE, Reason.BUILD):
        others = _strangers_sharing(conn, withdrawal.c.document_no_bidx, ids.document_bidx, ids)
        if others:
            risks.append(
                Risk(
                    "risk.shared_document",
                    f"同一购房合同或证明已被{others}名非家庭成员的职工用于提取",
                    f"{others} other member(s) outside the declared family used this document",
                )
            )
    if claim.reason is Reason.RENT:
        homes = conn.scalar(
            select(func.count())
            .select_from(property_record)
            .where(property_record.c.owner_bidx == ids.member_bidx, property_record.c.status.in_(HOME_HELD))
        )
        if homes:
            risks.append(
                Risk(
                    "risk.registered_home",
                    "不动产登记信息显示本人名下有住房，租房提取需人工核实",
                    f"{homes} home(s) registered to the member",
                )
            )
    others = _strangers_sharing(conn, withdrawal.c.payee_card_bidx, ids.payee_card_bidx, ids)
    if others:
        risks.append(
            Risk(
                "risk.shared_payee_card",
                f"收款银行卡已被{others}名非家庭成员的职工使用",
                f"{others} other member(s) outside the declared family were paid to this card",
            )
        )
    return risks


def eligibility(conn: Connection, member_id: int, today: date) -> list[ReasonOverview]:
    """Every reason for the self-service page (center policy overlay: national defaults for now)."""
    policy = policy_on(today)
    facts = member_facts(conn, member_id, today, Reason.RETIREMENT)  # with interest to date
    return overview(facts, policy, today)


# --------------------------------------------------------------------------- registry feed


@dataclass(frozen=True)
class PropertyNotice:
    """One record of the real-estate registry feed (不动产登记): an owner's home and its status."""

    owner_resident_id: str
    certificate_no: str
    registered_on: date
    status: str  # held | sold | seized | disputed


def ingest_registry(conn: Connection, ctx: Context, notices: Iterable[PropertyNotice], source: str) -> int:
    """Store the feed's records; a record seen again updates its status. Returns rows written."""
    written = 0
    for notice in notices:
        certificate = notice.certificate_no.strip().upper()
        key = blind_index("property_record", "certificate_no", certificate)
        known = conn.scalar(select(property_record.c.id).where(property_record.c.certificate_no_bidx == key))
        if known is not None:
            conn.execute(
                property_record.update()
                .where(property_record.c.id == known)
                .values(status=notice.status, received_at=ctx.clock.now(), source=source)
            )
        else:
            conn.execute(
                insert(property_record).values(
                    owner_bidx=blind_index("member", "resident_id", notice.owner_resident_id.upper()),
                    certificate_no_enc=seal("property_record", "certificate_no", certificate),
                    certificate_no_bidx=key,
                    registered_on=notice.registered_on,
                    status=notice.status,
                    source=source,
                    received_at=ctx.clock.now(),
                )
            )
        written += 1
    return written
