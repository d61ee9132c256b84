"""Integration tests (SQLite and PostgreSQL): a list from submission to the members' accounts."""

import dataclasses
from datetime import date

import pytest
from contribution_support import list_rows

from hpf.accounts import service as accounts
from hpf.check import check_center
from hpf.contributions import service
from hpf.contributions.month_end import run_month_end
from hpf.contributions.rules import Kind
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.ledger import service as ledger

# 12% of 8,000.00 / 6,543.21 / 10,000.00 → 960.00 / 785.19 (785.1852) / 1,200.00 per part
PARTS = (96_000, 78_519, 120_000)
TOTAL = 2 * sum(PARTS)  # 5,890.38 yuan


def submit(engine, ctx, emp, members, month="2025-01", key="k1", **kw):
    with write_transaction(engine) as conn:
        return service.submit_list(conn, ctx, emp.account_no, kind=kw.pop("kind", Kind.REMITTANCE),
                                   month=month, rows=kw.pop("rows", None) or list_rows(members),
                                   source="api", idempotency_key=key, **kw)  # fmt: skip


def receive(engine, ctx, emp, amount, ref, day=date(2025, 3, 15)):
    with write_transaction(engine) as conn:
        return service.record_receipt(conn, ctx, emp.account_no, amount, ref, day)


def test_a_list_is_checked_received_and_allocated(engine, ctx, center):
    emp, members = center
    rem = submit(engine, ctx, emp, members)
    assert (rem.state, rem.total_fen, rem.members) == ("pending", TOTAL, 3)
    receive(engine, ctx, emp, TOTAL, "BANK-1")
    with write_transaction(engine) as conn:
        assert service.allocate(conn, ctx, rem.id).state == "posted"
    with read_transaction(engine) as conn:
        got = ledger.member_balances(conn, [m.id for m in members])
        assert [got[m.id] for m in members] == [(0, 2 * p) for p in PARTS]
        assert ledger.employer_balance_of(conn, emp.id) == 0
        employer = accounts.get_employer(conn, emp.account_no)
        assert (employer.paid_through, employer.state) == ("2025-01", "01")
        assert check_center(conn) == []


def test_a_list_with_bad_rows_is_refused_whole_with_every_error(engine, ctx, center):
    emp, members = center

    def tweak(row):
        if row.line == 1:
            return dataclasses.replace(row, employer_fen=row.employer_fen + 1)
        if row.line == 2:
            return dataclasses.replace(row, name="赵六")
        return dataclasses.replace(row, account_no="99000120000009999")

    with pytest.raises(InvalidInput) as err:
        submit(engine, ctx, emp, members, rows=list_rows(members, tweak=tweak))
    problem = err.value.to_problem()
    assert problem["code"] == "remittance.rows_invalid"
    assert {(e["line"], e["code"]) for e in problem["errors"]} == {
        (1, "remittance.amount_mismatch"), (2, "remittance.name_mismatch"), (3, "remittance.not_employee"),
    }  # fmt: skip
    with read_transaction(engine) as conn:
        assert service.employer_remittances(conn, emp.id) == []


def test_only_the_due_month_and_one_open_list_at_a_time(engine, ctx, center):
    emp, members = center
    with pytest.raises(InvalidInput) as err:
        submit(engine, ctx, emp, members, month="2025-02")
    assert err.value.extra["due_month"] == "2025-01"
    submit(engine, ctx, emp, members)
    with pytest.raises(Conflict) as err:
        submit(engine, ctx, emp, members, key="k2")
    assert err.value.code == "remittance.previous_unfinished"


def test_resubmitting_with_the_same_key_returns_the_same_list(engine, ctx, center):
    emp, members = center
    assert submit(engine, ctx, emp, members).id == submit(engine, ctx, emp, members).id


