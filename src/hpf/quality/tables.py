"""Storage of the data quality scans (decision 0032): runs, what each rule found in a run, the
scores, the findings with their identity across runs, and each finding's history.

- ``quality_run``: one scan — the business date it judged, who ran it, whether all rules ran
  (``scope = 'all'``) or one rule was re-scanned (``scope`` = the rule id);
- ``quality_hit``: what a run found, one row per rule and object (the set-based checks write
  here with ``INSERT … SELECT``), with a short detail that holds no personal data;
- ``quality_score``: per run, the checked and failing counts of every rule (``level = 'rule'``),
  table and dimension; the score, 1 − failing/checked, is computed when read;
- ``quality_finding``: a rule failing for an object, one row per ``(rule_id, object)`` kept
  across runs: first and last run that saw it, the first later run that checked the rule and
  did not see it (``passed_run_id``), its state (open → assigned → closed; reopened if seen
  again), who it is assigned to;
- ``quality_finding_event``: the finding's history — found, passed, seen again, assigned, note,
  correction proposed, re-scanned, closed — each with who and when.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from hpf.db.metadata import Id, UtcDateTime, metadata

quality_run = Table(
    "quality_run",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("scope", String(40), nullable=False),  # 'all' or the one rule re-scanned
    Column("actor", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("rules", Integer, nullable=False),
    Column("findings", Integer, nullable=False),
    Column("seconds", JSON),  # per rule: wall seconds of its check (the measure of decision 0032)
)

quality_hit = Table(
    "quality_hit",
    metadata,
    Column("run_id", Id, ForeignKey("quality_run.id"), primary_key=True),
    Column("rule_id", String(40), primary_key=True),
    Column("object", String(40), primary_key=True),
    Column("detail", String(200)),
)

quality_score = Table(
    "quality_score",
    metadata,
    Column("run_id", Id, ForeignKey("quality_run.id"), primary_key=True),
    Column("level", String(10), primary_key=True),  # rule | table | dimension
    Column("key", String(40), primary_key=True),
    Column("checked", Integer, nullable=False),
    Column("failing", Integer, nullable=False),
)

quality_finding = Table(
    "quality_finding",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("rule_id", String(40), nullable=False),
    Column("object", String(40), nullable=False),
    Column("first_run_id", Id, ForeignKey("quality_run.id"), nullable=False),
    Column("last_seen_run_id", Id, ForeignKey("quality_run.id"), nullable=False),
    Column("passed_run_id", Id, ForeignKey("quality_run.id")),
    Column("detail", String(200)),
    Column("state", String(10), nullable=False),  # open | assigned | closed
    Column("assignee", String(64)),
    Column("closed_at", UtcDateTime()),
    Column("version", Integer, nullable=False),
    UniqueConstraint("rule_id", "object"),
    Index(None, "state", "rule_id"),
    Index(None, "last_seen_run_id"),
)

quality_finding_event = Table(
    "quality_finding_event",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("finding_id", Id, ForeignKey("quality_finding.id"), nullable=False),
    Column("run_id", Id, ForeignKey("quality_run.id")),
    Column("action", String(20), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("note", String(400)),
    Column("details", JSON),
    Index(None, "finding_id", "id"),
)
