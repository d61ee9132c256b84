"""Bounded integer types for every number a request carries (path, query, body).

SQLite and PostgreSQL store signed 64-bit integers. An unbounded ``int`` parameter let a client
send 10^20 straight to the driver, which answered with an overflow that became a 500. These
annotated types put the bound in the schema, so such a request is a 422 problem+json before a
handler runs, and the OpenAPI document says what is allowed. Every integer parameter and every
integer field of a request model uses one of them (``tests/web/test_web_bounds.py`` walks the
routes to keep it so).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

INT64_MAX = 2**63 - 1
"""The largest integer both databases store (BIGINT)."""

Id = Annotated[int, Path(ge=1, le=INT64_MAX, description="a row id (1 .. 2^63-1)")]
"""A row id in a path."""

Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="rows to skip")]
"""How many rows to skip in a paged list."""

QueryId = Annotated[int, Query(ge=1, le=INT64_MAX)]
"""A row id in a query string."""

Fen = Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]
"""An amount in fen that may be negative (a correction); within 64 bits."""

PositiveFen = Annotated[int, Field(ge=1, le=INT64_MAX)]
"""An amount in fen that must be above zero."""

NonNegativeFen = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""An amount in fen, zero allowed."""

BodyId = Annotated[int, Field(ge=1, le=INT64_MAX)]
"""A row id inside a request body."""

SmallInt = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
"""A count, a day, a score: small by nature."""


# Caps on strings. The use case keeps its exact limit (the column's length) and its own refusal
# code; these caps sit at or above it and stop absurd input (a 1,000,000-character reason)
# before it is parsed, stored in memory twice or written to an audit row.
CODE_MAX = 64
"""Account numbers, codes, identifiers, phone numbers, months, rates as text."""
NAME_MAX = 200
"""Names of people, employers and banks."""
TEXT_MAX = 1000
"""Reasons, memos, notes, addresses."""

Code = Annotated[str, Field(max_length=CODE_MAX)]
Name = Annotated[str, Field(max_length=NAME_MAX)]
Text = Annotated[str, Field(max_length=TEXT_MAX)]
