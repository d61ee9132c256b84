"""Training the default scorecard on a loan book (SQLite and PostgreSQL): the default definition
read back from the jobs' records, the held-out AUC, cards kept, refusals, recording features."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from scorecard_support import (
    AS_OF,
    DISBURSED,
    build_book,
    insert_loans,
    mark_bad,
    open_borrowers,
    random_features,
)
from sqlalchemy import func, select, update

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.loans.book import jobs
from hpf.loans.book.tables import loan
from hpf.loans.scorecard import model as scorecard
from hpf.loans.scorecard.features import FEATURES
from hpf.loans.scorecard.tables import loan_features
from hpf.loans.scorecard.tables import scorecard as scorecard_table
from loanbook.loanbook_support import new_loan, open_members


def random_features_seeded(seed: int) -> dict[str, float]:
    return random_features(np.random.default_rng(seed))


@pytest.fixture
def book(engine, ctx, clock):
    clock.set(AS_OF)
    with write_transaction(engine) as conn:
        return build_book(conn, ctx)


def test_the_training_set_reads_every_kind_of_bad_and_leaves_young_loans_out(engine, book):
    with read_transaction(engine) as conn:
        data = scorecard.training_set(conn, AS_OF)
    assert list(data.loan_ids) == book.loan_ids  # the 20 young (bad-looking) loans are not there
    assert data.y.tolist() == book.bad  # current state, class history, dunning, write-off alike
    assert data.x.shape == (len(book.loan_ids), len(FEATURES))
    assert data.x[0].tolist() == [book.features[0][f] for f in FEATURES]
    assert 0.1 < data.bads / len(data.y) < 0.6


def test_a_book_where_default_follows_the_features_trains_a_card_that_ranks_held_out_loans(engine, ctx, book):
    with write_transaction(engine) as conn:
        card = scorecard.train(conn, ctx)
    assert card.auc > 0.7  # on the held-out 30 %
    assert card.train_count + card.test_count == len(book.loan_ids)
    assert card.test_count == math.ceil(0.3 * len(book.loan_ids))
    assert card.train_bads + card.test_bads == sum(book.bad)
    assert card.bad_rate == (Decimal(sum(book.bad)) / len(book.bad)).quantize(Decimal("0.0001"))
    assert card.trained_on == AS_OF and card.features == list(FEATURES)
    coef = dict(zip(card.features, card.coefficients, strict=True))
    assert coef["payment_to_base"] > 0.5 and coef["ltv"] > 0 and coef["balance_to_principal"] < 0
    assert card.band_cuts == sorted(card.band_cuts)
    assert card.band_cuts[-1] < card.high_risk_threshold < 1
    with read_transaction(engine) as conn:
        assert scorecard.active_card(conn) == card  # what train returned is what is stored


def test_training_is_reproducible_and_a_new_card_replaces_the_old_one(engine, ctx, book):
    with write_transaction(engine) as conn:
        first = scorecard.train(conn, ctx, seed=7)
    with write_transaction(engine) as conn:
        again = scorecard.train(conn, ctx, seed=7)
        other = scorecard.train(conn, ctx, seed=8)
    same = ("coefficients", "intercept", "auc", "mean", "std", "band_cuts", "high_risk_threshold")
    assert all(getattr(first, k) == getattr(again, k) for k in same)
    assert other.coefficients != first.coefficients
    with read_transaction(engine) as conn:
        kept = scorecard.cards(conn)
        assert [c.id for c in kept] == [other.id, again.id, first.id]
        assert [c.active for c in kept] == [True, False, False]
        assert scorecard.active_card(conn).id == other.id


def test_assess_scores_with_the_active_card_and_none_before_any(engine, ctx, book):
    features = book.features[0]
    with read_transaction(engine) as conn:
        assert scorecard.assess(conn, features) is None
    with write_transaction(engine) as conn:
        card = scorecard.train(conn, ctx)
    with read_transaction(engine) as conn:
        got = scorecard.assess(conn, features)
    assert got == scorecard.score(card, features) and got.card_id == card.id
    risky = {**features, "payment_to_base": 0.5, "ltv": 0.8, "balance_to_principal": 0.01}
    safe = {**features, "payment_to_base": 0.1, "ltv": 0.3, "balance_to_principal": 0.3}
    assert scorecard.score(card, risky).high_risk and scorecard.score(card, risky).band == "E"
    assert not scorecard.score(card, safe).high_risk and scorecard.score(card, safe).band == "A"


def test_a_loan_the_daily_job_classified_substandard_stays_bad_after_it_is_cured(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        borrower, other = open_members(conn, ctx, 2)
        sick, healthy = new_loan(conn, ctx, borrower, 1), new_loan(conn, ctx, other, 2)
        scorecard.record_features_many(
            conn, {sick: random_features_seeded(1), healthy: random_features_seeded(2)}
        )
    day = date(2025, 10, 31)
    with write_transaction(engine) as conn:  # as in the classification tests: overdue 100 days
        conn.execute(update(loan).where(loan.c.id == sick)
                     .values(overdue_since=day - timedelta(days=100), penalty_through=day))  # fmt: skip
    clock.set(day)
    jobs.run_loan_daily(engine, ctx, day)
    with write_transaction(engine) as conn:
        assert conn.scalar(select(loan.c.classification).where(loan.c.id == sick)) == "03"
        conn.execute(update(loan).where(loan.c.id == sick).values(overdue_since=None))  # repaid
    cured = day + timedelta(days=1)
    clock.set(cured)
    jobs.run_loan_daily(engine, ctx, cured)
    with read_transaction(engine) as conn:
        assert conn.execute(select(loan.c.days_past_due, loan.c.classification)
                            .where(loan.c.id == sick)).one() == (0, "01")  # fmt: skip
        data = scorecard.training_set(conn, cured)
        assert dict(zip(data.loan_ids, data.y.tolist(), strict=True)) == {sick: 1, healthy: 0}
        # before 6 months on book neither counts; before the class change the loan was not bad
        assert scorecard.training_set(conn, date(2025, 9, 19)).loan_ids == ()
        assert scorecard.training_set(conn, date(2025, 10, 30)).y.tolist() == [0, 0]


def _refusal(engine, ctx) -> Conflict:
    with pytest.raises(scorecard.ScorecardRefused) as refused, write_transaction(engine) as conn:
        scorecard.train(conn, ctx)
    with read_transaction(engine) as conn:
        assert conn.scalar(select(func.count()).select_from(scorecard_table)) == 0
    return refused.value


def _seasoned_book(engine, ctx, n: int, bads: int) -> None:
    rng = np.random.default_rng(3)
    with write_transaction(engine) as conn:
        borrower = open_borrowers(conn, ctx, 1)[0]
        features = [random_features(rng) for _ in range(n)]
        ids = insert_loans(conn, ctx, [(borrower, f, DISBURSED) for f in features], 1)
        for loan_id in ids[:bads]:
            mark_bad(conn, ctx, loan_id, 0)
        scorecard.record_features_many(conn, dict(zip(ids, features, strict=True)))


def test_too_few_loans_is_refused_clearly_and_nothing_is_stored(engine, ctx, clock):
    clock.set(AS_OF)
    _seasoned_book(engine, ctx, 30, 10)
    refused = _refusal(engine, ctx)
    assert refused.code == "scorecard.too_few_loans" and refused.status == 409
    assert "太少" in refused.title and "30 loans" in refused.detail


def test_a_book_without_defaults_is_refused(engine, ctx, clock):
    clock.set(AS_OF)
    _seasoned_book(engine, ctx, 60, 0)
    assert _refusal(engine, ctx).code == "scorecard.no_defaults"


def test_a_book_with_a_handful_of_defaults_is_refused(engine, ctx, clock):
    clock.set(AS_OF)
    _seasoned_book(engine, ctx, 60, 4)
    refused = _refusal(engine, ctx)
    assert refused.code == "scorecard.too_few_defaults" and refused.extra["bads"] == 4


def test_record_features_checks_the_keys_and_is_idempotent(engine, ctx, clock):
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        loan_id = new_loan(conn, ctx, open_members(conn, ctx, 1)[0], 1)
    good = random_features_seeded(5)
    bad_inputs = [
        ({**good, "gender": 1.0}, "scorecard.features_mismatch"),
        ({k: v for k, v in good.items() if k != "ltv"}, "scorecard.features_mismatch"),
        ({**good, "ltv": float("nan")}, "scorecard.feature_value"),
        ({**good, "ltv": "0.5"}, "scorecard.feature_value"),
    ]
    for features, code in bad_inputs:
        with pytest.raises(InvalidInput) as refused, write_transaction(engine) as conn:
            scorecard.record_features(conn, loan_id, features)
        assert refused.value.code == code
    with pytest.raises(InvalidInput) as unknown, write_transaction(engine) as conn:
        scorecard.record_features(conn, loan_id, {**good, "ethnicity": 1.0})
    assert unknown.value.extra["unknown"] == ["ethnicity"]
    with pytest.raises(NotFound), write_transaction(engine) as conn:
        scorecard.record_features(conn, loan_id + 1000, good)
    with write_transaction(engine) as conn:
        scorecard.record_features(conn, loan_id, good)
        scorecard.record_features(conn, loan_id, dict(reversed(list(good.items()))))  # same: no-op
    with pytest.raises(Conflict) as differ, write_transaction(engine) as conn:
        scorecard.record_features(conn, loan_id, {**good, "ltv": good["ltv"] + 0.01})
    assert differ.value.code == "scorecard.features_differ"
    with write_transaction(engine) as conn:
        other = new_loan(conn, ctx, open_members(conn, ctx, 1, seq=2)[0], 2)
    with write_transaction(engine) as conn, pytest.raises(Conflict):  # committed, yet nothing written
        scorecard.record_features_many(conn, {other: good, loan_id: {**good, "ltv": 0.1}})
    stored = select(loan_features.c.loan_id, loan_features.c.features)
    with read_transaction(engine) as conn:
        assert conn.execute(stored).all() == [(loan_id, good)]
    with write_transaction(engine) as conn:
        assert scorecard.record_features_many(conn, {other: good, loan_id: good}) == 1