def test_a_duplicated_arrival_notice_has_no_effect(engine, ctx, center):
    emp, _ = center
    first = receive(engine, ctx, emp, 5_000, "BANK-9")
    again = receive(engine, ctx, emp, 5_000, "BANK-9")
    assert first.entry_id == again.entry_id
    with read_transaction(engine) as conn:
        assert ledger.employer_balance_of(conn, emp.id) == 5_000
    with pytest.raises(Conflict):
        receive(engine, ctx, emp, 6_000, "BANK-9")


def test_a_partial_receipt_waits_and_is_visible(engine, ctx, center):
    emp, members = center
    rem = submit(engine, ctx, emp, members)
    receive(engine, ctx, emp, TOTAL - 100, "BANK-A")
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        service.allocate(conn, ctx, rem.id)
    assert err.value.code == "remittance.not_funded"
    with read_transaction(engine) as conn:
        (short,) = service.unallocated(conn)
    assert (short.shortfall_fen, short.unclaimed_fen) == (100, 0)
    receive(engine, ctx, emp, 300, "BANK-B")
    with write_transaction(engine) as conn:
        service.allocate(conn, ctx, rem.id)
        (extra,) = service.unallocated(conn)
        assert extra.unclaimed_fen == 200
        service.refund_unallocated(conn, ctx, emp.account_no, 200, "多缴退回", "r1")
        assert service.unallocated(conn) == []
        assert check_center(conn) == []


def test_month_end_allocates_marks_arrears_and_runs_once(engine, ctx, center, clock):
    emp, members = center
    with write_transaction(engine) as conn:
        from factories import employer_payload

        lazy = accounts.register_employer(conn, ctx, employer_payload(7))
        accounts.activate_employer(conn, ctx, lazy.account_no)
    rem = submit(engine, ctx, emp, members)
    receive(engine, ctx, emp, TOTAL, "BANK-1")
    clock.set(date(2025, 3, 31))
    summary = run_month_end(engine, ctx, "2025-03", chunk_size=1)
    assert summary.lists_allocated == 1
    # Both are behind for March: the new employer paid nothing, the payer is paid only to 2025-01.
    assert summary.arrears_marked == 2
    assert run_month_end(engine, ctx, "2025-03") == summary  # done: nothing happens twice
    with read_transaction(engine) as conn:
        assert service.get_remittance(conn, rem.id).posted_on == date(2025, 3, 31)
        assert [a.month for a in service.open_arrears(conn, lazy.id)] == ["2025-03"]
        assert check_center(conn) == []


def test_back_payment_for_a_past_month(engine, ctx, center):
    emp, members = center
    rem = submit(engine, ctx, emp, members)
    receive(engine, ctx, emp, TOTAL, "BANK-1")
    with write_transaction(engine) as conn:
        service.allocate(conn, ctx, rem.id)
    with pytest.raises(InvalidInput):  # not a past month
        submit(engine, ctx, emp, members[:1], month="2025-02", key="bp", kind=Kind.BACK_PAYMENT)
    back = submit(engine, ctx, emp, members[:1], month="2025-01", key="bp", kind=Kind.BACK_PAYMENT,
                  rows=list_rows(members[:1]))  # fmt: skip
    assert back.kind == "02"
    receive(engine, ctx, emp, back.total_fen, "BANK-2")
    with write_transaction(engine) as conn:
        service.allocate(conn, ctx, back.id)
        assert ledger.member_balances(conn, [members[0].id])[members[0].id] == (0, 4 * PARTS[0])


def test_wrong_payment_correction(engine, ctx, center):
    emp, members = center
    rem = submit(engine, ctx, emp, members)
    receive(engine, ctx, emp, TOTAL, "BANK-1")
    a, b, _ = members
    with write_transaction(engine) as conn:
        service.allocate(conn, ctx, rem.id)
        service.correct_wrong_payment(conn, ctx, rem.id, a.account_no, 10_000, "错记", "c1", b.account_no)
        service.correct_wrong_payment(conn, ctx, rem.id, a.account_no, 5_000, "多缴", "c2")
        with pytest.raises(Conflict):
            service.correct_wrong_payment(conn, ctx, rem.id, a.account_no, 2 * PARTS[0], "too much", "c3")
        got = ledger.member_balances(conn, [a.id, b.id])
        assert got[a.id] == (0, 2 * PARTS[0] - 15_000)
        assert got[b.id] == (0, 2 * PARTS[1] + 10_000)
        assert ledger.employer_balance_of(conn, emp.id) == 5_000
        assert check_center(conn) == []


