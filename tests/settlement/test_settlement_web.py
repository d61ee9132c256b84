"""Settlement over HTTP (SQLite and PostgreSQL): signed bank notices, the staff API, the finance page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.db.engine import read_transaction, write_transaction
from hpf.settings import Settings
from hpf.settlement import messages as m
from hpf.settlement import service
from settlement_support import SECRET, payout


@pytest.fixture
def center(engine, clock, bank):
    settings = Settings(env="development", database_url=str(engine.url), bank_secret=SECRET.decode())
    app = create_app(settings, engine=engine, clock=clock, bank=bank)
    with TestClient(app) as client:
        yield client


def post_notice(center):
    def post(body: bytes, headers: dict[str, str]) -> int:
        return center.post("/api/v1/settlement/notices", content=body, headers=headers).status_code

    return post


def reserve(engine, ctx, member_id, fen, key):
    with write_transaction(engine) as conn:
        return service.reserve(conn, ctx, payout(member_id, fen, key, owner_id=key))


def test_a_notice_needs_the_bank_signature(center, fake, sign_in):
    line = m.StatementLine(bank_seq_no="C1", tx_date=fake.bank_date(), direction="C", amt_fen=500)
    header = m.Header.make(m.SBDC100, "N1", "BANK", fake.bank_date_time(), sender="BANK", receiver="center")
    body = (
        m.AccountChangeNotice(header=header, acct_no=fake.center_account, line=line)
        .model_dump_json()
        .encode()
    )
    url = "/api/v1/settlement/notices"
    unsigned = center.post(url, content=body, headers={"content-type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "auth.bank_signature"
    forged = {"content-type": "application/json", m.SIGNATURE_HEADER: m.sign(body, b"x" * 40)}
    assert center.post(url, content=body, headers=forged).status_code == 401
    sign_in(center, "fin01", [Role.FINANCE])  # a person's token is no bank signature
    assert center.post(url, content=body, headers={"content-type": "application/json"}).status_code == 401
    signed = {"content-type": "application/json", m.SIGNATURE_HEADER: m.sign(body, SECRET)}
    first = center.post(url, content=body, headers=signed)
    assert first.status_code == 200 and first.json()["outcome"] == "unmatched"
    assert center.post(url, content=body, headers=signed).json()["outcome"] == "duplicate"


def test_a_duplicated_arrival_notice_has_no_effect(engine, ctx, funded, told, center, bank, fake):
    fake.arm("twice")
    order = reserve(engine, ctx, funded["a"], 30_000, "W1")
    assert service.send(engine, ctx, order.id, bank).state == "paid"
    assert len(fake.outbox) == 2
    assert fake.deliver(post_notice(center)) == 2
    with read_transaction(engine) as conn:
        outcomes = conn.exec_driver_sql("SELECT outcome FROM bank_notice").scalars().all()
        assert outcomes == ["no_effect"] and service.get_order(conn, order.id).state == "paid"
    assert len(told) == 1


def test_a_late_answer_as_a_notice_resolves_an_unknown_order(engine, ctx, funded, told, center, bank, fake):
    fake.arm("late")
    order = reserve(engine, ctx, funded["a"], 30_000, "W2")
    assert service.send(engine, ctx, order.id, bank).state == "unknown"
    fake.release_late()
    assert fake.deliver(post_notice(center)) == 1
    with read_transaction(engine) as conn:
        assert service.get_order(conn, order.id).state == "paid"
    assert [t.state for t in told] == ["paid"]


def post_group(center):
    def post(body: bytes, headers: dict[str, str]) -> int:
        return center.post("/api/v1/settlement/notices/batch", content=body, headers=headers).status_code

    return post


def test_notices_in_a_group_have_the_outcomes_they_would_have_one_by_one(
    engine, ctx, funded, told, center, bank, fake
):
    """A group of five: a paid order's debit twice (the second a duplicate), a late answer that
    pays an unknown order, 500.00 and 12.34 yuan credited by nobody's order (unmatched)."""
    fake.arm("twice")
    paid = reserve(engine, ctx, funded["a"], 30_000, "G1")
    assert service.send(engine, ctx, paid.id, bank).state == "paid"
    fake.arm("late")
    late = reserve(engine, ctx, funded["a"], 20_000, "G2")
    assert service.send(engine, ctx, late.id, bank).state == "unknown"
    fake.release_late()
    fake.credit(50_000, "1602000109000123456", "某单位")
    fake.credit(1_234, "1602000109000123456", "某单位")
    assert len(fake.outbox) == 5
    assert fake.deliver_groups(post_group(center), group=10) == 5
    with read_transaction(engine) as conn:
        rows = conn.exec_driver_sql("SELECT outcome, amount_fen FROM bank_notice ORDER BY id").all()
        assert [tuple(r) for r in rows] == [
            ("no_effect", 30_000),
            ("applied", 20_000),
            ("unmatched", 50_000),
            ("unmatched", 1_234),
        ]
        assert service.get_order(conn, late.id).state == "paid"
        credited = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM business_event WHERE type = 'bank_notice.credit_received'"
        ).scalar()
        assert credited == 2
    assert sorted(t.state for t in told) == ["paid", "paid"]
    again = m.AccountChangeNotices(notices=[fake._notice(m.StatementLine(
        bank_seq_no="C9", tx_date=fake.bank_date(), direction="C", amt_fen=1))])  # fmt: skip
    body = again.model_dump_json().encode()
    signed = {"content-type": "application/json", m.SIGNATURE_HEADER: m.sign(body, SECRET)}
    first = center.post("/api/v1/settlement/notices/batch", content=body, headers=signed)
    assert first.status_code == 200 and [a["outcome"] for a in first.json()] == ["unmatched"]
    second = center.post("/api/v1/settlement/notices/batch", content=body, headers=signed)
    assert [a["outcome"] for a in second.json()] == ["duplicate"]
    unsigned = center.post(
        "/api/v1/settlement/notices/batch", content=body, headers={"content-type": "application/json"}
    )
    assert unsigned.status_code == 401


