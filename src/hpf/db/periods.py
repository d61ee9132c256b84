"""Calendar periods of a date column in SQL, the same on SQLite and PostgreSQL.

A date reads as ``YYYY-MM-DD`` text on both engines (SQLite stores it so; PostgreSQL's ISO
date style casts it so), so its month is the first seven characters and its year the first
four — for ``GROUP BY`` month or year without an engine-specific function.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, func
from sqlalchemy.sql.elements import ColumnElement


def month_of(column: Any) -> ColumnElement[str]:
    """``YYYY-MM`` of a date column."""
    return func.substr(cast(column, String), 1, 7)


def year_of(column: Any) -> ColumnElement[str]:
    """``YYYY`` of a date column."""
    return func.substr(cast(column, String), 1, 4)
