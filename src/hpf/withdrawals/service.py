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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypedDict

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, update

from hpf import events
from hpf.accounts import queries as accounts_queries
from hpf.accounts import service as accounts
from hpf.accounts.queries import MemberProfile
from hpf.accounts.rules import CloseKind
from hpf.contributions.queries import member_posted_months
from hpf.interest.service import interest_preview, settle_on_close_with_policy
from hpf.kernel import network
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError, NotFound
from hpf.kernel.findings import Finding
from hpf.ledger.chart import MEMBER_CONTROL
from hpf.ledger.rules import BalancePart
from hpf.ledger.service import member_balances
from hpf.policy.queries import withdrawal_policy_at
from hpf.protection.protect import blind_index, seal, to_stored
from hpf.settlement import service as settlement
from hpf.settlement.adapter import BankAdapter
from hpf.settlement.owners import PayoutOutcome
from hpf.settlement.rules import Payee, PayoutRequest, Source
from hpf.withdrawals.rules import (
    CLOSING,
    Claim,
    Decision,
    MemberFacts,
    PastWithdrawal,
    Reason,
    ReasonOverview,
    WithdrawalPolicy,
    evaluate,
    overview,
    repeated_withdrawals,
)
from hpf.withdrawals.tables import property_record, withdrawal

COUNTED_STATES = ("reserved", "paid")  # a withdrawal in flight counts like one paid
HOME_HELD = ("held", "seized", "disputed")  # still the member's in the registry


def _month_index(text: str) -> int:
    return int(text[:4]) * 12 + int(text[5:7]) - 1


def continuous_deposit_months(months: Iterable[str], as_of: date) -> int:
    """连续缴存月数 on ``as_of`` (decision 0019): the run of consecutive deposited months that
    ends at the month before ``as_of``'s month — the current month's list is not yet due, so it
    is not missing, and counts when it is already in. A run that ended earlier (the employer
    stopped paying) counts 0: the member is not depositing continuously now.
    """
    deposited = {_month_index(m) for m in months}
    this_month = as_of.year * 12 + as_of.month - 1
    end = this_month if this_month in deposited else this_month - 1
    run = 0
    while end - run in deposited:
        run += 1
    return run


# The statements every withdrawal's evaluation runs (twice per application: submitted, then
# accepted), built once: building a Core statement and its cache key costs more than SQLite's
# own work for these lookups by key.
_PAST = select(withdrawal.c.applied_on, withdrawal.c.reason, withdrawal.c.allowed_fen).where(
    withdrawal.c.member_id == bindparam("member_id"), withdrawal.c.state.in_(COUNTED_STATES)
)


def member_facts(
    conn: Connection, member_id: int, today: date, reason: Reason, profile: MemberProfile | None = None
) -> MemberFacts:
    """What a decision on ``member_id``'s withdrawal needs, read in the caller's transaction
    (``profile``: the member's ``accounts.queries.member_profile`` row when the caller has it)."""
    by_member = {"member_id": member_id}
    row = profile if profile is not None else accounts_queries.member_profile(conn, member_id)
    if row is None:
        raise NotFound("member.not_found", "个人账户不存在", f"no member {member_id}")
    carried, current = member_balances(conn, [member_id]).get(member_id, (0, 0))
    months = member_posted_months(conn, member_id)
    # (read only for a sealed account: the facts keep it for no other state)
    sealed_since = accounts_queries.last_sealed_on(conn, member_id) if row.state == "02" else None
    past = [
        PastWithdrawal(day, Reason(reason_code), amount)
        for day, reason_code, amount in conn.execute(_PAST, by_member)
    ]
    interest = _interest_to_date(conn, member_id, today) if reason in CLOSING else 0
    return MemberFacts(
        state=row.state,
        gender=row.gender,
        birth_date=row.birth_date,
        carried_fen=carried,
        current_fen=current,
        continuous_deposit_months=continuous_deposit_months(months, today),
        sealed_since=sealed_since,
        interest_to_date_fen=interest,
        past=tuple(past),
    )


def _interest_to_date(conn: Connection, member_id: int, today: date) -> int:
    """Interest earned and not yet credited; 0 once a closing settlement credited it today."""
    try:
        return interest_preview(conn, member_id, today).interest_fen
    except Conflict as exc:
        if exc.code == "interest.already_settled":
            return 0
        raise


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
    member = accounts_queries.member_identities_subquery()
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


_IDENTITIES = accounts_queries.member_identities_subquery("member")


