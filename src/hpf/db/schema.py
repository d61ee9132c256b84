"""Imports every capability's tables so ``metadata`` describes the whole schema."""

from __future__ import annotations

from hpf.accounts import tables as accounts_tables
from hpf.contributions import tables as contributions_tables
from hpf.db import calendar, jobs
from hpf.db.metadata import metadata
from hpf.events import tables as events_tables
from hpf.ledger import tables as ledger_tables
from hpf.loans import scorecard_tables
from hpf.loans import tables as loans_tables
from hpf.policy import tables as policy_tables
from hpf.security import alerts, approvals, audit, identity, keys, sessions, sms, tokens
from hpf.services import tables as services_tables
from hpf.settlement import tables as settlement_tables
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
    "jobs",
    "keys",
    "ledger_tables",
    "loans_tables",
    "metadata",
    "policy_tables",
    "scorecard_tables",
    "services_tables",
    "sessions",
    "settlement_tables",
    "sms",
    "tokens",
    "withdrawals_tables",
]
