"""The simulator's path (decision 0042): a listed employer's lists are held in a simulated
center too — submitted, never posted by the simulator's allocations or the month-ends, waiting
for the center's review — and the rest of the city lives on."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from sqlalchemy import select

from hpf.accounts import queries as accounts_queries
from hpf.check import check_center
from hpf.contributions import service as contributions
from hpf.db.calendar import set_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.messages.bodies import NationalCreditList, NationalEntry
from hpf.oversight import service as supervision
from hpf.schema import upgrade
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate


def test_the_simulator_leaves_a_listed_employers_lists_held(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/sim.sqlite3")
    upgrade(engine)
    start = date(2025, 1, 1)
    ctx = Context("demo", FixedClock(start), "990001")
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(engine, ctx, seed=5, employers=8, members=160)
    with write_transaction(engine) as conn:
        e = accounts_queries.employer_records_subquery("e")
        employer_id, uscc, name = conn.execute(
            select(e.c.id, e.c.uscc, e.c.name).where(e.c.state == "01").order_by(e.c.id).limit(1)
        ).one()
        entry = NationalEntry(
            center="440300", center_name="深圳市住房公积金管理中心", entry_ref="1", kind="employer",
            uscc=uscc, employer_name=name[:100], grounds="E1", grounds_zh="长期欠缴住房公积金",
            listed_on=start, until=date(2028, 1, 1), state="listed",
        )  # fmt: skip
        body = NationalCreditList(as_of=start, entries=[entry])
        supervision.national_list(conn, ctx, SimpleNamespace(body=body))  # type: ignore[arg-type]
    summary = simulate(engine, "990001", months=3, seed=5)
    assert summary.months == 3 and summary.lists > 0
    with read_transaction(engine) as conn:
        held = contributions.employer_remittances(conn, employer_id)
        assert held and all(r.held and r.posted_on is None for r in held)
        assert {r.remittance_id for r in supervision.reviews(conn)} == {r.id for r in held}
        others = [
            r
            for emp in accounts_queries.employers_in_states(conn, ("01",))
            if emp.id != employer_id
            for r in contributions.employer_remittances(conn, emp.id)
        ]
        assert any(r.state == "posted" for r in others)  # the rest of the city pays as before
        assert check_center(conn) == []
