"""Property test: random postings and reversals never break an invariant of ``hpf check``."""

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.check import check_center
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.errors import Conflict
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.schema import upgrade

MEMBERS = 4
op = st.one_of(
    st.tuples(
        st.just("deposit"),
        st.integers(0, MEMBERS - 1),
        st.integers(1, 10**7),
        st.sampled_from(list(BalancePart)),
    ),
    st.tuples(
        st.just("withdraw"),
        st.integers(0, MEMBERS - 1),
        st.integers(1, 10**7),
        st.sampled_from(list(BalancePart)),
    ),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.just(0), st.just(BalancePart.CURRENT)),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from hpf.kernel.clock import FixedClock
    from hpf.kernel.context import Context

    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('prop')}/p.sqlite3")
    upgrade(eng)
    ctx = Context("prop", FixedClock(date(2025, 3, 15)), "990001")
    with write_transaction(eng) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        ids = [accounts.open_member(conn, ctx, emp.account_no, member_payload(i)).id for i in range(MEMBERS)]
    return eng, ctx, ids


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=12), salt=st.uuids())
def test_random_postings_keep_every_invariant(world, ops, salt):
    eng, ctx, ids = world
    day = ctx.clock.today()
    posted: list[int] = []
    for n, (kind, who, fen, part) in enumerate(ops):
        key = f"{salt}-{n}"
        try:
            with write_transaction(eng) as conn:
                if kind == "reverse":
                    if posted:
                        ledger.reverse(
                            conn, posted[who % len(posted)], reason="r", actor="p", clock=ctx.clock
                        )
                    continue
                member = Line(
                    "201",
                    Side.CREDIT if kind == "deposit" else Side.DEBIT,
                    fen,
                    member_id=ids[who],
                    part=part,
                )
                bank = Line("101", Side.DEBIT if kind == "deposit" else Side.CREDIT, fen)
                posted.append(
                    ledger.post(conn, JournalEntry("01", key, key, day, day, (bank, member)), ctx.clock)
                )
        except Conflict:
            pass  # overdraft or second reversal: refused whole, which the invariants below prove
        with read_transaction(eng) as conn:
            assert check_center(conn) == []
            assert all(c >= 0 and d >= 0 for c, d in ledger.member_balances(conn, ids).values())
