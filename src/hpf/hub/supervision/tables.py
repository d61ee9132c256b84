"""The hub's supervision tables (decision 0040), on ``hub_metadata`` (hub migration 0006).

No table here holds an ID number, a name of a person or a center's account number: a listed
person is the hub's pseudonym (``hpf.hub.loan_registry.pseudonym``), an employer its unified
social credit code and name (a legal entity's public identity).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    UniqueConstraint,
)

from hpf.db.metadata import Id, UtcDateTime
from hpf.hub.tables import hub_metadata

# The seam to the national warehouse: one reported value of one indicator of one center for one
# month. The lead connects ``inputs.indicator_values`` to the warehouse at merge.
hub_indicator_value = Table(
    "hub_indicator_value",
    hub_metadata,
    Column("center", String(6), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM
    Column("indicator", String(12), primary_key=True),  # the catalogue's code, 0302020301 …
    Column("value", Numeric(24, 6), nullable=False),
    Column("reported_at", UtcDateTime(), nullable=False),
)

# Hub events the monitoring rules read besides the indicators: a transfer deadline missed, an
# e-audit finding a center sent. ``kind`` names the rule family.
hub_sup_event = Table(
    "hub_sup_event",
    hub_metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("center", String(6), nullable=False),
    Column("month", String(7), nullable=False),
    Column("kind", String(20), nullable=False),  # transfer_overdue | audit_finding
    Column("ref", String(40), nullable=False),  # the center's reference (letter no., case id)
    Column("detail_zh", String(300), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("center", "kind", "ref"),
    Index(None, "month"),
)

# Supervision policy: thresholds, weights, classes, monitoring lines and credit grounds, as a
# versioned document with an effective date, proposed by one supervisor, approved by another.
hub_sup_policy = Table(
    "hub_sup_policy",
    hub_metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("version", Integer),  # given on approval
    Column("effective_from", Date, nullable=False),
    Column("document", JSON, nullable=False),
    Column("state", String(10), nullable=False),  # proposed | approved | rejected
    Column("proposed_by", String(64), nullable=False),
    Column("proposed_at", UtcDateTime(), nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", UtcDateTime()),
    UniqueConstraint("version"),
)

# The month's class of a center, with the indicators that decided it.
hub_center_class = Table(
    "hub_center_class",
    hub_metadata,
    Column("center", String(6), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("policy_version", Integer, nullable=False),
    Column("score", Numeric(7, 2), nullable=False),
    Column("grade", String(1), nullable=False),  # A | B | C | D
    Column("deciding", JSON, nullable=False),  # [{indicator, name_zh, value, points, weight, band}]
    Column("computed_at", UtcDateTime(), nullable=False),
    Index(None, "month"),
)

hub_problem = Table(
    "hub_problem",
    hub_metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("center", String(6), nullable=False),
    Column("month", String(7), nullable=False),
    Column("rule", String(40), nullable=False),
    Column("subject", String(40), nullable=False),  # the indicator or the event's ref
    Column("value", String(30)),
    Column("title_zh", String(200), nullable=False),
    Column("detail_zh", String(500), nullable=False),
    # found | dispatched | rectifying | submitted | reviewed | closed
    Column("state", String(12), nullable=False),
    Column("deadline", Date),
    Column("overdue_on", Date),  # the day it was flagged overdue (not cleared by a late closure)
    Column("dispatched_by", String(64)),
    Column("reviewed_by", String(64)),
    Column("found_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("center", "month", "rule", "subject"),
    Index(None, "state"),
)

hub_problem_step = Table(
    "hub_problem_step",
    hub_metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("problem_id", ForeignKey("hub_problem.id"), nullable=False),
    Column("step", String(12), nullable=False),
    Column("state", String(12), nullable=False),  # the state after the step
    Column("actor", String(64), nullable=False),  # a supervisor's login, "system", or the center's code
    Column("note", String(500), nullable=False),
    Column("evidence", JSON),
    Column("message_id", String(36)),  # the SUP201/SUP202 that carried it
    Column("at", UtcDateTime(), nullable=False),
    Index(None, "problem_id"),
)

hub_credit_entry = Table(
    "hub_credit_entry",
    hub_metadata,
    Column("center", String(6), primary_key=True),  # the listing center
    Column("entry_ref", String(30), primary_key=True),
    Column("kind", String(8), nullable=False),  # person | employer
    Column("person", String(64)),  # the hub's pseudonym
    Column("uscc", String(18)),
    Column("employer_name", String(100)),
    Column("grounds", String(4), nullable=False),
    Column("grounds_zh", String(100), nullable=False),
    Column("listed_on", Date, nullable=False),
    Column("until", Date, nullable=False),
    Column("state", String(10), nullable=False),  # listed | appealed | removed
    Column("seq", BigInteger, nullable=False),
    Column("message_id", String(36), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "person"),
    Index(None, "uscc"),
)
