"""A small center for contribution tests: one employer (12%/12%) with three active members."""

from datetime import date

import pytest

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.db.engine import write_transaction

BASES = (800_000, 654_321, 1_000_000)  # 8,000.00 / 6,543.21 / 10,000.00 yuan


@pytest.fixture
def center(engine, ctx, clock):
    """Employer opened 2025-01-02; business date moved to 2025-03-15 by the shared clock fixture."""
    clock.set(date(2025, 1, 2))
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        members = [
            accounts.open_member(conn, ctx, emp.account_no, member_payload(i, name=name, base_fen=base))
            for i, (name, base) in enumerate(zip(("张三", "李四", "王五"), BASES, strict=True), start=1)
        ]
    clock.set(date(2025, 3, 15))
    return emp, members
