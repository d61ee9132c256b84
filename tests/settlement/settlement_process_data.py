"""Data of the end-to-end settlement test (a module, not fixtures: it runs on its own database)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.kernel.context import Context

BUSINESS_DATE = date(2025, 3, 15)


def open_member(conn: Connection, ctx: Context) -> int:
    emp = accounts.register_employer(conn, ctx, employer_payload())
    return int(accounts.open_member(conn, ctx, emp.account_no, member_payload(1)).id)
