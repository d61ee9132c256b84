"""Storage of the electronic audit: runs of the rule pack, their findings, cases and case steps.

A finding names its object by the identifier the answer key and ``--json`` use (an account
number, an application, entry or loan id, as text) and carries the facts the rule's SQL read
(codes, amounts, dates, ids: never a name, an identity number or a card). A case is one per
rule and object (``UniqueConstraint``): the same finding in a later run is the same case.
"""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Column, Date, ForeignKey, Index, Integer, String, Table

from hpf.db.metadata import Fen, Id, UtcDateTime, metadata

inspection_run = Table(
    "inspection_run",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),  # the day the pack looked at
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("findings", Integer, nullable=False),
    Column("new_cases", Integer, nullable=False),
    Column("by_rule", JSON, nullable=False),  # {rule id: findings}
)

inspection_finding = Table(
    "inspection_finding",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("inspection_run.id"), nullable=False),
    Column("rule", String(40), nullable=False),
    Column("object", String(40), nullable=False),
    Column("facts", JSON, nullable=False),
    Index(None, "run_id", "rule"),
    Index(None, "rule", "object"),
)

inspection_case = Table(
    "inspection_case",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("rule", String(40), nullable=False),
    Column("object", String(40), nullable=False),
    Column("state", String(14), nullable=False),
    Column("opened_run_id", Id, ForeignKey("inspection_run.id"), nullable=False),
    Column("last_run_id", Id, ForeignKey("inspection_run.id"), nullable=False),  # last run that found it
    Column("opened_on", Date, nullable=False),
    Column("assignee", String(64)),  # the login the case is assigned to
    Column("recover_fen", Fen),  # confirmed: the money to recover
    Column("conclusion", String(500)),  # confirmed or cleared: why
    Column("concluded_on", Date),
    Column("version", Integer, nullable=False),
    CheckConstraint("state IN ('open', 'assigned', 'investigating', 'confirmed', 'cleared')", name="state"),
    CheckConstraint("recover_fen IS NULL OR recover_fen >= 0", name="recover_not_negative"),
    Index(None, "rule", "object", unique=True),
    Index(None, "state", "rule"),
)

inspection_case_step = Table(
    "inspection_case_step",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("inspection_case.id"), nullable=False, index=True),
    Column("step", String(12), nullable=False),  # opened | assigned | noted | confirmed | cleared
    Column("business_date", Date, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("note", String(500)),
    Column("assignee", String(64)),
    Column("amount_fen", Fen),
)
