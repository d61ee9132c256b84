"""The loan default scorecard: a probability of default learned from the center's own loan book.

What it is for (decision 0014): at application, the loan's features (``hpf.loans.scorecard.features``,
no protected attribute) get a probability of default, a band A–E and a high-risk flag. The
review queue is ordered by it and a high-risk application is flagged for a closer look; the
scorecard never refuses anything by itself.

- **Features** are recorded per loan as they were at application (:func:`record_features`),
  and trained on once the loan's outcome is known.
- **Bad** (the default definition, :data:`DEFAULT_DEFINITION`): a loan that, by the training
  date, was ever 90 or more days past due, was ever classified 次级/可疑/损失 (03/04/05), or was
  written off. "Ever" is read back from what the loan jobs keep (``hpf.loans.book.jobs``): the
  loan's current ``days_past_due``/``classification``/``state``, every ``classified`` loan event
  (``detail.to``), and every dunning notice (its ``days_past_due`` when issued, the 90-day stage
  included). A loan cured after 90 days therefore still counts as bad.
- Only loans **on the book** for at least :data:`MONTHS_ON_BOOK` months count: a younger loan
  has not had the time to go 90 days past due, so it would count as good for the wrong reason.
- **Model**: features standardised on the training part, then an L2 logistic regression
  (scikit-learn, ``C = 1``) with *unweighted* classes, so its probabilities stay estimates of the
  default rate rather than a rebalanced 50 %; ranking (AUC) is unaffected by weighting. A
  stratified held-out part (``test_share``) gives the AUC. Training is reproducible by ``seed``.
- **Scoring** (:func:`score`) is pure numpy on the stored card: no scikit-learn at application
  time. A standardised value is capped at ±:data:`Z_CAP` (far outside the training range the
  linear extrapolation is not evidence), which also keeps the probability finite for any input.
- **High risk**: probability at or above the card's threshold, the level above which
  :data:`HIGH_RISK_SHARE` of the training loans scored. Bands A (lowest) – E cut the training
  scores into quintiles.
"""

from __future__ import annotations

import bisect
import calendar
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from sqlalchemy import Connection, case, exists, false, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite

from hpf.kernel.clock import Clock, SystemClock
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.loans.book.tables import dunning_notice, loan, loan_event
from hpf.loans.scorecard.features import FEATURE_ZH, FEATURES
from hpf.loans.scorecard.tables import loan_features, scorecard

MONTHS_ON_BOOK = 6
BAD_DAYS_PAST_DUE = 90
BAD_CLASSES = ("03", "04", "05")
MIN_LOANS = 50
MIN_BADS = 10  # of each outcome: enough that both parts of a stratified split hold some
HIGH_RISK_SHARE = 0.10
BANDS = ("A", "B", "C", "D", "E")
Z_CAP = 8.0
MODEL = "logistic_regression(C=1.0, l2, unweighted)"
_CHUNK = 5_000

DEFAULT_DEFINITION = (
    f"违约（坏样本）：截至训练日，贷款曾逾期{BAD_DAYS_PAST_DUE}天及以上，或五级分类曾为次级、可疑、损失"
    f"（03/04/05），或已核销；仅计入发放满{MONTHS_ON_BOOK}个月的贷款。"
    f" Bad: by the training date the loan was ever {BAD_DAYS_PAST_DUE}+ days past due, ever classified "
    f"03/04/05, or written off; only loans disbursed at least {MONTHS_ON_BOOK} months before count."
)


class ScorecardRefused(Conflict):
    """The loan book cannot train a scorecard (too few loans, or no defaults to learn from)."""


# ------------------------------------------------------------------------------- features


def _checked(features: Mapping[str, Any]) -> dict[str, float]:
    """The features as floats, refused unless the keys are exactly FEATURES and values finite."""
    unknown = sorted(set(features) - set(FEATURES))
    missing = [f for f in FEATURES if f not in features]
    if unknown or missing:
        raise InvalidInput(
            "scorecard.features_mismatch", "评分卡特征与规定的特征列表不一致",
            f"unknown features {unknown}, missing features {missing}", unknown=unknown, missing=missing,
        )  # fmt: skip
    values: dict[str, float] = {}
    for name in FEATURES:
        raw = features[name]
        value = float(raw) if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool) else None
        if value is None or not math.isfinite(value):
            raise InvalidInput(
                "scorecard.feature_value", "评分卡特征值须为有限数值",
                f"feature {name} is {raw!r}, not a finite number", field=name,
            )  # fmt: skip
        values[name] = value
    return values


