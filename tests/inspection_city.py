"""The small simulated center the electronic audit's tests live in (``tests/inspection``)."""

from datetime import date

START = date(2025, 1, 1)
MONTHS = 10  # the city's business date ends on 2025-11-01: room for two rent claims in one year
TODAY = date(2025, 11, 1)
