"""Imports every capability's tables so ``metadata`` describes the whole schema."""

from __future__ import annotations

from hpf.accounts import tables as accounts_tables
from hpf.db.metadata import metadata
from hpf.ledger import tables as ledger_tables

__all__ = ["accounts_tables", "ledger_tables", "metadata"]
