"""The withdrawal request path read before its write (decision 0046): a request's connection not
yet in a transaction reads the application, its materials and the evaluation first, without the
writer turn, then writes. Whatever another writer commits in between is caught in the write:
the facts are read again and compared, and a changed one means the rules run again there — a
balance drawn down or an account frozen meanwhile is never approved on the stale evaluation, no
money is reserved twice or over the balance; an application that moved meanwhile is refused; a
material whose application was accepted meanwhile is refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from hpf.accounts import service as accounts
from hpf.db.engine import read_transaction, write_transaction, writer_connection
from hpf.kernel.errors import Conflict
from hpf.ledger import service as ledger
from hpf.ledger.rules import BalancePart, JournalEntry, Line, Side
from hpf.services import service as applications
from hpf.services.handlers import evaluation_to_json, handler_for
from hpf.services.rules import MAX_MATERIALS
from hpf.settlement.tables import payment_order
from hpf.withdrawals.handler import WithdrawalHandler
from services_support import JPG, PDF, PNG, build_center
from settlement_support import CARD, balance, deposit

PAYLOAD = {
    "payee_name": "张三",
    "payee_card": CARD,
    "payee_bank": "中国工商银行济南分行",
    "cost_fen": 50_000,
    "requested_fen": 40_000,
}
MATERIALS = (("M-ID", "id.png", PNG), ("M-DIAGNOSIS", "d.pdf", PDF), ("M-MEDICAL", "m.pdf", PDF),
             ("M-BANK", "card.jpg", JPG))  # fmt: skip


def _filed(center: Any, who: str = "a", payload: dict[str, Any] | None = None, key: str = "k-a") -> int:
    """An illness withdrawal submitted with its four materials, not yet completed."""
    with write_transaction(center.engine) as conn:
        person = center.people[who]
        app = applications.submit(
            conn, center.ctx, person, "WD-ILLNESS", payload or PAYLOAD, idempotency_key=key
        )
        for code, name, data in MATERIALS:
            applications.add_material(conn, center.ctx, person, app.id, code, name, data)
        return app.id


def _as_a_request(center: Any, step: Callable[[Any], Any]) -> Any:
    """``step`` on a request's connection: a writer connection not yet in a transaction, committed
    when the step returns (as the unit of work does)."""
    with writer_connection(center.engine) as conn:
        try:
            done = step(conn)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return done


def _between(monkeypatch: pytest.MonkeyPatch, name: str, change: Callable[[], None]) -> None:
    """Run ``change`` (in a transaction of its own, committed) right after the read phase's call
    of ``applications.<name>``, the first time only: between the read and the write."""
    original = getattr(applications, name)
    done: list[bool] = []

    def hooked(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not done:
            done.append(True)
            change()
        return result

    monkeypatch.setattr(applications, name, hooked)


def _count_evaluations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = WithdrawalHandler.evaluate

    def counted(self: WithdrawalHandler, conn: Any, ctx: Any, application: Any) -> Any:
        calls.append(application.id)
        return original(self, conn, ctx, application)

    monkeypatch.setattr(WithdrawalHandler, "evaluate", counted)
    return calls


def _orders(conn: Any) -> int:
    return int(conn.scalar(select(func.count()).select_from(payment_order)) or 0)


def test_nothing_changed_the_evaluation_read_first_is_used(engine, monkeypatch):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000)
    app_id = _filed(center)
    evaluations = _count_evaluations(monkeypatch)
    done = _as_a_request(
        center, lambda conn: applications.complete_submission(conn, center.ctx, center.people["a"], app_id)
    )
    assert evaluations == [app_id]  # once, in the read phase; confirmed in the write, not redone
    assert done.state == "approved" and done.decided_by == "system" and done.amount_fen == 40_000
    with read_transaction(engine) as conn:
        assert balance(conn, center.member.id) == 60_000  # 100,000 − 40,000 reserved
        assert _orders(conn) == 1


def test_a_balance_drawn_down_meanwhile_is_decided_again_and_not_approved(engine, monkeypatch):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000)
    app_id = _filed(center)
    today = center.ctx.clock.today()

    def draw_down() -> None:  # 80,000 leave the account after the evaluation read 100,000
        with write_transaction(engine) as other:
            ledger.post(other, JournalEntry(
                "01", "DRAW-1", f"draw:{center.member.id}", today, today,
                (Line("201", Side.DEBIT, 80_000, member_id=center.member.id, part=BalancePart.CURRENT),
                 Line("101", Side.CREDIT, 80_000)),
            ), center.ctx.clock)  # fmt: skip

    _between(monkeypatch, "_evaluate_ahead", draw_down)
    evaluations = _count_evaluations(monkeypatch)
    done = _as_a_request(
        center, lambda conn: applications.complete_submission(conn, center.ctx, center.people["a"], app_id)
    )
    assert evaluations == [app_id, app_id]  # read first, then again in the write: the balance moved
    # 20,000 left < 40,000 asked: the rule fails, nothing is approved or reserved
    assert done.state == "under_review" and done.decision is None
    assert done.evaluation["eligible"] is False and done.amount_fen == 0
    failed = [r["code"] for r in done.evaluation["rules"] if not r["passed"]]
    assert failed == ["withdrawal.over_limit"]
    with read_transaction(engine) as conn:
        assert balance(conn, center.member.id) == 20_000
        assert _orders(conn) == 0


def test_two_withdrawals_of_one_balance_meanwhile_never_pay_twice(engine, monkeypatch):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000)
    big = {**PAYLOAD, "cost_fen": 70_000, "requested_fen": 70_000}
    first = _filed(center, payload=big, key="k-1")
    second = _filed(center, payload=big, key="k-2")

    def approve_the_other() -> None:  # the other request commits its 70,000 after ours was read
        with write_transaction(engine) as other:
            assert (
                applications.complete_submission(other, center.ctx, center.people["a"], second).state
                == "approved"
            )

    _between(monkeypatch, "_evaluate_ahead", approve_the_other)
    done = _as_a_request(
        center, lambda conn: applications.complete_submission(conn, center.ctx, center.people["a"], first)
    )
    assert done.state == "under_review" and done.amount_fen == 0  # 30,000 left < 70,000
    with read_transaction(engine) as conn:
        assert balance(conn, center.member.id) == 30_000  # one reservation of 70,000, not two
        assert _orders(conn) == 1


def test_an_account_frozen_meanwhile_is_refused(engine, monkeypatch):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000)
    app_id = _filed(center)

    def freeze() -> None:
        with write_transaction(engine) as other:
            accounts.freeze_member(other, center.ctx, center.member.account_no, "司法冻结")

    _between(monkeypatch, "_evaluate_ahead", freeze)
    done = _as_a_request(
        center, lambda conn: applications.complete_submission(conn, center.ctx, center.people["a"], app_id)
    )
    assert done.state == "under_review" and done.amount_fen == 0
    failed = [r["code"] for r in done.evaluation["rules"] if not r["passed"]]
    assert failed == ["withdrawal.account_state"]
    with read_transaction(engine) as conn:
        assert balance(conn, center.member.id) == 100_000
        assert _orders(conn) == 0


def test_an_application_withdrawn_meanwhile_is_not_accepted(engine, monkeypatch):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000)
    app_id = _filed(center)

    def withdraw() -> None:
        with write_transaction(engine) as other:
            applications.withdraw(other, center.ctx, center.people["a"], app_id, "不办了")

    _between(monkeypatch, "_evaluate_ahead", withdraw)
    with pytest.raises(Conflict):
        _as_a_request(
            center,
            lambda conn: applications.complete_submission(conn, center.ctx, center.people["a"], app_id),
        )
    with read_transaction(engine) as conn:
        assert applications.get(conn, app_id).state == "withdrawn"
        assert balance(conn, center.member.id) == 100_000 and _orders(conn) == 0


def test_a_material_of_an_application_accepted_meanwhile_is_refused(engine, monkeypatch):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000)
    app_id = _filed(center)

    def complete() -> None:
        with write_transaction(engine) as other:
            applications.complete_submission(other, center.ctx, center.people["a"], app_id)

    _between(monkeypatch, "_checked_file", complete)
    with pytest.raises(Conflict) as refused:
        _as_a_request(center, lambda conn: applications.add_material(
            conn, center.ctx, center.people["a"], app_id, "M-MEDICAL", "more.pdf", PDF + b"more"))  # fmt: skip
    assert refused.value.code == "application.materials_closed"
    with read_transaction(engine) as conn:
        assert len(applications.materials(conn, app_id)) == len(MATERIALS)


def test_the_last_room_for_a_material_taken_meanwhile_is_refused(engine, monkeypatch):
    center = build_center(engine, today=date(2025, 3, 14))
    app_id = _filed(center)
    person = center.people["a"]
    with write_transaction(engine) as conn:
        for n in range(MAX_MATERIALS - len(MATERIALS) - 1):
            applications.add_material(
                conn, center.ctx, person, app_id, "M-MEDICAL", f"m{n}.pdf", PDF + bytes([n])
            )

    def take_the_last() -> None:
        with write_transaction(engine) as other:
            applications.add_material(
                other, center.ctx, person, app_id, "M-MEDICAL", "last.pdf", PDF + b"last"
            )

    _between(monkeypatch, "_checked_file", take_the_last)
    with pytest.raises(Exception) as refused:
        _as_a_request(center, lambda conn: applications.add_material(
            conn, center.ctx, person, app_id, "M-MEDICAL", "over.pdf", PDF + b"over"))  # fmt: skip
    assert getattr(refused.value, "code", None) == "application.too_many_materials"
    with read_transaction(engine) as conn:
        assert len(applications.materials(conn, app_id)) == MAX_MATERIALS


def test_the_submissions_preview_read_first_is_the_evaluation_of_the_stored_application(engine):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000)
    person = center.people["a"]
    row = _as_a_request(
        center,
        lambda conn: applications.submit(
            conn, center.ctx, person, "WD-ILLNESS", PAYLOAD, idempotency_key="p"
        ),
    )
    with read_transaction(engine) as conn:
        stored = applications.get(conn, row.id)
        again = handler_for("WD-ILLNESS").evaluate(conn, center.ctx, applications.with_secrets(conn, stored))
    assert stored.evaluation == evaluation_to_json(again) and stored.evaluation["eligible"] is True
    assert stored.amount_fen == again.amount_fen == 40_000
    assert stored.payload["payee_card"] != CARD  # masked in the payload as before
