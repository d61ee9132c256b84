"""What the loan book's use cases return to the API, the pages, the CLI and the simulator.

Frozen dataclasses built from rows field by field (``*_of``), so that what a page or an API relies
on is written down. Money is integer fen, rates ``Decimal``. A loan event's ``detail`` is the JSON
document the use case recorded (its shape depends on the kind), kept as a read-only mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import RowMapping

from hpf.kernel.records import fields_of

Row = Mapping[str, Any] | RowMapping
"""A row as read (``.mappings()``) or a mapping built from one."""


def _ids(value: Sequence[Any] | None) -> tuple[int, ...]:
    return tuple(int(i) for i in value or ())


@dataclass(frozen=True, slots=True)
class Parties:
    """Who a loan belongs to: the borrower and the co-borrowers (member ids)."""

    borrower_id: int
    co_borrower_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Loan:
    """A loan contract as a record: the certificate number and debit card in plaintext."""

    id: int
    contract_no: str
    application_id: int
    borrower_id: int
    co_borrower_ids: tuple[int, ...]
    house_nature: str
    second_home: bool
    house_price_fen: int
    floor_area: Decimal
    certificate_no: str | None
    debit_card: str | None
    appraisal_fen: int | None
    guarantee_type: str
    principal_fen: int
    annual_rate: Decimal
    rate_e7: int
    term_months: int
    method: str
    contract_date: date
    first_due_date: date
    repayment_source: str
    state: str
    disbursed_on: date | None
    disbursement_entry_id: int | None
    outstanding_principal_fen: int
    overdue_principal_fen: int
    overdue_interest_fen: int
    overdue_since: date | None
    days_past_due: int
    classification: str
    penalty_base: int
    penalty_fen: int
    penalty_accrued_fen: int
    penalty_through: date | None
    collateral_flag: str | None
    collateral_flagged_on: date | None
    settled_on: date | None
    created_at: datetime
    version: int


def loan_of(r: Row, certificate_no: str | None, debit_card: str | None) -> Loan:
    """A loan from its row, the protected fields already revealed."""
    return Loan(
        id=r["id"], contract_no=r["contract_no"], application_id=r["application_id"], borrower_id=r["borrower_id"],
        co_borrower_ids=_ids(r["co_borrower_ids"]), house_nature=r["house_nature"], second_home=r["second_home"],
        house_price_fen=r["house_price_fen"], floor_area=r["floor_area"], certificate_no=certificate_no,
        debit_card=debit_card, appraisal_fen=r["appraisal_fen"], guarantee_type=r["guarantee_type"],
        principal_fen=r["principal_fen"], annual_rate=r["annual_rate"], rate_e7=r["rate_e7"],
        term_months=r["term_months"], method=r["method"], contract_date=r["contract_date"],
        first_due_date=r["first_due_date"], repayment_source=r["repayment_source"], state=r["state"],
        disbursed_on=r["disbursed_on"], disbursement_entry_id=r["disbursement_entry_id"],
        outstanding_principal_fen=r["outstanding_principal_fen"], overdue_principal_fen=r["overdue_principal_fen"],
        overdue_interest_fen=r["overdue_interest_fen"], overdue_since=r["overdue_since"],
        days_past_due=r["days_past_due"], classification=r["classification"], penalty_base=r["penalty_base"],
        penalty_fen=r["penalty_fen"], penalty_accrued_fen=r["penalty_accrued_fen"],
        penalty_through=r["penalty_through"], collateral_flag=r["collateral_flag"],
        collateral_flagged_on=r["collateral_flagged_on"], settled_on=r["settled_on"], created_at=r["created_at"],
        version=r["version"],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    """One period of a loan's repayment schedule as stored, with what was paid on it."""

    due_date: date
    loan_id: int
    period: int
    rate_e7: int  # the period's annual rate × 10⁷
    principal_fen: int
    interest_fen: int
    remaining_fen: int
    prepaid_fen: int
    paid_principal_fen: int
    paid_interest_fen: int
    paid_on: date | None
    state: str  # due | overdue | paid


