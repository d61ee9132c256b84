"""Storage of the default scorecard: each loan's application features, and the trained cards.

``loan_features`` keeps, per loan, the scorecard features (``hpf.loans.scorecard.features``) as they were
at application: the scorecard trains on them later, when the loan's outcome is known, so they
are recorded once and never changed. ``scorecard`` keeps every card ever trained; exactly one
is active (a partial unique index), older ones stay for the record of what was in use when.

Model parameters, band cuts and the high-risk threshold are floats (``Double``), not money:
what the model learned and the probabilities scoring compares against, stored exactly as numpy
produced them. The AUC and the bad rate are figures shown to people, rounded once to four places
(``Numeric``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from hpf.db.metadata import Id, UtcDateTime, metadata

Share = Numeric(6, 4, asdecimal=True)  # 0.8125 = 81.25 %

loan_features = Table(
    "loan_features",
    metadata,
    Column("loan_id", Id, ForeignKey("loan.id"), primary_key=True),  # one row per loan
    Column("features", JSON, nullable=False),  # {feature: value} of exactly FEATURES
    Column("recorded_at", UtcDateTime(), nullable=False),
)

_ACTIVE = text("active")

scorecard = Table(
    "scorecard",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("trained_at", UtcDateTime(), nullable=False),
    Column("trained_on", Date, nullable=False),  # the business date of the history it learned
    Column("model", String(60), nullable=False),  # e.g. logistic_regression(C=1.0)
    Column("seed", Integer, nullable=False),  # of the held-out split: training is reproducible
    Column("features", JSON, nullable=False),  # [feature, ...] in the order of the coefficients
    Column("coefficients", JSON, nullable=False),  # [float, ...] per standardised feature
    Column("intercept", Double, nullable=False),
    Column("scaling", JSON, nullable=False),  # {"mean": [...], "std": [...]} of the training part
    Column("band_cuts", JSON, nullable=False),  # probabilities splitting bands A..E (quintiles)
    Column("auc", Share, nullable=False),  # on the held-out part
    Column("train_count", Integer, nullable=False),
    Column("test_count", Integer, nullable=False),
    Column("train_bads", Integer, nullable=False),
    Column("test_bads", Integer, nullable=False),
    Column("bad_rate", Share, nullable=False),  # bads ÷ loans, both parts
    Column("months_on_book", SmallInteger, nullable=False),  # loans younger than this are left out
    Column("default_definition", Text, nullable=False),
    Column("high_risk_threshold", Double, nullable=False),  # probability at or above = high risk
    Column("active", Boolean, nullable=False),
    CheckConstraint("auc BETWEEN 0 AND 1 AND bad_rate BETWEEN 0 AND 1", name="shares"),
    CheckConstraint("train_count > 0 AND test_count > 0", name="counts"),
    Index("ix_scorecard_active", "active", unique=True, postgresql_where=_ACTIVE, sqlite_where=_ACTIVE),
)
