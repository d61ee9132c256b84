"""The business clock: the only source of "today" in OpenHPF.

Domain code never calls ``date.today()``. Four kinds of time are kept apart: the *business
date* (this clock, advanced by the simulator or the day-end job), the *value date* (drives
interest), the *posting date* (the business date a ledger entry was booked) and
``recorded_at`` (aware UTC wall time, audit only, from :meth:`Clock.now`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

CHINA_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def today(self) -> date:
        """The business date."""
        ...

    def now(self) -> datetime:
        """Aware UTC wall time, for ``recorded_at`` stamps."""
        ...


class SystemClock:
    """Business date = the calendar date in China; for production without a day-end job."""

    def today(self) -> date:
        return datetime.now(CHINA_TZ).date()

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A business date that only moves when told to (tests, simulation, demo centers)."""

    business_date: date
    _wall: datetime | None = field(default=None)

    def today(self) -> date:
        return self.business_date

    def now(self) -> datetime:
        if self._wall is not None:
            return self._wall
        return datetime.now(UTC)

    def advance(self, days: int = 1) -> date:
        self.business_date += timedelta(days=days)
        return self.business_date

    def set(self, business_date: date) -> None:
        self.business_date = business_date
