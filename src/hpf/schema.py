"""The whole schema: every capability's tables on one ``metadata``, and ``hpf db upgrade``.

Above every package in the layer order, so it alone may import each package's ``tables``: Alembic
compares against this metadata, and ``upgrade`` syncs the reference data the code ships (the chart
of accounts, the number sequences) after migrating.
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from hpf import jobs
from hpf.accounts import tables as accounts_tables
from hpf.accounts.service import ensure_sequences
from hpf.approvals import service as approvals
from hpf.audit import trail as audit
from hpf.contributions import tables as contributions_tables
from hpf.db import calendar
from hpf.db.engine import write_transaction
from hpf.db.metadata import metadata
from hpf.db.migrate import alembic_config
from hpf.disclosure import alerts
from hpf.events import tables as events_tables
from hpf.identity import identity, sessions, sms, tokens
from hpf.inspection import tables as inspection_tables
from hpf.ledger import tables as ledger_tables
from hpf.ledger.service import sync_chart
from hpf.loans.book import tables as loans_tables
from hpf.loans.scorecard import tables as scorecard_tables
from hpf.oversight import tables as oversight_tables
from hpf.planning import tables as planning_tables
from hpf.policy import tables as policy_tables
from hpf.protection import keys
from hpf.quality import tables as quality_tables
from hpf.services import tables as services_tables
from hpf.settlement import tables as settlement_tables
from hpf.supervision import tables as supervision_tables
from hpf.transfers import inquiry_tables as network_inquiry_tables
from hpf.transfers import tables as transfers_tables
from hpf.withdrawals import tables as withdrawals_tables

__all__ = [
    "accounts_tables",
    "alerts",
    "approvals",
    "audit",
    "calendar",
    "contributions_tables",
    "events_tables",
    "identity",
    "inspection_tables",
    "jobs",
    "keys",
    "ledger_tables",
    "loans_tables",
    "metadata",
    "network_inquiry_tables",
    "oversight_tables",
    "planning_tables",
    "policy_tables",
    "quality_tables",
    "scorecard_tables",
    "services_tables",
    "sessions",
    "settlement_tables",
    "sms",
    "supervision_tables",
    "tokens",
    "transfers_tables",
    "withdrawals_tables",
]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` and, at the head, sync shipped reference data (chart,
    sequences): that data is written by today's code, into today's tables."""
    with write_transaction(engine) as conn:
        config = alembic_config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        if revision == "head":
            sync_chart(conn)
            ensure_sequences(conn)