def test_base_and_rate_adjustment_is_all_or_nothing(engine, ctx, center):
    emp, members = center
    new = {m.account_no: m.base_fen + 10_000 for m in members}
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        service.adjust_base_and_rates(conn, ctx, emp.account_no, employer_rate="0.10", member_rate="0.10",
                                      bases={**new, "99000120000009999": 500_000}, reason="年度调基")  # fmt: skip
    assert err.value.code == "remittance.rows_invalid"
    with write_transaction(engine) as conn:
        result = service.adjust_base_and_rates(conn, ctx, emp.account_no, employer_rate="0.10",
                                               member_rate="0.10", bases=new, reason="年度调基")  # fmt: skip
        assert result.members_changed == 3
        assert accounts.get_member(conn, members[0].account_no).base_fen == 810_000
        assert str(accounts.get_employer(conn, emp.account_no).employer_rate).rstrip("0") == "0.1"


def _funded_lists(engine, ctx, clock, employers: int) -> list[int]:
    """``employers`` employers, each with two members and a funded 2025-03 list; returns list ids."""
    from factories import employer_payload, member_payload

    clock.set(date(2025, 3, 1))
    ids = []
    with write_transaction(engine) as conn:
        for e in range(1, employers + 1):
            emp = accounts.register_employer(conn, ctx, employer_payload(e))
            staff = [
                accounts.open_member(conn, ctx, emp.account_no, member_payload(e * 10 + i)) for i in range(2)
            ]
            rem = service.submit_list(conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month="2025-03",
                                      rows=list_rows(staff), source="api", idempotency_key=f"k{e}")  # fmt: skip
            service.record_receipt(conn, ctx, emp.account_no, rem.total_fen, f"B{e}", date(2025, 3, 1))
            ids.append(rem.id)
    clock.set(date(2025, 3, 31))
    return ids


def test_month_end_allocates_chunks_two_at_a_time(engine, ctx, clock):
    """Chunks in concurrent transactions (the PostgreSQL default; SQLite queues the writers)."""
    lists = _funded_lists(engine, ctx, clock, employers=9)
    seen = []
    summary = run_month_end(
        engine, ctx, "2025-03", chunk_size=2, workers=2, progress=lambda stage, done, total: seen.append(done)
    )
    assert summary.lists_allocated == summary.lists_funded == 9
    assert seen[:-1] == sorted(seen[:-1]) and seen[-2] == 9  # allocation progress, then arrears
    with read_transaction(engine) as conn:
        assert {service.get_remittance(conn, i).state for i in lists} == {"posted"}
        assert check_center(conn) == []


def test_a_chunk_chosen_as_deadlock_victim_is_allocated_again(engine, ctx, clock, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from hpf.contributions import month_end

    _funded_lists(engine, ctx, clock, employers=3)
    real, calls = service.allocate_set, []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def first_call_deadlocks(conn, *args):
        calls.append(1)
        if len(calls) == 1:
            real(conn, *args)  # the work is rolled back with the transaction
            raise OperationalError("UPDATE …", {}, Deadlock())
        return real(conn, *args)

    monkeypatch.setattr(month_end.service, "allocate_set", first_call_deadlocks)
    summary = run_month_end(engine, ctx, "2025-03", chunk_size=2, workers=1)
    assert summary.lists_allocated == 3 and len(calls) == 3
    with read_transaction(engine) as conn:
        assert check_center(conn) == []
