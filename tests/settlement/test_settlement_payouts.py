"""Two-phase payouts with the fake bank (SQLite and PostgreSQL): reserve, send, faults, resolve."""

from __future__ import annotations

import pytest

from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.settlement import messages as m
from hpf.settlement import service
from hpf.settlement.rules import BankStatus
from settlement_support import balance, entries_of, payout, subject


def reserve(engine, ctx, member_id, fen, key="k1", **kw):
    with write_transaction(engine) as conn:
        return service.reserve(conn, ctx, payout(member_id, fen, key, **kw))


def states(engine, order_id):
    with read_transaction(engine) as conn:
        return [e.to_state for e in service.get_order(conn, order_id).events]


def assert_ledger_ok(engine):
    with read_transaction(engine) as conn:
        assert check_center(conn) == []
        assert subject(conn, "21903") == sum(
            o.amount_fen
            for o in service.list_orders(conn, limit=500)
            if o.state in ("reserved", "sent", "unknown")
        )


def test_a_reservation_moves_the_money_to_payments_in_transit(engine, ctx, funded, told):
    order = reserve(engine, ctx, funded["a"], 30_000)
    assert order.state == "reserved" and order.order_no == f"990001P{order.id:012d}"
    assert order.payee_name == "张三" and order.payee_account_no == "6222020200001234562"
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 70_000
        assert subject(conn, "21903") == 30_000 and subject(conn, "101") == 100_000
        stored = conn.exec_driver_sql("SELECT payee_account_no_enc, payee_name_enc FROM payment_order").one()
    assert "6222" not in stored[0] and "张三" not in stored[1]  # personal data at rest is encrypted
    assert_ledger_ok(engine)
    assert told == []


def test_the_same_key_twice_is_one_order_and_one_posting(engine, ctx, funded, told):
    first = reserve(engine, ctx, funded["a"], 30_000)
    again = reserve(engine, ctx, funded["a"], 30_000)
    assert again.id == first.id
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 70_000
        assert entries_of(conn, first.order_no) == 1
    with pytest.raises(Conflict) as err:
        reserve(engine, ctx, funded["a"], 40_000)
    assert err.value.code == "settlement.idempotency_conflict"


def test_an_overdraft_is_refused_and_leaves_no_order(engine, ctx, funded, told):
    with pytest.raises(Conflict) as err:
        reserve(engine, ctx, funded["a"], 100_001)
    assert err.value.code == "ledger.insufficient_balance"
    with read_transaction(engine) as conn:
        assert service.list_orders(conn) == [] and balance(conn, funded["a"]) == 100_000


def test_an_owner_nobody_would_tell_is_refused(engine, ctx, funded):
    with pytest.raises(InvalidInput) as err:
        reserve(engine, ctx, funded["a"], 1_000, owner_kind="nobody")
    assert err.value.code == "settlement.owner_unknown" and err.value.title


def test_a_paid_order_leaves_the_bank_account_once(engine, ctx, funded, told, bank, fake):
    order = reserve(engine, ctx, funded["a"], 30_000)
    paid = service.send(engine, ctx, order.id, bank)
    assert paid.state == "paid" and paid.bank_seq_no.startswith("T")
    assert service.send(engine, ctx, order.id, bank).state == "paid"  # sending again sends nothing
    assert fake.pay_calls == 1 and fake.balance_fen == fake.opening_fen - 30_000
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 70_000
        assert subject(conn, "21903") == 0 and subject(conn, "101") == 70_000
        assert entries_of(conn, order.order_no) == 2
    assert states(engine, order.id) == ["reserved", "sent", "paid"]
    assert [(t.owner_id, t.state, t.amount_fen) for t in told] == [("W1", "paid", 30_000)]
    assert_ledger_ok(engine)


def test_a_refused_payment_gives_the_money_back_and_tells_the_owner(engine, ctx, funded, told, bank, fake):
    fake.arm("fail")
    order = reserve(engine, ctx, funded["a"], 30_000)
    failed = service.send(engine, ctx, order.id, bank)
    assert failed.state == "failed" and failed.failure_code == "E2001"
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 100_000
        assert subject(conn, "21903") == 0 and subject(conn, "101") == 100_000
    assert fake.balance_fen == fake.opening_fen
    assert [(t.state, t.failure_code) for t in told] == [("failed", "E2001")]
    assert_ledger_ok(engine)


