"""A withdrawal's money: reserved on approval through settlement, paid by the (fake) bank, or
given back when the payment fails; a closing withdrawal pays interest to date and closes the
account; two withdrawals at once never overdraw (real threads, both databases)."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.accounts.rules import MemberState
from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import HpfError
from hpf.settlement import service as settlement
from hpf.withdrawals import service
from hpf.withdrawals.rules import Reason
from hpf.withdrawals.service import WithdrawalForm
from hpf.withdrawals.tables import withdrawal
from settlement_support import CARD, balance, deposit


@pytest.fixture
def member_id(engine, ctx) -> int:
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        a = accounts.open_member(conn, ctx, emp.account_no, member_payload(1, name="张三"))
        deposit(conn, ctx, a.id, 100_000)  # 1,000.00
    return int(a.id)


def illness(fen: int | None = None) -> WithdrawalForm:
    return WithdrawalForm(
        Reason.ILLNESS, "张三", CARD, "中国工商银行济南分行", requested_fen=fen, cost_fen=80_000
    )


def _state(engine, application_id: int) -> dict[str, Any]:
    with read_transaction(engine) as conn:
        return dict(
            conn.execute(select(withdrawal).where(withdrawal.c.application_id == application_id))
            .mappings()
            .one()
        )


def test_reserved_on_approval_then_paid(engine, ctx, member_id, bank):
    with write_transaction(engine) as conn:
        first = service.reserve(conn, ctx, 1, member_id, illness())
        again = service.reserve(conn, ctx, 1, member_id, illness())  # idempotent per application
        assert again.id == first.id and balance(conn, member_id) == 20_000
    assert first.allowed_fen == 80_000 and _state(engine, 1)["state"] == "reserved"
    settlement.send(engine, ctx, first.order_id, bank)
    row = _state(engine, 1)
    assert row["state"] == "paid" and row["paid_on"] == ctx.clock.today()
    with read_transaction(engine) as conn:
        assert check_center(conn) == [] and balance(conn, member_id) == 20_000


def test_a_failed_payment_gives_the_money_back(engine, ctx, member_id, bank, fake):
    with write_transaction(engine) as conn:
        reserved = service.reserve(conn, ctx, 2, member_id, illness(30_000))
    fake.arm("fail")
    settlement.send(engine, ctx, reserved.order_id, bank)
    assert _state(engine, 2)["state"] == "released"
    with read_transaction(engine) as conn:
        assert balance(conn, member_id) == 100_000 and check_center(conn) == []


def test_a_closing_withdrawal_pays_interest_to_date_and_closes(engine, ctx, member_id, bank):
    ctx.clock.set(date(2025, 6, 20))  # inside the open interest year
    form = WithdrawalForm(Reason.LEAVING, "张三", CARD, "中国工商银行济南分行", emigrated=True)
    with write_transaction(engine) as conn:
        reserved = service.reserve(conn, ctx, 3, member_id, form)
        assert balance(conn, member_id) == 0
    assert reserved.allowed_fen > 100_000  # interest to date came first
    settlement.send(engine, ctx, reserved.order_id, bank)
    with read_transaction(engine) as conn:
        state = conn.scalar(select(accounts.member.c.state).where(accounts.member.c.id == member_id))
        assert check_center(conn) == []
    assert _state(engine, 3)["state"] == "paid" and state == MemberState.CLOSED_WITHDRAWN.value


def test_a_refused_claim_reserves_nothing(engine, ctx, member_id):
    with write_transaction(engine) as conn, pytest.raises(HpfError) as refused:
        service.reserve(conn, ctx, 4, member_id, illness(90_000))
    assert refused.value.code == "withdrawal.over_limit"
    with read_transaction(engine) as conn:
        assert balance(conn, member_id) == 100_000 and conn.scalar(select(withdrawal.c.id)) is None


def test_two_withdrawals_at_once_never_overdraw(engine, ctx, member_id):
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def claim(application_id: int) -> None:
        start.wait()
        try:
            with write_transaction(engine) as conn:
                service.reserve(conn, ctx, application_id, member_id, illness(70_000))
            outcomes.append("reserved")
        except HpfError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=claim, args=(n,)) for n in (10, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The loser sees the balance the winner left (or the ledger's overdraft CHECK refuses it).
    assert outcomes.count("reserved") == 1, outcomes
    refusals = {"withdrawal.over_limit", "withdrawal.balance_changed", "ledger.insufficient_balance"}
    assert set(outcomes) - {"reserved"} <= refusals, outcomes
    with read_transaction(engine) as conn:
        assert balance(conn, member_id) == 30_000 and check_center(conn) == []