def test_finance_lists_resolves_and_reconciles_through_the_api(
    engine, ctx, funded, told, center, bank, fake, sign_in
):
    fake.arm("timeout")
    order = reserve(engine, ctx, funded["a"], 30_000, "W3")
    service.send(engine, ctx, order.id, bank)
    sign_in(center, "fin02", [Role.FINANCE])
    listed = center.get("/api/v1/settlement/orders", params={"state": "unknown"})
    assert listed.status_code == 200, listed.text
    [shown] = listed.json()
    assert shown["payee_account_no"] == "6222***********4562" and shown["payee_name"] == "张三"
    resolved = center.post(f"/api/v1/settlement/orders/{order.id}/resolve")
    assert resolved.status_code == 200 and resolved.json()["state"] == "paid"
    assert [e["to_state"] for e in resolved.json()["events"]] == ["reserved", "sent", "unknown", "paid"]
    assert center.get("/api/v1/settlement/reconciliations/latest").json() is None
    run = center.post("/api/v1/settlement/reconciliations", json={"day": ctx.clock.today().isoformat()})
    assert run.status_code == 200, run.text
    assert [d["kind"] for d in run.json()["items"]] == ["ledger_only"]  # the seed deposit
    missing = center.post("/api/v1/settlement/orders/999999/resolve")
    assert missing.status_code == 404 and missing.json()["code"] == "settlement.order_not_found"


def test_a_teller_may_not_see_payment_orders(center, sign_in):
    sign_in(center, "teller09", [Role.TELLER])
    r = center.get("/api/v1/settlement/orders")
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"


def test_the_finance_page_lists_orders_by_state_and_resolves_one(
    engine, ctx, funded, told, center, bank, fake, sign_in
):
    fake.arm("timeout")
    order = reserve(engine, ctx, funded["a"], 12_345, "W4")
    service.send(engine, ctx, order.id, bank)
    sign_in(center, "fin03", [Role.FINANCE], session=True)
    page = center.get("/settlement", params={"state": "unknown"})
    assert page.status_code == 200
    assert "资金结算" in page.text and "结果未明" in page.text and "123.45" in page.text
    assert "6222020200001234562" not in page.text and "尚未对账" in page.text
    done = center.post(f"/settlement/orders/{order.id}/resolve", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/settlement?done=paid"
    assert "已支付" in center.get("/settlement?done=paid").text


def test_finance_pays_the_reserved_payouts_from_the_page(
    engine, ctx, funded, told, center, bank, fake, sign_in, monkeypatch
):
    from hpf.settlement import pages
    from hpf.settlement.rules import OWNER_KIND_ZH

    monkeypatch.setattr(pages, "ORDERS_PER_PAGE", 2)
    orders = [
        reserve(engine, ctx, funded["a"], fen, key)
        for fen, key in ((10_000, "P1"), (20_000, "P2"), (3_000, "P3"))
    ]
    sign_in(center, "fin05", [Role.FINANCE], session=True)
    page = center.get("/settlement")
    assert page.status_code == 200
    assert 'action="/settlement/pay"' in page.text and 'name="csrf_token"' in page.text
    assert 'id="reserved-count">3<' in page.text and "330.00" in page.text  # 100.00 + 200.00 + 30.00
    assert "其他付款" in page.text and ">test<" not in page.text and "hpf settlement" not in page.text
    assert page.text.count('<tr id="order-') == 2 and 'href="/settlement?page=2#orders"' in page.text
    second = center.get("/settlement", params={"page": 2}).text
    assert second.count('<tr id="order-') == 1 and f'id="order-{orders[0].id}"' in second  # oldest last

    paid = center.post("/settlement/pay", follow_redirects=False)
    assert paid.status_code == 303 and paid.headers["location"] == "/settlement?ran=1&n_paid=3"
    after = center.get(paid.headers["location"]).text
    assert "本次支付完成：已支付 3 笔。" in after and 'id="nothing-to-pay"' in after
    with read_transaction(engine) as conn:
        assert {o.state for o in service.list_orders(conn)} == {"paid"}
    assert len(told) == 3
    again = center.post("/settlement/pay", follow_redirects=False)  # nothing left: nothing sent twice
    assert "没有待发送的付款指令。" in center.get(again.headers["location"]).text
    assert OWNER_KIND_ZH == {"withdrawal": "提取", "loan": "贷款发放", "transfer": "异地转移接续转出"}


def test_a_teller_may_not_pay(center, sign_in):
    sign_in(center, "teller10", [Role.TELLER], session=True)
    assert center.post("/settlement/pay", follow_redirects=False).status_code == 403
