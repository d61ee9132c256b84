"""The small simulated center the planning tests live in (``tests/planning``)."""

from datetime import date

CENTER = "990001"
START = date(2025, 1, 1)
MONTHS = 10
TODAY = date(2025, 11, 1)
