"""Reconciliation of the bank's statement with the ledger's 101 postings (SQLite and PostgreSQL)."""

from __future__ import annotations

from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.settlement import messages as m
from hpf.settlement import reconciliation, service
from settlement_support import payout


def pay(engine, ctx, bank, member_id, fen, key):
    with write_transaction(engine) as conn:
        order = service.reserve(conn, ctx, payout(member_id, fen, key, owner_id=key))
    return service.send(engine, ctx, order.id, bank)


def found(run):
    return sorted((d.kind, d.ref, d.bank_fen, d.ledger_fen, d.order_state) for d in run.items)


def test_every_kind_of_difference_is_found_and_stored(engine, ctx, funded, told, bank, fake, wiring):
    day = ctx.clock.today()
    one = pay(engine, ctx, bank, funded["a"], 30_000, "one")
    fake.arm("double_post")
    two = pay(engine, ctx, bank, funded["a"], 20_000, "two")
    fake.arm("timeout")
    three = pay(engine, ctx, bank, funded["a"], 5_000, "three")
    assert (one.state, two.state, three.state) == ("paid", "paid", "unknown")
    arrival = fake.credit(50_000, "1602000109000123456", "济南示范科技有限公司1")
    statement = bank.statement(day)
    # the bank booked the first payment for one fen more
    statement.lines[0] = statement.lines[0].model_copy(update={"amt_fen": 30_001})
    with write_transaction(engine) as conn:
        run = reconciliation.reconcile(conn, ctx, day, statement, wiring.entry_groups)
    assert found(run) == sorted([
        ("amount_mismatch", one.order_no, -30_001, -30_000, "paid"),
        ("duplicate", two.order_no, -40_000, -20_000, "paid"),
        ("bank_only", three.order_no, -5_000, None, "unknown"),
        ("bank_only", f"RCPT-{arrival.bank_seq_no}", 50_000, None, None),
        ("ledger_only", "SEED-seed", None, 100_000, None),
    ])  # fmt: skip
    assert run.differences == 5 and run.bank_lines == 5
    assert run.bank_out_fen == 30_001 + 40_000 + 5_000 and run.bank_in_fen == 50_000
    with read_transaction(engine) as conn:
        assert reconciliation.latest(conn).id == run.id
        assert check_center(conn) == []


def test_a_resolved_order_and_a_matching_statement_reconcile_clean(
    engine, ctx, funded, told, bank, fake, wiring
):
    day = ctx.clock.today()
    fake.arm("timeout")
    order = pay(engine, ctx, bank, funded["a"], 5_000, "late")
    assert service.resolve(engine, ctx, order.id, bank).state == "paid"
    seed = m.StatementLine(
        bank_seq_no="S1", tx_date=day, direction="C", amt_fen=100_000, ref_seq_no="SEED-seed"
    )
    statement = bank.statement(day)
    statement.lines.append(seed)
    with write_transaction(engine) as conn:
        run = reconciliation.reconcile(conn, ctx, day, statement, wiring.entry_groups)
    assert run.differences == 0 and run.items == ()


def test_a_statement_of_another_day_is_refused(engine, ctx, funded, bank, wiring):
    import pytest

    from hpf.kernel.errors import InvalidInput

    statement = m.Statement(acct_no="x", day=ctx.clock.today(), lines=[])
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        reconciliation.reconcile(conn, ctx, ctx.clock.today().replace(day=1), statement, wiring.entry_groups)
    assert err.value.code == "settlement.statement_day"
