"""Working days in mainland China: official holidays and make-up working days (调休).

``chinesecalendar`` carries the State Council's schedule for the years it knows (published each
November for the next year). Beyond them we fall back to Monday–Friday and say so
(``is_known_year``), rather than guess holidays.
"""

from __future__ import annotations

from datetime import date

import chinese_calendar


def is_known_year(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date) -> bool:
    """True on an official working day; Monday–Friday for a year the calendar does not know."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5
