"""Unit (no database): scoring a card is pure, deterministic, monotone in a feature's weight,
always a probability, and refuses features other than the fixed list."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scorecard_support import neutral_card, random_features

from hpf.kernel.errors import InvalidInput
from hpf.loans.scorecard import model as scorecard
from hpf.loans.scorecard.features import FEATURES

BASE = random_features(np.random.default_rng(1))


def test_scoring_is_deterministic_and_explains_itself():
    card = neutral_card({"payment_to_base": 2.0, "ltv": 1.0, "balance_to_principal": -1.0}, intercept=-1.0)
    first, second = scorecard.score(card, BASE), scorecard.score(card, dict(BASE))
    assert first == second
    log_odds = -1.0 + sum(first.contributions.values())
    assert first.probability == pytest.approx(1 / (1 + math.exp(-log_odds)), rel=1e-12)
    assert first.contributions["payment_to_base"] == pytest.approx(2.0 * BASE["payment_to_base"])
    assert first.contributions["age_years"] == 0.0
    assert set(first.contributions) == set(FEATURES)


def test_the_probability_rises_with_a_positively_weighted_feature_and_the_band_follows():
    card = neutral_card({"payment_to_base": 3.0}, intercept=-3.0)
    steps = [i / 10 for i in range(13)]
    scores = [scorecard.score(card, {**BASE, "payment_to_base": v}) for v in steps]
    probabilities = [s.probability for s in scores]
    assert probabilities == sorted(probabilities) and len(set(probabilities)) == len(steps)
    bands = [s.band for s in scores]
    assert bands == sorted(bands) and bands[0] == "A" and bands[-1] == "E"
    flags = [s.high_risk for s in scores]
    assert flags == sorted(flags) and flags[0] is False and flags[-1] is True  # once high, stays high
    assert all(s.high_risk == (s.probability >= 0.4) for s in scores)


def test_a_value_far_outside_the_training_range_is_capped():
    card = neutral_card({"ltv": 1.0}, intercept=0.0)
    capped = scorecard.score(card, {**BASE, "ltv": scorecard.Z_CAP})
    assert scorecard.score(card, {**BASE, "ltv": 1e300}) == capped
    assert scorecard.score(card, {**BASE, "ltv": -1e300}).probability == pytest.approx(1 - capped.probability)


@pytest.mark.parametrize(
    ("features", "code"),
    [
        ({**BASE, "gender": 0.0}, "scorecard.features_mismatch"),
        ({k: v for k, v in BASE.items() if k != "age_years"}, "scorecard.features_mismatch"),
        ({**BASE, "ltv": math.inf}, "scorecard.feature_value"),
        ({**BASE, "second_home": True}, "scorecard.feature_value"),
        ({**BASE, "ltv": None}, "scorecard.feature_value"),
    ],
)
def test_scoring_refuses_other_features(features, code):
    with pytest.raises(InvalidInput) as refused:
        scorecard.score(neutral_card(), features)
    assert refused.value.code == code


finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    coefficients=st.lists(st.floats(-20, 20), min_size=len(FEATURES), max_size=len(FEATURES)),
    intercept=st.floats(-50, 50),
    values=st.lists(finite, min_size=len(FEATURES), max_size=len(FEATURES)),
    means=st.lists(st.floats(-1e6, 1e6), min_size=len(FEATURES), max_size=len(FEATURES)),
    stds=st.lists(st.floats(1e-6, 1e6), min_size=len(FEATURES), max_size=len(FEATURES)),
)
def test_the_probability_is_always_a_probability(coefficients, intercept, values, means, stds):
    card = dataclasses.replace(
        neutral_card(intercept=intercept), coefficients=coefficients, mean=means, std=stds
    )
    got = scorecard.score(card, dict(zip(FEATURES, values, strict=True)))
    assert 0.0 <= got.probability <= 1.0
    assert got.band in scorecard.BANDS
    assert all(math.isfinite(c) for c in got.contributions.values())


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 9, 30), 6, date(2026, 3, 30)),
        (date(2026, 8, 31), 6, date(2026, 2, 28)),
        (date(2026, 3, 15), 6, date(2025, 9, 15)),
        (date(2024, 8, 31), 6, date(2024, 2, 29)),
    ],
)
def test_months_before(day, months, expected):
    assert scorecard.months_before(day, months) == expected