def test_a_timeout_then_a_query_pays_once(engine, ctx, funded, told, bank, fake):
    fake.arm("timeout")
    order = reserve(engine, ctx, funded["a"], 30_000)
    assert service.send(engine, ctx, order.id, bank).state == "unknown"
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 70_000 and subject(conn, "21903") == 30_000
    assert told == []
    assert service.resolve(engine, ctx, order.id, bank).state == "paid"
    assert service.resolve(engine, ctx, order.id, bank).state == "paid"
    assert fake.pay_calls == 1 and len(fake.transfers) == 1 and fake.balance_fen == fake.opening_fen - 30_000
    assert states(engine, order.id) == ["reserved", "sent", "unknown", "paid"]
    assert len(told) == 1
    assert_ledger_ok(engine)


def test_a_lost_request_is_sent_again_under_the_same_number(engine, ctx, funded, told, bank, fake):
    fake.arm("lost")
    order = reserve(engine, ctx, funded["a"], 30_000)
    assert service.send(engine, ctx, order.id, bank).state == "unknown"
    assert fake.transfers == {}
    assert service.resolve(engine, ctx, order.id, bank).state == "paid"
    assert list(fake.transfers) == [order.order_no] and fake.balance_fen == fake.opening_fen - 30_000
    assert_ledger_ok(engine)


def test_processing_is_unknown_until_the_bank_says_more(engine, ctx, funded, told, bank, fake):
    fake.arm("processing")
    order = reserve(engine, ctx, funded["a"], 30_000)
    assert service.send(engine, ctx, order.id, bank).state == "unknown"
    counts = service.resolve_open(engine, ctx, bank)
    assert counts == {"paid": 1}


def test_a_duplicate_answer_changes_nothing(engine, ctx, funded, told, bank, fake):
    order = reserve(engine, ctx, funded["a"], 30_000)
    service.send(engine, ctx, order.id, bank)
    answer = fake.query(order.order_no)
    with write_transaction(engine) as conn:
        assert service.apply_result(conn, ctx, order.id, answer, "test")[1] == "no_effect"
        assert service.apply_result(conn, ctx, order.id, answer, "test")[1] == "no_effect"
    with read_transaction(engine) as conn:
        assert entries_of(conn, order.order_no) == 2 and balance(conn, funded["a"]) == 70_000
    assert len(told) == 1


def test_a_late_answer_after_the_order_was_resolved_changes_nothing(engine, ctx, funded, told, bank, fake):
    fake.arm("late")
    order = reserve(engine, ctx, funded["a"], 30_000)
    assert service.send(engine, ctx, order.id, bank).state == "unknown"
    assert service.resolve(engine, ctx, order.id, bank).state == "paid"
    assert fake.release_late() == 1
    late = next(n for n in fake.outbox if n.line.ref_seq_no == order.order_no)
    with write_transaction(engine) as conn:
        assert service.apply_notice(conn, ctx, late).outcome == "no_effect"
        # a contradicting late answer (a failure after it was paid) is recorded, not applied
        contrary = m.PaymentResult(send_seq_no=order.order_no, status=BankStatus.FAILED, ret_code="E9")
        assert service.apply_result(conn, ctx, order.id, contrary, "test")[1] == "conflict"
    with read_transaction(engine) as conn:
        got = service.get_order(conn, order.id)
        assert got.state == "paid" and entries_of(conn, order.order_no) == 2
        assert "不符" in got.events[-1].note
    assert len(told) == 1
    assert_ledger_ok(engine)


def test_an_answer_with_another_amount_is_not_applied(engine, ctx, funded, told):
    order = reserve(engine, ctx, funded["a"], 30_000)
    with write_transaction(engine) as conn:
        service._move(
            conn, ctx, service._row(conn, order.id), service.OrderState.SENT, "test", "sent by hand"
        )
        wrong = m.PaymentResult(send_seq_no=order.order_no, status=BankStatus.SUCCESS, amt_fen=30_001)
        assert service.apply_result(conn, ctx, order.id, wrong, "test")[1] == "conflict"
    with read_transaction(engine) as conn:
        assert service.get_order(conn, order.id).state == "sent"


def test_cancelling_a_reserved_order_returns_the_money(engine, ctx, funded, told, bank):
    order = reserve(engine, ctx, funded["a"], 30_000)
    with write_transaction(engine) as conn:
        cancelled = service.cancel(conn, ctx, order.id, "申请人撤回")
        assert service.cancel(conn, ctx, order.id, "申请人撤回").state == "failed"  # replay
    assert cancelled.state == "failed" and cancelled.failure_code == "cancelled"
    assert service.send(engine, ctx, order.id, bank).state == "failed"  # never sent after that
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 100_000
    assert [t.state for t in told] == ["failed"]
    assert_ledger_ok(engine)


