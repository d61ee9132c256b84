"""The default scorecard inside the loan process: an application is scored with the active card
(its band on the sheet, a high-risk flag for the reviewer), the review queue shows the riskiest
of a day first, and the granted loan's features are recorded for the next training."""

from __future__ import annotations

import pytest
from loanapp_support import CERTIFICATE, build_center, payload, submit
from sqlalchemy import select

from hpf.db.engine import read_transaction, write_transaction
from hpf.loans.scorecard import model as scorecard
from hpf.loans.scorecard.features import FEATURES
from hpf.loans.scorecard.tables import loan_features
from hpf.services import service as applications


def card(ltv_weight: float, intercept: float = -1.5) -> scorecard.CardParameters:
    """A hand-made card: only the loan-to-value ratio counts (centred at 0.5, spread 0.1)."""
    return scorecard.CardParameters(
        id=1, features=list(FEATURES), intercept=intercept,
        coefficients=[ltv_weight if f == "ltv" else 0.0 for f in FEATURES],
        mean=[0.5 if f == "ltv" else 0.0 for f in FEATURES], std=[0.1 if f == "ltv" else 1.0 for f in FEATURES],
        band_cuts=[0.05, 0.1, 0.2, 0.4], high_risk_threshold=0.4,
    )  # fmt: skip


def test_without_a_card_there_is_no_score_and_the_queue_is_by_due_date(engine):
    center = build_center(engine)
    done = submit(center, payload(requested_fen=10_000_000), "a", "k1")
    assert done.evaluation["priority"] is None
    assert not any(line["label_zh"] == "违约风险评分" for line in done.evaluation["sheet"])
    assert [f["code"] for f in done.evaluation["risk_flags"]] == ["review.loan"]


def test_the_score_flags_a_risky_loan_and_orders_the_queue(engine, monkeypatch: pytest.MonkeyPatch):
    center = build_center(engine)
    monkeypatch.setattr(scorecard, "active_card", lambda conn: card(ltv_weight=1.5))
    small = submit(center, payload(requested_fen=10_000_000), "a", "small")  # ltv 0.10
    large = submit(
        center, payload(requested_fen=60_000_000, certificate_no=CERTIFICATE + "2"), "rich", "large"
    )  # ltv 0.60 (rich: the balance multiple allows it)
    assert large.amount_fen == 60_000_000, large.evaluation["sheet"]
    p_small, p_large = small.evaluation["priority"], large.evaluation["priority"]
    assert 0 < p_small < p_large < 1
    expected = scorecard.score(card(1.5), {**dict.fromkeys(FEATURES, 0.0), "ltv": 0.6}).probability
    assert p_large == pytest.approx(expected)
    flags = {f["code"] for f in large.evaluation["risk_flags"]}
    assert "risk.loan_default_high" in flags and "risk.loan_default_high" not in {
        f["code"] for f in small.evaluation["risk_flags"]
    }
    sheet = {line["label_zh"]: line["value"] for line in large.evaluation["sheet"]}
    assert sheet["违约风险评分"].startswith("E级")
    with read_transaction(engine) as conn:
        queue = [r.id for r in applications.review_queue(conn, center.clock.today())]
    assert queue.index(large.id) < queue.index(small.id)  # same due date: the riskier first
    with write_transaction(engine) as conn:
        approved = applications.approve(conn, center.ctx, center.people["reviewer01"], large.id, "核准")
    loan_id = approved.outputs["loan_id"]
    with read_transaction(engine) as conn:
        stored = conn.scalar(select(loan_features.c.features).where(loan_features.c.loan_id == loan_id))
    assert stored == approved.outputs["features"] and stored["ltv"] == pytest.approx(0.6)