def _sharing(column: Any) -> Any:
    """Members outside a family who used ``column``'s value (built once per column)."""
    return (
        select(func.count(func.distinct(withdrawal.c.member_id)))
        .join(_IDENTITIES, _IDENTITIES.c.id == withdrawal.c.member_id)
        .where(
            and_(
                column == bindparam("value"),
                withdrawal.c.state.in_((*COUNTED_STATES, "pending")),
                _IDENTITIES.c.resident_id_bidx.not_in(bindparam("family", expanding=True)),
            )
        )
    )


_SHARING = {
    "document_no_bidx": _sharing(withdrawal.c.document_no_bidx),
    "payee_card_bidx": _sharing(withdrawal.c.payee_card_bidx),
}


def _strangers_sharing(conn: Connection, column: Any, value: str, ids: Identifiers) -> int:
    family = [ids.member_bidx, *ids.family_bidx]
    return int(conn.scalar(_SHARING[column.name], {"value": value, "family": family}) or 0)


def risk_checks(
    conn: Connection,
    claim: Claim,
    facts: MemberFacts,
    ids: Identifiers,
    policy: WithdrawalPolicy,
    today: date,
) -> list[Finding]:
    """Every risk the claim raises (empty: nothing stops straight-through approval)."""
    risks = list(repeated_withdrawals(claim, facts, policy, today))
    if ids.document_bidx is not None and claim.reason in (Reason.PURCHASE, Reason.BUILD):
        others = _strangers_sharing(conn, withdrawal.c.document_no_bidx, ids.document_bidx, ids)
        if others:
            risks.append(
                Finding.risk(
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
                Finding.risk(
                    "risk.registered_home",
                    "不动产登记信息显示本人名下有住房，租房提取需人工核实",
                    f"{homes} home(s) registered to the member",
                )
            )
    others = _strangers_sharing(conn, withdrawal.c.payee_card_bidx, ids.payee_card_bidx, ids)
    if others:
        risks.append(
            Finding.risk(
                "risk.shared_payee_card",
                f"收款银行卡已被{others}名非家庭成员的职工使用",
                f"{others} other member(s) outside the declared family were paid to this card",
            )
        )
    return risks


# Reasons where what the member has at other centers matters (decision 0031): buying, building or
# renting while a housing provident fund loan is unsettled elsewhere; leaving the city or ending
# work while an account is still open at another center (its money moves by transfer instead).
LOAN_ELSEWHERE_MATTERS = frozenset({Reason.PURCHASE, Reason.BUILD, Reason.RENT})
ACCOUNT_ELSEWHERE_MATTERS = frozenset({Reason.LEAVING, Reason.DISABILITY})


def network_risks(conn: Connection, ctx: Context, member_id: int, reason: Reason) -> tuple[Finding, ...]:
    """Risks from the network, for the reasons where they matter: an unsettled HPF loan or an
    open account at another center, asked of the hub (purpose 02). A center without a hub link,
    or a reason where neither matters, asks nothing; a hub that does not answer is a risk (the
    reviewer checks by hand)."""
    lookup = network.lookup()
    if lookup is None or reason not in LOAN_ELSEWHERE_MATTERS | ACCOUNT_ELSEWHERE_MATTERS:
        return ()
    resident_id = accounts_queries.resident_ids(conn, [member_id]).get(member_id)
    if not resident_id:
        return ()
    try:
        (person,) = network.ask(lookup, conn, ctx, [resident_id], network.WITHDRAWAL_RISK)
    except HpfError as exc:
        if exc.code != "network.unavailable":
            raise
        return (
            Finding.risk(
                "risk.network_unavailable",
                "全国信息协查暂不可用，请人工核实职工在其他城市的账户和贷款",
                exc.detail,
            ),
        )
    risks = []
    if reason in LOAN_ELSEWHERE_MATTERS and person.unsettled_loans:
        where = "、".join(dict.fromkeys(x.center_name for x in person.unsettled_loans))
        risks.append(
            Finding.risk(
                "risk.loan_elsewhere",
                f"经全国信息协查，职工在{where}尚有未结清的住房公积金贷款",
                f"{len(person.unsettled_loans)} unsettled HPF loan(s) at other centers",
            )
        )
    if reason in ACCOUNT_ELSEWHERE_MATTERS and person.open_accounts:
        where = "、".join(dict.fromkeys(a.center_name for a in person.open_accounts))
        risks.append(
            Finding.risk(
                "risk.account_elsewhere",
                f"经全国信息协查，职工在{where}尚有未销户的住房公积金账户，请核实是否应办理转移接续",
                f"{len(person.open_accounts)} open account(s) at other centers",
            )
        )
    return tuple(risks)


def network_questions(conn: Connection, member_id: int, reason: Reason) -> tuple[network.Question, ...]:
    """The question ``network_risks`` will ask, read before the write transaction so that the hub
    is asked outside it (decision 0043); none where it asks nothing."""
    if network.lookup() is None or reason not in LOAN_ELSEWHERE_MATTERS | ACCOUNT_ELSEWHERE_MATTERS:
        return ()
    resident_id = accounts_queries.resident_ids(conn, [member_id]).get(member_id)
    return (network.Question((resident_id,), network.WITHDRAWAL_RISK),) if resident_id else ()


def eligibility(conn: Connection, member_id: int, today: date) -> list[ReasonOverview]:
    """Every reason for the self-service page, under the center's policy in force on ``today``."""
    policy = withdrawal_policy_at(conn, today)
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
    events.record(conn, ctx, "property_registry.received", "property_registry", source, {"records": written})
    return written


# --------------------------------------------------------------------------- the payout


@dataclass(frozen=True)
class WithdrawalForm:
    """What the member submits: the claim's facts, the family declared, the payee."""

    reason: Reason
    payee_name: str
    payee_card: str
    payee_bank: str
    requested_fen: int | None = None
    document_date: date | None = None
    document_no: str | None = None
    cost_fen: int | None = None
    rent_monthly_fen: int | None = None
    installment_fen: int | None = None
    monthly_repayment: bool = False
    labour_ended: bool = False
    emigrated: bool = False
    applicant_is_heir: bool = False
    family_resident_ids: tuple[str, ...] = ()

    def claim(self, family_withdrawn_fen: int = 0) -> Claim:
        return Claim(
            self.reason,
            requested_fen=self.requested_fen,
            document_date=self.document_date,
            document_no=self.document_no,
            cost_fen=self.cost_fen,
            family_withdrawn_fen=family_withdrawn_fen,
            rent_monthly_fen=self.rent_monthly_fen,
            installment_fen=self.installment_fen,
            monthly_repayment=self.monthly_repayment,
            labour_ended=self.labour_ended,
            emigrated=self.emigrated,
            applicant_is_heir=self.applicant_is_heir,
        )

    def evidence(self) -> Evidence:
        """The facts kept with the withdrawal (numbers that identify people are stored apart)."""
        return Evidence(
            requested_fen=self.requested_fen,
            document_date=self.document_date.isoformat() if self.document_date else None,
            cost_fen=self.cost_fen,
            rent_monthly_fen=self.rent_monthly_fen,
            installment_fen=self.installment_fen,
            monthly_repayment=self.monthly_repayment,
            labour_ended=self.labour_ended,
            emigrated=self.emigrated,
            applicant_is_heir=self.applicant_is_heir,
            payee_bank=self.payee_bank,
        )


class Evidence(TypedDict):
    """The claim's facts kept with a withdrawal (JSON), without the numbers that identify people."""

    requested_fen: int | None
    document_date: str | None  # ISO
    cost_fen: int | None
    rent_monthly_fen: int | None
    installment_fen: int | None
    monthly_repayment: bool
    labour_ended: bool
    emigrated: bool
    applicant_is_heir: bool
    payee_bank: str


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A withdrawal recorded on approval, its money reserved by the payment order ``order_id``."""

    id: int
    application_id: int
    member_id: int
    reason: str  # TQYY
    allowed_fen: int
    closes_account: bool
    state: str  # reserved | paid | released …
    applied_on: date
    order_id: int  # set in the transaction that records it
    order: settlement.PaymentOrder | None = None  # the order itself, when it was reserved just now


def _withdrawal_of(row: Mapping[Any, Any]) -> Withdrawal:
    return Withdrawal(
        id=row["id"], application_id=row["application_id"], member_id=row["member_id"], reason=row["reason"],
        allowed_fen=row["allowed_fen"], closes_account=row["closes_account"] == "1", state=row["state"],
        applied_on=row["applied_on"], order_id=int(row["order_id"]),
    )  # fmt: skip


@dataclass(frozen=True)
class Seen:
    """What an assessment read, to be compared in a later transaction (:func:`still_holds`): the
    decision is a pure function of the claim, these facts, the policy and the day."""

    today: date
    profile: MemberProfile
    facts: MemberFacts
    policy: WithdrawalPolicy
    family_withdrawn_fen: int


@dataclass(frozen=True)
class Assessment:
    decision: Decision
    risks: tuple[Finding, ...]
    ids: Identifiers
    seen: Seen | None = None


def assess(
    conn: Connection, ctx: Context, member_id: int, form: WithdrawalForm, *, applied_on: date | None = None
) -> Assessment:
    """Rules and risks of ``form`` for ``member_id`` today (nothing is written).

    The rules are the center's withdrawal policy in force on ``applied_on``, the business date
    of the application (default: today): an application keeps the policy of its day when a
    change takes effect before it is decided (decision 0022). The facts are today's.
    """
    today = ctx.clock.today()
    profile = accounts_queries.member_profile(conn, member_id)
    if profile is None:
        raise NotFound("member.not_found", "个人账户不存在", f"no member {member_id}")
    ids = Identifiers.of(
        profile.resident_id_bidx, form.family_resident_ids, form.document_no, form.payee_card
    )
    policy = withdrawal_policy_at(conn, applied_on or today)
    facts = member_facts(conn, member_id, today, form.reason, profile)
    family_fen = family_withdrawn_fen(conn, ids)
    claim = form.claim(family_fen)
    decision = evaluate(claim, facts, policy, today)
    risks = tuple(risk_checks(conn, claim, facts, ids, policy, today))
    return Assessment(decision, risks, ids, Seen(today, profile, facts, policy, family_fen))


def still_holds(
    conn: Connection,
    ctx: Context,
    member_id: int,
    form: WithdrawalForm,
    assessed: Assessment,
    *,
    applied_on: date,
) -> bool:
    """Whether ``assessed`` — made before this transaction (a request's read phase, decision
    0046) — still decides ``form`` exactly as :func:`assess` would now: the same business day, the
    member's profile (state, sex, birth date, identity), balances, deposited months, seal and past
    withdrawals, the policy of ``applied_on``, what the family withdrew against the document and
    every risk, read again in the caller's transaction. False: assess again. A closing
    withdrawal is never taken from before (its interest to date is credited at approval)."""
    seen = assessed.seen
    today = ctx.clock.today()
    if seen is None or form.reason in CLOSING or today != seen.today:
        return False
    profile = accounts_queries.member_profile(conn, member_id)
    if profile != seen.profile or profile is None:
        return False
    facts = member_facts(conn, member_id, today, form.reason, profile)
    if facts != seen.facts or withdrawal_policy_at(conn, applied_on) != seen.policy:
        return False
    family_fen = family_withdrawn_fen(conn, assessed.ids)
    if family_fen != seen.family_withdrawn_fen:
        return False
    claim = form.claim(family_fen)
    return tuple(risk_checks(conn, claim, facts, assessed.ids, seen.policy, today)) == assessed.risks


def _sources(conn: Connection, member_id: int, amount_fen: int) -> tuple[Source, ...]:
    """Carried-over money first (the older deposits), then this year's."""
    carried, current = member_balances(conn, [member_id]).get(member_id, (0, 0))
    from_carried = min(carried, amount_fen)
    parts = [(BalancePart.CARRIED, from_carried), (BalancePart.CURRENT, amount_fen - from_carried)]
    if amount_fen - from_carried > current:
        raise Conflict(
            "withdrawal.balance_changed",
            "账户余额已变化，请重新申请",
            f"the balance no longer covers {amount_fen} fen",
        )
    return tuple(Source(MEMBER_CONTROL, fen, member_id, part) for part, fen in parts if fen)


# Built once: the statements of every approval's reservation.
_BY_APPLICATION = select(withdrawal).where(withdrawal.c.application_id == bindparam("application_id"))
_INSERT = insert(withdrawal).returning(withdrawal.c.id)
_SET_ORDER = (
    update(withdrawal).where(withdrawal.c.id == bindparam("b_id")).values(order_id=bindparam("v_order_id"))
)


def reserve(
    conn: Connection,
    ctx: Context,
    application_id: int,
    member_id: int,
    form: WithdrawalForm,
    *,
    assessed: Assessment | None = None,
    applied_on: date | None = None,
) -> Withdrawal:
    """On approval: decide again, record the withdrawal and reserve its money through settlement.

    Idempotent per application. A closing withdrawal first credits interest to date, then
    reserves the whole balance. The decision is taken again here, in the approving transaction,
    so a balance spent meanwhile by another withdrawal cannot be paid twice (the ledger's
    overdraft CHECK would refuse it anyway). ``assessed``: the assessment made earlier in this
    same transaction (straight-through approval evaluates, then approves), taken as it is —
    except for a closing withdrawal, whose interest credit below changes the balance.
    ``applied_on``: the application's business date, whose policy the decision applies.
    """
    known = conn.execute(_BY_APPLICATION, {"application_id": application_id}).mappings().first()
    if known is not None:
        return _withdrawal_of(known)
    today = ctx.clock.today()
    if form.reason in CLOSING:
        settle_on_close_with_policy(conn, ctx, member_id, today)
        assessed = None
    assessment = (
        assessed
        if isinstance(assessed, Assessment)
        else assess(conn, ctx, member_id, form, applied_on=applied_on)
    )
    decision = assessment.decision
    if not decision.eligible:
        first = decision.refusals[0]
        raise Conflict(first.code, first.message_zh, first.message_en)
    amount = decision.allowed_fen
    if decision.closes_account:
        amount = sum(member_balances(conn, [member_id]).get(member_id, (0, 0)))
    values = {
        "application_id": application_id,
        "member_id": member_id,
        "reason": form.reason.value,
        "requested_fen": form.requested_fen,
        "allowed_fen": amount,
        "closes_account": "1" if decision.closes_account else "0",
        "document_no": form.document_no.strip().upper() if form.document_no else None,
        "payee_name": form.payee_name,
        "payee_card": form.payee_card,
        "family_bidx": list(assessment.ids.family_bidx),
        "evidence": form.evidence(),
        "state": "reserved",
        "applied_on": today,
        "recorded_at": ctx.clock.now(),
    }
    stored = to_stored("withdrawal", values)
    stored["document_no_bidx"] = assessment.ids.document_bidx
    stored["payee_card_bidx"] = assessment.ids.payee_card_bidx
    withdrawal_id = conn.execute(_INSERT, stored).scalar_one()
    closing = decision.closes_account
    order = settlement.reserve(
        conn,
        ctx,
        PayoutRequest(
            owner_kind="withdrawal",
            owner_id=str(withdrawal_id),
            amount_fen=amount,
            sources=_sources(conn, member_id, amount),
            payee=Payee(form.payee_name, form.payee_card, form.payee_bank),
            business_type="12" if closing else "11",
            fund_business_type="03" if closing else "02",
            idempotency_key=f"withdrawal:{application_id}",
            summary=f"{form.reason.label_zh}提取"[:60],
        ),
    )
    conn.execute(_SET_ORDER, {"b_id": withdrawal_id, "v_order_id": order.id})
    events.record(conn, ctx, "withdrawal.reserved", "withdrawal", withdrawal_id, {
        "application_id": application_id, "member_id": member_id, "reason": form.reason.value,
        "amount_fen": amount, "closes_account": closing, "order_id": order.id, "order_no": order.order_no,
    })  # fmt: skip
    return Withdrawal(
        id=withdrawal_id, application_id=application_id, member_id=member_id, reason=form.reason.value,
        allowed_fen=amount, closes_account=closing, state="reserved", applied_on=today,
        order_id=order.id, order=order,
    )  # fmt: skip


def payout_settled(conn: Connection, ctx: Context, outcome: PayoutOutcome) -> None:
    """How a withdrawal's payout ended (the listener of its order's final event: ``hpf.settlement.owners``);
    idempotent."""
    row = conn.execute(select(withdrawal).where(withdrawal.c.id == int(outcome.owner_id))).mappings().first()
    if row is None or row["state"] not in ("reserved",):
        return
    if outcome.state == "paid":
        conn.execute(
            update(withdrawal)
            .where(withdrawal.c.id == row["id"])
            .values(state="paid", paid_on=outcome.settled_on)
        )
        # Money credited after the reservation (a list allocated meanwhile) stays in the
        # account, which stays open for it: the bank has paid, so nothing here may refuse.
        member_id = row["member_id"]
        if (
            row["closes_account"] == "1"
            and sum(member_balances(conn, [member_id]).get(member_id, (0, 0))) == 0
        ):
            account_no = accounts.account_numbers_of(conn, [member_id])[member_id]
            accounts.close_member(conn, ctx, account_no, CloseKind.WITHDRAWN, "销户提取")
    else:
        conn.execute(update(withdrawal).where(withdrawal.c.id == row["id"]).values(state="released"))
    # Who else learns how it ended listens to this event (its application: hpf.bootstrap.listeners).
    events.record(conn, ctx, "withdrawal.paid" if outcome.state == "paid" else "withdrawal.released",
                  "withdrawal", row["id"], {"application_id": row["application_id"], "member_id": row["member_id"],
                                            "amount_fen": row["allowed_fen"], **outcome.payload()})  # fmt: skip


def send_reserved(engine: Engine, ctx: Context, bank: BankAdapter, *, limit: int = 500) -> dict[str, int]:
    """The payment run of withdrawals only (``hpf withdrawals pay``): every withdrawal payout still
    ``reserved`` to the bank (BDC101); see :func:`hpf.settlement.service.send_reserved`."""
    return settlement.send_reserved(engine, ctx, bank, owner_kind="withdrawal", limit=limit)
