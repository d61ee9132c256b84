"""Working days in mainland China: official holidays and make-up working days (调休).

``chinesecalendar`` carries the State Council's schedule for the years it knows (published each
November for the next year). Beyond them we fall back to Monday–Friday and say so
(``is_known_year``), rather than guess holidays.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar


def is_known_year(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


@lru_cache(maxsize=8192)  # the calendar is fixed for a process; due dates ask of the same days
def is_working_day(day: date) -> bool:
    """True on an official working day; Monday–Friday for a year the calendar does not know."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself is not counted).

    A statutory time limit of N working days from acceptance on ``start`` ends on
    ``add_working_days(start, N)``: acceptance on the Friday before the National Day holiday
    with a 3-day limit ends three working days after the holiday.
    """
    if days < 0:
        raise ValueError("days must be ≥ 0")
    day = start
    left = days
    while left:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative when ``end`` is earlier)."""
    if end < start:
        return -working_days_between(end, start)
    return sum(1 for n in range(1, (end - start).days + 1) if is_working_day(start + timedelta(days=n)))
