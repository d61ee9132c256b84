"""The small simulated center the warehouse's tests live in (``tests/warehouse``)."""

from datetime import date

START = date(2024, 1, 1)
MONTHS = 14
TODAY = date(2025, 3, 1)