def record_features(
    conn: Connection, loan_id: int, features: Mapping[str, float], *, clock: Clock | None = None
) -> None:
    """Keep ``loan_id``'s application features for training (idempotent: a repeat is a no-op).

    The features are a fact of the application: recording different ones for the same loan
    is refused (``scorecard.features_differ``), nothing changed.
    """
    record_features_many(conn, {loan_id: features}, clock=clock)


def _features_differ(differ: list[int]) -> Conflict:
    return Conflict(
        "scorecard.features_differ", "该贷款已记录不同的申请特征",
        f"loan {differ[0]} already has other features recorded", loan_ids=differ[:20],
    )  # fmt: skip


def _stored_features(conn: Connection, ids: list[int]) -> dict[int, Any]:
    query = select(loan_features.c.loan_id, loan_features.c.features).where(loan_features.c.loan_id.in_(ids))
    return {int(i): f for i, f in conn.execute(query).all()}


def record_features_many(
    conn: Connection, rows: Mapping[int, Mapping[str, float]], *, clock: Clock | None = None
) -> int:
    """:func:`record_features` for many loans (statements per 5,000); returns how many were new.

    Everything is checked before anything is written: a refusal changes nothing.
    """
    checked = {int(loan_id): _checked(f) for loan_id, f in rows.items()}
    ids = sorted(checked)
    parts = [ids[n : n + _CHUNK] for n in range(0, len(ids), _CHUNK)]  # few bound parameters each
    new: list[int] = []
    for part in parts:
        known = set(conn.scalars(select(loan.c.id).where(loan.c.id.in_(part))))
        if len(known) < len(part):
            absent = [i for i in part if i not in known]
            raise NotFound("loan.not_found", "贷款不存在", f"no loan {absent[0]}", loan_ids=absent[:20])
        stored = _stored_features(conn, part)
        if differ := [i for i, f in stored.items() if f != checked[i]]:
            raise _features_differ(differ)
        new += [i for i in part if i not in stored]
    now = (clock or SystemClock()).now()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for n in range(0, len(new), _CHUNK):
        part = new[n : n + _CHUNK]
        # ON CONFLICT: a concurrent recorder of the same loan is no error when it agrees.
        conn.execute(
            dialect.insert(loan_features).on_conflict_do_nothing(),
            [{"loan_id": i, "features": checked[i], "recorded_at": now} for i in part],
        )
        if differ := [i for i, f in _stored_features(conn, part).items() if f != checked[i]]:
            raise _features_differ(differ)
    return len(new)


# ------------------------------------------------------------------------------- training set


@dataclass(frozen=True)
class TrainingSet:
    """Loans that count, their feature matrix (columns in FEATURES order) and outcome (1 = bad)."""

    loan_ids: tuple[int, ...]
    x: np.ndarray
    y: np.ndarray

    @property
    def bads(self) -> int:
        return int(self.y.sum())


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it has no such day)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def bad_flag(as_of: date) -> Any:
    """SQL: 1 when the loan row is bad by ``as_of`` (the default definition), else 0."""
    l = loan.c  # noqa: E741 - the loan row, as in the SQL of hpf.loans.book.jobs
    ever_classified = exists().where(
        loan_event.c.loan_id == l.id,
        loan_event.c.kind == "classified",
        loan_event.c.business_date <= as_of,
        loan_event.c.detail["to"].as_string().in_(BAD_CLASSES),
    )
    ever_dunned = exists().where(
        dunning_notice.c.loan_id == l.id,
        dunning_notice.c.issued_on <= as_of,
        dunning_notice.c.days_past_due >= BAD_DAYS_PAST_DUE,
    )
    now_bad = or_(
        l.days_past_due >= BAD_DAYS_PAST_DUE, l.classification.in_(BAD_CLASSES), l.state == "written_off"
    )
    return case((or_(now_bad, ever_classified, ever_dunned), 1), else_=0)


def training_set(conn: Connection, as_of: date, *, months_on_book: int = MONTHS_ON_BOOK) -> TrainingSet:
    """Every loan with recorded features disbursed at least ``months_on_book`` months before
    ``as_of``, with its outcome by then (one query; see the module docstring)."""
    cutoff = months_before(as_of, months_on_book)
    rows = conn.execute(
        select(loan_features.c.loan_id, loan_features.c.features, bad_flag(as_of).label("bad"))
        .join(loan, loan.c.id == loan_features.c.loan_id)
        .where(loan.c.disbursed_on.is_not(None), loan.c.disbursed_on <= cutoff)
        .order_by(loan_features.c.loan_id)
    ).all()
    x = np.array([[float(r.features[f]) for f in FEATURES] for r in rows], dtype=float).reshape(
        -1, len(FEATURES)
    )
    return TrainingSet(
        tuple(int(r.loan_id) for r in rows), x, np.array([int(r.bad) for r in rows], dtype=int)
    )