def installment_of(r: Row) -> ScheduledInstallment:
    return ScheduledInstallment(
        due_date=r["due_date"], loan_id=r["loan_id"], period=r["period"], rate_e7=r["rate_e7"],
        principal_fen=r["principal_fen"], interest_fen=r["interest_fen"], remaining_fen=r["remaining_fen"],
        prepaid_fen=r["prepaid_fen"], paid_principal_fen=r["paid_principal_fen"],
        paid_interest_fen=r["paid_interest_fen"], paid_on=r["paid_on"], state=r["state"],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class LoanEvent:
    """A row of a loan's history; ``detail`` is what the use case recorded (JSON, by kind);
    ``actor`` is ``None`` where a member's view hides it."""

    id: int
    loan_id: int
    kind: str
    business_date: date
    recorded_at: datetime
    actor: str | None
    entry_id: int | None
    amount_fen: int | None
    detail: Mapping[str, Any]
    idempotency_key: str | None


def event_of(r: Row) -> LoanEvent:
    return LoanEvent(
        id=r["id"], loan_id=r["loan_id"], kind=r["kind"], business_date=r["business_date"],
        recorded_at=r["recorded_at"], actor=r["actor"], entry_id=r["entry_id"], amount_fen=r["amount_fen"],
        detail=r["detail"] or {}, idempotency_key=r["idempotency_key"],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Repayment:
    """A repayment in the recovery order (``service.repay``); ``replayed``: the key was used
    before and this is the first answer (nothing moved now)."""

    loan_id: int
    entry_id: int
    amount_fen: int
    penalty_fen: int
    overdue_interest_fen: int
    overdue_principal_fen: int
    current_interest_fen: int
    current_principal_fen: int
    settled: bool
    replayed: bool = False


def repayment_of(d: Mapping[str, Any], *, replayed: bool = False) -> Repayment:
    """From the ``repaid`` event's detail (what :func:`service.repay` recorded)."""
    return Repayment(
        loan_id=d["loan_id"], entry_id=d["entry_id"], amount_fen=d["amount_fen"], penalty_fen=d["penalty_fen"],
        overdue_interest_fen=d["overdue_interest_fen"], overdue_principal_fen=d["overdue_principal_fen"],
        current_interest_fen=d["current_interest_fen"], current_principal_fen=d["current_principal_fen"],
        settled=bool(d["settled"]), replayed=replayed,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Prepayment:
    """A partial prepayment (``choice`` shorten-term or reduce-installment: the months left and
    the next installment) or a payoff (``choice`` payoff: the interest ``days``, ``settled``)."""

    loan_id: int
    entry_id: int
    amount_fen: int
    principal_fen: int
    interest_fen: int
    choice: str
    months_left: int
    source: str | None
    reference: str | None
    next_installment_fen: int | None = None
    days: int | None = None
    settled: bool = False
    replayed: bool = False


def prepayment_of(d: Mapping[str, Any], *, replayed: bool = False) -> Prepayment:
    """From the ``prepaid`` or ``paid_off`` event's detail (what was recorded)."""
    return Prepayment(
        loan_id=d["loan_id"], entry_id=d["entry_id"], amount_fen=d["amount_fen"], principal_fen=d["principal_fen"],
        interest_fen=d["interest_fen"], choice=d.get("choice", "payoff"), months_left=d.get("months_left", 0),
        source=d.get("source"), reference=d.get("reference"), next_installment_fen=d.get("next_installment_fen"),
        days=d.get("days"), settled=bool(d.get("settled", False)), replayed=replayed,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CollateralFlag:
    """A loan in the collateral risk queue: what the registry reported, not yet reviewed."""

    id: int
    contract_no: str
    borrower_id: int
    collateral_flag: str
    collateral_flagged_on: date
    outstanding_principal_fen: int
    classification: str


@dataclass(frozen=True, slots=True)
class NextDue:
    """A loan's next installment still due: period, date and what is left to pay on it (all
    ``None`` when there is none)."""

    period: int | None = None
    due_date: date | None = None
    amount_fen: int | None = None


NO_NEXT_DUE = NextDue()


@dataclass(frozen=True, slots=True)
class LoanOverview:
    """A loan as the lists show it (我的贷款, the loan book, a loan's head): the figures, the
    member's ``role`` (borrower or co_borrower, when asked for a member), the next installment
    due, and in the book the borrower's name and account number."""

    id: int
    contract_no: str
    borrower_id: int
    co_borrower_ids: tuple[int, ...]
    state: str
    principal_fen: int
    outstanding_principal_fen: int
    overdue_principal_fen: int
    overdue_interest_fen: int
    penalty_accrued_fen: int
    days_past_due: int
    classification: str
    annual_rate: Decimal
    term_months: int
    method: str
    contract_date: date
    disbursed_on: date | None
    settled_on: date | None
    collateral_flag: str | None
    role: str | None = None
    next_due: NextDue = NO_NEXT_DUE
    borrower_name: str | None = None
    borrower_account_no: str | None = None


def overview_of(r: Row | Loan, *, role: str | None, next_due: NextDue) -> LoanOverview:
    """From a summary row (or a :class:`Loan`), with the role and the next installment due."""
    g = fields_of(r) if isinstance(r, Loan) else cast("Mapping[str, Any]", r)
    return LoanOverview(
        id=g["id"], contract_no=g["contract_no"], borrower_id=g["borrower_id"],
        co_borrower_ids=_ids(g["co_borrower_ids"]), state=g["state"], principal_fen=g["principal_fen"],
        outstanding_principal_fen=g["outstanding_principal_fen"], overdue_principal_fen=g["overdue_principal_fen"],
        overdue_interest_fen=g["overdue_interest_fen"], penalty_accrued_fen=g["penalty_accrued_fen"],
        days_past_due=g["days_past_due"], classification=g["classification"], annual_rate=g["annual_rate"],
        term_months=g["term_months"], method=g["method"], contract_date=g["contract_date"],
        disbursed_on=g["disbursed_on"], settled_on=g["settled_on"], collateral_flag=g["collateral_flag"],
        role=role, next_due=next_due, borrower_name=g.get("borrower_name"),
        borrower_account_no=g.get("borrower_account_no"),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class DunningNotice:
    """A 催收通知: one per loan, overdue spell and stage reached."""

    id: int
    loan_id: int
    overdue_since: date
    stage: int
    issued_on: date
    days_past_due: int
    amount_fen: int
    channel: str


@dataclass(frozen=True, slots=True)
class CollateralEvent:
    """What the real-estate registry reported about a loan's mortgaged home."""

    id: int
    loan_id: int
    kind: str
    reported_on: date
    source: str
    external_id: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class NamedMember:
    """A borrower or co-borrower for a link: id, name and account number."""

    id: int
    name: str
    account_no: str
