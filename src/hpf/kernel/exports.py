"""Cells for CSV and xlsx files the platform writes: no text is ever read as a formula.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and
a leading tab or carriage return can hide that start). An employer registered as
``=cmd|' /C calc'!A0`` is accepted on input — a name is only text — but an export that wrote it
as is would hand a formula to whoever opens the file (OWASP "CSV injection"). Every writer of
CSV or xlsx passes its cells through ``safe_cell``/``safe_row``: such text gets a leading ``'``,
which spreadsheets show as text and do not display.

Only text is escaped. Numbers stay numbers: an ``int``/``Decimal`` cell is left alone, and so is
text that is a plain decimal number (``-12.50`` in a CSV of yuan amounts), which no spreadsheet
runs as a formula.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_cell(value: object) -> object:
    """``value`` as a cell: text that a spreadsheet would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(row: Iterable[object]) -> list[object]:
    """Every cell of ``row`` through ``safe_cell``."""
    return [safe_cell(v) for v in row]