# ------------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class CardParameters:
    """What scoring needs of a card: the features in the coefficients' order, the standardising
    mean and spread, the bands' cuts and the high-risk threshold (a stored :class:`Scorecard` has
    them all; training builds one before it stores the card)."""

    features: list[str]
    coefficients: list[float]
    intercept: float
    mean: list[float]
    std: list[float]
    band_cuts: list[float]
    high_risk_threshold: float
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Scorecard:
    """A trained card as stored (``scorecard``), the scaling unfolded into ``mean`` and ``std``."""

    id: int
    trained_at: datetime
    trained_on: date
    model: str
    seed: int
    features: list[str]
    coefficients: list[float]
    intercept: float
    mean: list[float]
    std: list[float]
    band_cuts: list[float]
    auc: Decimal
    train_count: int
    test_count: int
    train_bads: int
    test_bads: int
    bad_rate: Decimal
    months_on_book: int
    default_definition: str
    high_risk_threshold: float
    active: bool


Card = CardParameters | Scorecard


@dataclass(frozen=True, slots=True)
class FeatureWeight:
    """One feature of a card as people read it: its code and Chinese name, the coefficient per
    standard deviation and per unit, its direction (``up``, ``down``, ``none``), the training mean."""

    feature: str
    name_zh: str
    coefficient: float
    per_unit: float
    mean: float
    direction: str


@dataclass(frozen=True)
class Score:
    """An application's score: probability of default, band A–E, the high-risk flag, and each
    feature's contribution to the log-odds relative to the average training loan."""

    probability: float
    band: str
    high_risk: bool
    contributions: dict[str, float]
    card_id: int | None = None


def _log_odds_parts(card: Card, x: np.ndarray) -> tuple[float, np.ndarray]:
    mean, std = np.asarray(card.mean, dtype=float), np.asarray(card.std, dtype=float)
    with np.errstate(over="ignore"):  # an overflow to ±inf is capped like any far value
        z = np.clip((x - mean) / std, -Z_CAP, Z_CAP)
    return float(card.intercept), z * np.asarray(card.coefficients, dtype=float)


def _sigmoid(t: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow for large |t|
    e = np.exp(-np.abs(t))
    return np.asarray(np.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e)), dtype=float)


def probabilities(card: Card, x: np.ndarray) -> np.ndarray:
    """Probability of default of each row of ``x`` (columns in the card's feature order)."""
    intercept, parts = _log_odds_parts(card, np.atleast_2d(x))
    return _sigmoid(intercept + parts.sum(axis=1))


def score(card: Card, features: Mapping[str, float]) -> Score:
    """Score one application's features with ``card`` (pure: numpy only)."""
    values = _checked(features)
    names = list(card.features)
    x = np.array([values[n] for n in names], dtype=float)
    intercept, parts = _log_odds_parts(card, x)
    probability = float(_sigmoid(np.array(intercept + parts.sum())))
    return Score(
        probability=probability,
        band=BANDS[bisect.bisect_right(list(card.band_cuts), probability)],
        high_risk=probability >= float(card.high_risk_threshold),
        contributions={n: float(c) for n, c in zip(names, parts, strict=True)},
        card_id=card.id,
    )


# ------------------------------------------------------------------------------- cards


