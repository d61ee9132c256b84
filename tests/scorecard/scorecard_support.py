"""A synthetic loan book whose defaults depend on the features, for scorecard tests.

Loans are inserted straight into ``loan`` (a test shortcut: hundreds of loans through
``create_loan`` and the ledger would only slow the tests) with their features recorded. A bad
loan is marked through the same columns and rows the loan jobs write (``hpf.loans.book.jobs``), in
turns: still 120 days past due and classified 03; cured, with only a ``classified`` event to 03
in its history; cured, with only a 90-day dunning notice; written off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import select

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.kernel.context import Context
from hpf.loans.book.tables import dunning_notice, loan, loan_event
from hpf.loans.scorecard import model as scorecard
from hpf.loans.scorecard.features import FEATURES

DISBURSED = date(2025, 6, 20)
AS_OF = date(2026, 9, 30)  # 15 months after DISBURSED


@dataclass
class Book:
    loan_ids: list[int]
    bad: list[int]  # 1 = bad, per loan_ids
    features: list[dict[str, float]]
    young_ids: list[int]  # disbursed less than 6 months before AS_OF: never in a training set


def random_features(rng: np.random.Generator) -> dict[str, float]:
    return {
        "age_years": float(rng.integers(22, 56)),
        "term_months": float(rng.choice([120, 180, 240, 300, 360])),
        "ltv": float(rng.uniform(0.3, 0.8)),
        "payment_to_base": float(rng.uniform(0.1, 0.5)),
        "balance_to_principal": float(rng.uniform(0.01, 0.3)),
        "continuous_deposit_months": float(rng.integers(6, 240)),
        "monthly_base_yuan": float(rng.integers(3000, 30000)),
        "co_borrowers": float(rng.integers(0, 2)),
        "second_home": float(rng.random() < 0.2),
        "equal_principal": float(rng.random() < 0.3),
    }


def true_log_odds(f: dict[str, float]) -> float:
    """The synthetic truth: dearer payments and higher LTV default more, balances less."""
    return (
        -1.2
        + 2.5 * (f["payment_to_base"] - 0.3) / 0.115
        + 1.2 * (f["ltv"] - 0.55) / 0.144
        - 0.8 * (f["balance_to_principal"] - 0.155) / 0.084
    )


def open_borrowers(conn, ctx: Context, count: int = 3, seq: int = 7) -> list[int]:
    emp = accounts.register_employer(conn, ctx, employer_payload(seq))
    return [
        accounts.open_member(conn, ctx, emp.account_no, member_payload(seq * 100 + i)).id
        for i in range(count)
    ]


def _loan_row(n: int, borrower: int, f: dict[str, float], disbursed: date, ctx: Context) -> dict:
    principal = 30_000_000 + 1_000 * n
    return {
        "contract_no": f"SC{n:08d}", "application_id": 900_000 + n, "borrower_id": borrower,
        "co_borrower_ids": [], "house_nature": "01", "second_home": bool(f["second_home"]),
        "house_price_fen": math.ceil(principal / f["ltv"]), "floor_area": Decimal("90.00"),
        "guarantee_type": "01", "principal_fen": principal, "annual_rate": Decimal("0.031"),
        "rate_e7": 310_000, "term_months": int(f["term_months"]),
        "method": "02" if f["equal_principal"] else "01", "contract_date": disbursed,
        "first_due_date": disbursed + timedelta(days=40), "repayment_source": "hpf_account",
        "state": "active", "disbursed_on": disbursed, "outstanding_principal_fen": principal,
        "overdue_principal_fen": 0, "overdue_interest_fen": 0, "days_past_due": 0,
        "classification": "01", "penalty_base": 0, "penalty_fen": 0, "penalty_accrued_fen": 0,
        "created_at": ctx.clock.now(), "version": 1,
    }  # fmt: skip


def insert_loans(conn, ctx: Context, rows: list[tuple[int, dict[str, float], date]], first: int) -> list[int]:
    """Loans (borrower, features, disbursed on) numbered from ``first``; their ids in order."""
    conn.execute(loan.insert(), [_loan_row(first + k, b, f, d, ctx) for k, (b, f, d) in enumerate(rows)])
    numbers = [f"SC{first + k:08d}" for k in range(len(rows))]
    by_no = dict(
        conn.execute(select(loan.c.contract_no, loan.c.id).where(loan.c.contract_no.in_(numbers))).all()
    )
    return [by_no[no] for no in numbers]


def mark_bad(conn, ctx: Context, loan_id: int, how: int) -> None:
    """Make ``loan_id`` bad the way the loan jobs would have recorded it (``how`` in 0..3)."""
    day = DISBURSED + timedelta(days=200)
    if how == 0:  # still 120 days past due, classified 次级
        conn.execute(
            loan.update()
            .where(loan.c.id == loan_id)
            .values(days_past_due=120, classification="03", overdue_since=AS_OF - timedelta(days=120))
        )
    elif how == 1:  # cured; the class history keeps it
        for frm, to, on in (
            ("01", "02", day),
            ("02", "03", day + timedelta(days=90)),
            ("03", "01", day + timedelta(days=120)),
        ):
            conn.execute(loan_event.insert().values(
                loan_id=loan_id, kind="classified", business_date=on, recorded_at=ctx.clock.now(),
                actor="loan-daily", detail={"from": frm, "to": to}))  # fmt: skip
    elif how == 2:  # cured; the 90-day dunning notice keeps it
        conn.execute(dunning_notice.insert().values(
            loan_id=loan_id, overdue_since=day, stage=90, issued_on=day + timedelta(days=92),
            days_past_due=92, amount_fen=1_000_000, channel="letter"))  # fmt: skip
    else:
        conn.execute(loan.update().where(loan.c.id == loan_id).values(state="written_off"))


def build_book(conn, ctx: Context, n: int = 300, *, seed: int = 11, young: int = 20) -> Book:
    """``n`` seasoned loans with features and outcomes drawn from :func:`true_log_odds`, plus
    ``young`` recent loans (all bad-looking, to prove they are left out)."""
    rng = np.random.default_rng(seed)
    borrowers = open_borrowers(conn, ctx)
    features = [random_features(rng) for _ in range(n)]
    bad = [int(rng.random() < 1 / (1 + math.exp(-true_log_odds(f)))) for f in features]
    ids = insert_loans(conn, ctx, [(borrowers[k % 3], f, DISBURSED) for k, f in enumerate(features)], 1)
    kinds = 0
    for loan_id, is_bad in zip(ids, bad, strict=True):
        if is_bad:
            mark_bad(conn, ctx, loan_id, kinds % 4)
            kinds += 1
    recent = AS_OF - timedelta(days=60)
    young_features = [random_features(rng) for _ in range(young)]
    young_ids = insert_loans(conn, ctx, [(borrowers[0], f, recent) for f in young_features], n + 1)
    for loan_id in young_ids:
        mark_bad(conn, ctx, loan_id, 0)
    scorecard.record_features_many(conn, dict(zip(ids + young_ids, features + young_features, strict=True)))
    return Book(ids, bad, features, young_ids)


def neutral_card(
    coefficients: dict[str, float] | None = None, intercept: float = -1.0
) -> scorecard.CardParameters:
    """A hand-made card (no training): every feature centred at 0 with unit spread."""
    coefficients = coefficients or {}
    return scorecard.CardParameters(
        id=None, features=list(FEATURES), intercept=intercept,
        coefficients=[coefficients.get(f, 0.0) for f in FEATURES],
        mean=[0.0] * len(FEATURES), std=[1.0] * len(FEATURES),
        band_cuts=[0.1, 0.2, 0.3, 0.4], high_risk_threshold=0.4,
    )  # fmt: skip
