"""A withdrawal end to end through the application engine: the member applies with materials,
the rules pass, it is approved straight through, the money is reserved, the payment run pays
it at the (fake) bank and the application is executed; a risk sends it to a reviewer; the
payee card never lands in the database in plaintext."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from hpf.db.engine import read_transaction, write_transaction
from hpf.services import service as applications
from hpf.services.tables import application
from hpf.withdrawals.service import send_reserved
from services_support import JPG, PDF, PNG, build_center
from settlement_support import CARD, balance, deposit

PAYLOAD = {
    "payee_name": "张三",
    "payee_card": CARD,
    "payee_bank": "中国工商银行济南分行",
    "cost_fen": 50_000,
    "requested_fen": 40_000,
}


def _apply(center, who: str, payload: dict[str, object]) -> dict[str, object]:
    with write_transaction(center.engine) as conn:
        person = center.people[who]
        app = applications.submit(conn, center.ctx, person, "WD-ILLNESS", payload, idempotency_key=f"k-{who}")
        for code, name, data in (("M-ID", "id.png", PNG), ("M-DIAGNOSIS", "d.pdf", PDF),
                                 ("M-MEDICAL", "m.pdf", PDF), ("M-BANK", "card.jpg", JPG)):  # fmt: skip
            applications.add_material(conn, center.ctx, person, app.id, code, name, data)
        return applications.complete_submission(conn, center.ctx, person, app.id)


def test_straight_through_then_paid_by_the_payment_run(engine, bank, tmp_path):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000)
    done = _apply(center, "a", PAYLOAD)
    assert done.state == "approved" and done.decided_by == "system"  # straight through
    assert done.amount_fen == 40_000 and done.outputs["payment_order_no"]
    with read_transaction(engine) as conn:
        assert balance(conn, center.member.id) == 60_000  # reserved at approval
        stored = conn.scalar(select(application.c.payload).where(application.c.id == done.id))
    assert stored["payee_card"] != CARD and stored["payee_card"].endswith(CARD[-4:])  # masked in the payload
    assert send_reserved(engine, center.ctx, bank) == {"paid": 1}
    with read_transaction(engine) as conn:
        final = applications.get(conn, int(done.id))
    assert final.state == "executed" and final.outputs["paid_on"] == "2025-03-14"
    assert send_reserved(engine, center.ctx, bank) == {}  # paid once


def test_a_shared_card_sends_it_to_a_reviewer(engine, bank):
    center = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        deposit(conn, center.ctx, center.member.id, 100_000, key="a")
        deposit(conn, center.ctx, center.stranger.id, 100_000, key="b")
    first = _apply(center, "a", PAYLOAD)
    second = _apply(center, "b", {**PAYLOAD, "payee_name": "王五"})
    assert first.state == "approved"
    assert second.state == "under_review"
    flags = [f["code"] for f in second.evaluation["risk_flags"]]
    assert flags == ["risk.shared_payee_card"]
    with read_transaction(engine) as conn:
        assert balance(conn, center.stranger.id) == 100_000  # nothing reserved before a decision
