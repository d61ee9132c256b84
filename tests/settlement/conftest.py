"""Fixtures of the settlement tests: a funded member, a test owner kind (the fake bank: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from factories import employer_payload, member_payload
from hpf import events
from hpf.accounts import service as accounts
from hpf.db.engine import write_transaction
from hpf.settlement import owners
from settlement_support import deposit


@pytest.fixture
def funded(engine, ctx) -> dict[str, Any]:
    """An employer, two members; member A holds 1,000.00 yuan (current part)."""
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        a = accounts.open_member(conn, ctx, emp.account_no, member_payload(1, name="张三"))
        b = accounts.open_member(conn, ctx, emp.account_no, member_payload(2, name="李四"))
        deposit(conn, ctx, a.id, 100_000)
    return {"employer": emp, "a": a.id, "b": b.id}


@pytest.fixture
def told() -> Iterator[list[owners.PayoutOutcome]]:
    """The outcomes the ``test`` owner kind was told of."""
    heard: list[owners.PayoutOutcome] = []
    with events.listening(
        owners.listener("test", "the test owner", lambda _conn, _ctx, outcome: heard.append(outcome))
    ):
        yield heard