def test_a_batch_pays_and_fails_items_and_applies_its_result_once(engine, ctx, funded, told, bank, fake):
    ids = [
        reserve(engine, ctx, funded["a"], 10_000 * (n + 1), key=f"b{n}", owner_id=f"W{n}").id
        for n in range(3)
    ]
    with read_transaction(engine) as conn:
        refused = service.get_order(conn, ids[1]).order_no
    fake.arm("fail", refused)
    batch_no = service.send_batch(engine, ctx, ids, bank)
    assert service.apply_batch_result(engine, ctx, batch_no, bank) == {"paid": 2, "failed": 1}
    assert service.apply_batch_result(engine, ctx, batch_no, bank) == {"paid": 0, "failed": 0}
    with read_transaction(engine) as conn:
        got = {o.id: o.state for o in service.list_orders(conn)}
        assert got == {ids[0]: "paid", ids[1]: "failed", ids[2]: "paid"}
        assert balance(conn, funded["a"]) == 100_000 - 10_000 - 30_000
        assert subject(conn, "101") == 100_000 - 40_000
    assert sorted((t.owner_id, t.state) for t in told) == [("W0", "paid"), ("W1", "failed"), ("W2", "paid")]
    assert states(engine, ids[0]) == ["reserved", "sent", "paid"]
    assert_ledger_ok(engine)


def test_the_payment_run_in_batches_pays_each_order_once_and_tells_each_owner(
    engine, ctx, funded, told, bank, fake
):
    ids = [
        reserve(engine, ctx, funded["a"], 10_000 * (n + 1), key=f"r{n}", owner_id=f"R{n}").id
        for n in range(3)
    ]
    with read_transaction(engine) as conn:
        refused = service.get_order(conn, ids[2]).order_no
    fake.arm("fail", refused)
    calls = fake.pay_calls
    assert service.send_reserved(engine, ctx, bank, batch=2) == {"paid": 2, "failed": 1}
    assert fake.pay_calls - calls == 3  # each order once, in two BDC103 calls
    assert service.send_reserved(engine, ctx, bank, batch=2) == {}  # nothing left: nothing sent again
    with read_transaction(engine) as conn:
        got = {o.id: (o.state, o.batch_no is not None) for o in service.list_orders(conn)}
        assert got == {ids[0]: ("paid", True), ids[1]: ("paid", True), ids[2]: ("failed", True)}
        # 1,000.00 − 100.00 − 200.00: the refused 300.00 came back
        assert balance(conn, funded["a"]) == 100_000 - 10_000 - 20_000
        assert subject(conn, "101") == 100_000 - 30_000
        assert entries_of(conn, service.get_order(conn, ids[0]).order_no) == 2
    assert sorted((t.owner_id, t.state) for t in told) == [("R0", "paid"), ("R1", "paid"), ("R2", "failed")]
    assert_ledger_ok(engine)


def test_a_batch_the_bank_paid_without_answering_is_resolved_and_never_paid_twice(
    engine, ctx, funded, told, bank, fake
):
    ids = [reserve(engine, ctx, funded["a"], 10_000, key=f"t{n}", owner_id=f"T{n}").id for n in range(2)]
    fake.arm("timeout")  # the first item: paid, and the BDC103 goes unanswered
    assert service.send_reserved(engine, ctx, bank, batch=10) == {"paid": 2}
    assert len(fake.transfers) == 2
    assert service.send_reserved(engine, ctx, bank, batch=10) == {}
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 100_000 - 20_000
        assert {service.get_order(conn, i).state for i in ids} == {"paid"}
    assert sorted(t.owner_id for t in told) == ["T0", "T1"]
    assert_ledger_ok(engine)


def test_a_batch_lost_on_the_way_is_sent_again_under_the_same_numbers(engine, ctx, funded, told, bank, fake):
    ids = [reserve(engine, ctx, funded["a"], 10_000, key=f"l{n}", owner_id=f"L{n}").id for n in range(2)]
    with read_transaction(engine) as conn:
        lost = service.get_order(conn, ids[0]).order_no
    fake.arm("lost", lost)  # this item never reached the bank
    assert service.send_reserved(engine, ctx, bank, batch=10) == {"paid": 2}
    assert lost in fake.transfers and len(fake.transfers) == 2
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 100_000 - 20_000
    assert sorted(t.owner_id for t in told) == ["L0", "L1"]
    assert_ledger_ok(engine)


def test_a_batch_left_sent_by_a_stopped_run_is_applied_by_the_next_run(engine, ctx, funded, told, bank, fake):
    ids = [reserve(engine, ctx, funded["a"], 10_000, key=f"s{n}", owner_id=f"S{n}").id for n in range(2)]
    service.send_batch(engine, ctx, ids, bank)  # the run stopped here, before BDC107
    assert service.send_reserved(engine, ctx, bank, batch=10) == {"paid": 2}
    assert len(fake.transfers) == 2 and fake.pay_calls == 2
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 100_000 - 20_000
    assert_ledger_ok(engine)
