"""Property (SQLite and PostgreSQL): for random deposits, withdrawals (back-valued too), closing
settlements and rate changes, the set-based annual settlement pays every member exactly the
interest a day-by-day reference model computes from the member's ledger lines, never a negative
amount, and ``hpf check`` stays clean.

The reference is deliberately naive and independent of ``hpf.interest``: it walks every day of
the year, sums the balance each part held that day times the rate in force that day, and rounds
half up once per member.
"""

from __future__ import annotations

import itertools
import os
import shutil
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from interest_support import YEAR_2024, YEAR_2025, annual_interest, carry_in, deposit, open_center, withdraw
from sqlalchemy import case, select, text

from hpf.check import check_center
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.interest import service as interest
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict
from hpf.ledger import service as ledger
from hpf.ledger.tables import journal_line
from hpf.policy.rules import DepositRate
from hpf.schema import upgrade

MEMBERS = 3
day_in_year = st.integers(1, 365).map(lambda n: YEAR_2024 + timedelta(days=n))
op = st.tuples(
    st.sampled_from(["deposit", "deposit", "withdraw", "close"]),
    st.integers(0, MEMBERS - 1),
    st.integers(1, 5_000_000),
    day_in_year,
)
rate = st.integers(0, 60_000).map(lambda n: Decimal(n).scaleb(-7))  # 0 … 0.6%·10
history = st.one_of(
    st.just([DepositRate(date(2016, 2, 21), Decimal("0.015"), Decimal("0.015"))]),
    st.tuples(rate, rate, st.lists(st.tuples(day_in_year, rate, rate), max_size=3)).map(
        lambda t: [DepositRate(date(2016, 2, 21), t[0], t[1])] + [DepositRate(d, u, c) for d, u, c in t[2]]
    ),
)


def rate_on(rates: list[DepositRate], day: date) -> DepositRate:
    """The rate in force on ``day``: the latest effective on or before it (on a shared date, the
    later listed, as ``hpf.policy`` resolves duplicates)."""
    in_force = [r for r in rates if r.effective_from <= day]
    latest = max(r.effective_from for r in in_force)
    return [r for r in in_force if r.effective_from == latest][-1]


def reference(conn, member_id: int, rates, day_basis: int, after: date, through: date) -> int:
    """Interest on the days after < d ≤ through, from the member's lines, day by day."""
    signed = case((journal_line.c.side == "C", journal_line.c.amount_fen), else_=-journal_line.c.amount_fen)
    lines = conn.execute(
        select(journal_line.c.value_date, journal_line.c.balance_part, signed).where(
            journal_line.c.member_id == member_id
        )
    ).all()
    total, day = Fraction(0), after + timedelta(days=1)
    while day <= through:
        r = rate_on(rates, day)
        for part, part_rate in (("carried", r.carried_rate), ("current", r.current_rate)):
            # A line valued in a settled year counts as carried over (decision 0005).
            held = sum(fen for v, p, fen in lines if (p if v > YEAR_2024 else "carried") == part and v < day)
            total += held * Fraction(part_rate)
        day += timedelta(days=1)
    exact = total / day_basis
    return 0 if exact <= 0 else int((2 * exact.numerator + exact.denominator) // (2 * exact.denominator))


_numbers = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_engine(request, tmp_path_factory):
    """A factory of freshly migrated databases, one per hypothesis example (the previous one is
    disposed of when the next is made)."""
    made: list = []  # (engine, drop)

    def dispose_previous():
        while made:
            eng, drop = made.pop()
            eng.dispose()
            drop()

    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("interest-template") / "t.sqlite3"
        eng = make_engine(f"sqlite:///{template}")
        upgrade(eng)
        eng.dispose()

        def make():
            dispose_previous()
            path = template.with_name(f"db{next(_numbers)}.sqlite3")
            shutil.copy(template, path)
            made.append((make_engine(f"sqlite:///{path}"), lambda: path.unlink()))
            return made[-1][0]
    else:
        cluster = request.getfixturevalue("pg_cluster")
        admin = make_engine(cluster.url())

        def sql(statement: str) -> None:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(statement))

        def make():
            dispose_previous()
            name = f"ip{os.getpid()}_{next(_numbers)}"
            sql(f"CREATE DATABASE {name} TEMPLATE hpf_template")
            made.append((make_engine(cluster.url(name)), lambda: sql(f"DROP DATABASE {name}")))
            return made[-1][0]

    yield make
    dispose_previous()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    carried=st.lists(st.integers(0, 10**8), min_size=MEMBERS, max_size=MEMBERS),
    ops=st.lists(op, max_size=10),
    rates=history,
    day_basis=st.sampled_from([360, 365]),
    chunk_size=st.integers(1, 3),
)
def test_settlement_matches_a_day_by_day_reference(fresh_engine, carried, ops, rates, day_basis, chunk_size):
    engine = fresh_engine()
    clock = FixedClock(YEAR_2024)
    ctx = Context("prop", clock, "990001", source="test")
    members = open_center(engine, ctx, clock)
    carry_in(engine, ctx, clock, {m: fen for m, fen in zip(members, carried, strict=True) if fen})
    start = dict.fromkeys(members, YEAR_2024)  # the day after which the annual settlement counts
    closing_paid, closed = 0, {}
    for kind, who, fen, day in ops:
        m = members[who]
        clock.set(max(clock.today(), day))
        try:
            with write_transaction(engine) as conn:
                balance = sum(ledger.member_balances(conn, [m])[m])
                if kind == "deposit":
                    deposit(conn, ctx, m, fen, day)
                elif kind == "withdraw" and balance:
                    withdraw(conn, ctx, m, min(fen, balance), day)
                elif kind == "close" and (m, day) in closed:  # replayed: the first result
                    again = interest.settle_on_close(conn, ctx, m, day, day_basis=day_basis, rates=rates)
                    assert again == closed[m, day]
                elif kind == "close":
                    want = reference(conn, m, rates, day_basis, start[m], day)
                    closed[m, day] = interest.settle_on_close(
                        conn, ctx, m, day, day_basis=day_basis, rates=rates
                    )
                    paid = closed[m, day][0]
                    assert paid == want >= 0
                    if paid:  # a closing that pays nothing leaves no trace: the year counts whole
                        closing_paid += paid
                        start[m] = day
                    if balance + paid:
                        withdraw(conn, ctx, m, balance + paid, day)
        except Conflict as refused:  # a closing on or before an earlier one
            if refused.code != "interest.already_settled":
                raise
    with read_transaction(engine) as conn:
        want = {m: reference(conn, m, rates, day_basis, start[m], YEAR_2025) for m in members}
        assert check_center(conn) == []
    clock.set(YEAR_2025)
    summary = interest.settle_year(
        engine, ctx, YEAR_2025, day_basis=day_basis, rates=rates, chunk_size=chunk_size
    )
    got = annual_interest(engine, YEAR_2025)
    assert got == {m: x for m, x in want.items() if x}
    assert all(x > 0 for x in got.values())
    assert summary.interest_fen == sum(want.values())
    with read_transaction(engine) as conn:
        assert check_center(conn) == []
        assert all(current == 0 for _, current in ledger.member_balances(conn, members).values())
        by_code = {s.code: s.balance_fen for s in ledger.subject_balances(conn)}
    assert by_code["41101"] == closing_paid + sum(want.values())
