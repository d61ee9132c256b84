"""The stored business date: the center's "today", advanced by the simulator or day-end.

One row. A ``StoredClock`` reads it, so every process of a center (web server, CLI jobs)
agrees on the business date without sharing memory. Without a row the calendar date in China
is used.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, Engine, Integer, Table, select, update
from sqlalchemy.engine import Connection

from hpf.db.metadata import metadata
from hpf.kernel.clock import SystemClock

business_calendar = Table(
    "business_calendar",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("business_date", Date, nullable=False),
)


def stored_business_date(conn: Connection) -> date | None:
    return conn.scalar(select(business_calendar.c.business_date).where(business_calendar.c.id == 1))


def set_business_date(conn: Connection, day: date) -> None:
    if stored_business_date(conn) is None:
        conn.execute(business_calendar.insert().values(id=1, business_date=day))
    else:
        conn.execute(update(business_calendar).where(business_calendar.c.id == 1).values(business_date=day))


class StoredClock:
    """Business date from the database; wall time from the system."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._system = SystemClock()

    def today(self) -> date:
        with self._engine.connect() as conn:
            return stored_business_date(conn) or self._system.today()

    def now(self) -> datetime:
        return self._system.now()