def _share(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _card(row: Any) -> Scorecard:
    return Scorecard(
        id=row.id, trained_at=row.trained_at, trained_on=row.trained_on, model=row.model, seed=row.seed,
        features=list(row.features), coefficients=list(row.coefficients), intercept=row.intercept,
        mean=list(row.scaling["mean"]), std=list(row.scaling["std"]), band_cuts=list(row.band_cuts), auc=row.auc,
        train_count=row.train_count, test_count=row.test_count, train_bads=row.train_bads,
        test_bads=row.test_bads, bad_rate=row.bad_rate, months_on_book=row.months_on_book,
        default_definition=row.default_definition, high_risk_threshold=row.high_risk_threshold,
        active=bool(row.active),
    )  # fmt: skip


def active_card(conn: Connection) -> Scorecard | None:
    """The scorecard in use, or None when none has been trained."""
    row = conn.execute(select(scorecard).where(scorecard.c.active == true())).first()
    return _card(row) if row is not None else None


def cards(conn: Connection, *, limit: int | None = None) -> list[Scorecard]:
    """The cards trained, newest first (the active one and those it replaced); ``limit``: at most."""
    return [
        _card(r) for r in conn.execute(select(scorecard).order_by(scorecard.c.id.desc()).limit(limit)).all()
    ]


def assess(conn: Connection, features: Mapping[str, float]) -> Score | None:
    """Score an application with the active card; None when no card has been trained."""
    card = active_card(conn)
    return score(card, features) if card is not None else None


def _require_trainable(data: TrainingSet) -> None:
    n, bads = len(data.y), data.bads
    if n < MIN_LOANS:
        raise ScorecardRefused(
            "scorecard.too_few_loans", "可用于训练的贷款太少，不能训练评分卡",
            f"{n} loans with features and {MONTHS_ON_BOOK}+ months on book; at least {MIN_LOANS} needed",
            loans=n, needed=MIN_LOANS,
        )  # fmt: skip
    if bads == 0:
        raise ScorecardRefused(
            "scorecard.no_defaults", "贷款历史中没有违约贷款，不能训练评分卡",
            f"none of the {n} loans is bad by the default definition", loans=n,
        )  # fmt: skip
    if min(bads, n - bads) < MIN_BADS:
        raise ScorecardRefused(
            "scorecard.too_few_defaults", "违约或正常贷款太少，不能训练评分卡",
            f"{bads} bad and {n - bads} good loans; at least {MIN_BADS} of each needed",
            bads=bads, goods=n - bads, needed=MIN_BADS,
        )  # fmt: skip


def train(conn: Connection, ctx: Context, *, seed: int = 7, test_share: float = 0.3) -> Scorecard:
    """Train a card on the loan book as of the business date, store it as the active card
    (older cards kept, deactivated) and return it. Refused (``ScorecardRefused``) when the
    book has too few loans or defaults; nothing is then changed."""
    from sklearn.linear_model import LogisticRegression  # training only: scoring needs numpy alone
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    if not 0.1 <= test_share <= 0.5:
        raise InvalidInput("scorecard.test_share", "验证集比例须在0.1至0.5之间",
                           f"test_share {test_share} is outside [0.1, 0.5]")  # fmt: skip
    as_of = ctx.clock.today()
    data = training_set(conn, as_of)
    _require_trainable(data)
    x_train, x_test, y_train, y_test = train_test_split(
        data.x, data.y, test_size=test_share, random_state=seed, stratify=data.y
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # a feature constant in training carries no information: weight ~0
    model = LogisticRegression(C=1.0, max_iter=1000).fit((x_train - mean) / std, y_train)
    params = CardParameters(
        features=list(FEATURES),
        coefficients=[float(c) for c in model.coef_[0]],
        intercept=float(model.intercept_[0]),
        mean=[float(m) for m in mean],
        std=[float(s) for s in std],
        band_cuts=[],  # set from the training probabilities below
        high_risk_threshold=1.0,
    )
    # Every figure of the card comes from the stored parameters through the same scoring used
    # at application, so what the page says is what the queue gets.
    trained = probabilities(params, x_train)
    auc = float(roc_auc_score(y_test, probabilities(params, x_test)))
    conn.execute(update(scorecard).where(scorecard.c.active == true()).values(active=false()))
    conn.execute(
        scorecard.insert().values(
            trained_at=ctx.clock.now(), trained_on=as_of, model=MODEL, seed=seed,
            features=params.features, coefficients=params.coefficients, intercept=params.intercept,
            scaling={"mean": params.mean, "std": params.std},
            band_cuts=[float(q) for q in np.quantile(trained, [0.2, 0.4, 0.6, 0.8])],
            auc=_share(auc), train_count=len(y_train), test_count=len(y_test),
            train_bads=int(y_train.sum()), test_bads=int(y_test.sum()),
            bad_rate=_share(data.bads / len(data.y)), months_on_book=MONTHS_ON_BOOK,
            default_definition=DEFAULT_DEFINITION,
            high_risk_threshold=float(np.quantile(trained, 1 - HIGH_RISK_SHARE)), active=True,
        )
    )  # fmt: skip
    card = active_card(conn)
    assert card is not None  # just stored
    return card


def describe(card: Card) -> list[FeatureWeight]:
    """The card's features for people: code and Chinese name, coefficient per standard
    deviation and per unit, direction, training mean — strongest first."""
    rows = [
        FeatureWeight(
            feature=name,
            name_zh=FEATURE_ZH.get(name, name),
            coefficient=coef,
            per_unit=coef / std,
            mean=mean,
            direction="up" if coef > 0 else "down" if coef < 0 else "none",
        )
        for name, coef, mean, std in zip(card.features, card.coefficients, card.mean, card.std, strict=True)
    ]
    return sorted(rows, key=lambda r: -abs(r.coefficient))
