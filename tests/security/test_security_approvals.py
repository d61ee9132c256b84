"""Maker-checker (SQLite and PostgreSQL): reversals, policy changes and refunds wait for a
second person holding the same permission; the maker can never approve their own."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from auth_center import AuthCenter, build_auth_center
from hpf.access.permissions import Principal, Role
from hpf.db.engine import write_transaction
from hpf.identity import identity
from hpf.kernel.context import Context
from signing_in import FAST_PASSWORDS, PASSWORD, bearer, use_session

SECOND = {"finance02": Role.FINANCE, "admin02": Role.ADMIN}  # the checkers


@pytest.fixture
def center(engine: Any) -> AuthCenter:
    return build_auth_center(engine)


@pytest.fixture
def checkers(center: AuthCenter) -> dict[str, Principal]:
    ctx = Context(actor="setup", clock=center.clock, center_code="990001", source="test")
    with write_transaction(center.engine) as conn:
        return {
            login: identity.create_staff(conn, ctx, login, login, [role], PASSWORD, passwords=FAST_PASSWORDS)
            for login, role in SECOND.items()
        }


@pytest.fixture
def client(center: AuthCenter, checkers: dict[str, Principal]) -> Any:
    center.principals_by_login = {**{p.login: p for p in center.principals.values()}, **checkers}  # type: ignore[attr-defined]
    with TestClient(center.app, follow_redirects=False) as c:
        yield c


def as_(center: AuthCenter, who: Role | str) -> dict[str, str]:
    principal = center.principals[who] if isinstance(who, Role) else center.principals_by_login[who]  # type: ignore[attr-defined]
    return bearer(center.app, principal)


def balance(client: TestClient, center: AuthCenter) -> int:
    r = client.get(f"/api/v1/members/{center.member.account_no}", headers=as_(center, Role.TELLER))
    return int(r.json()["balance_fen"])


def test_a_reversal_waits_for_another_finance_officer(client: TestClient, center: AuthCenter) -> None:
    maker = as_(center, Role.FINANCE)
    asked = client.post(
        f"/api/v1/ledger/entries/{center.entry_id}/reversal", json={"reason": "错账"}, headers=maker
    )
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert (
        request["state"] == "pending"
        and request["kind"] == "ledger.reversal"
        and request["label_zh"] == "冲账"
    )
    assert request["maker"] == "finance01" and request["summary"] == f"冲销记账凭证 #{center.entry_id}：错账"
    assert balance(client, center) == 10_000  # nothing moved yet
    url = f"/api/v1/approvals/{request['id']}/approve"

    same = client.post(url, headers=maker)
    assert same.status_code == 403 and same.json()["code"] == "approval.same_person"
    teller = client.post(url, headers=as_(center, Role.TELLER))  # no approval:decide
    assert teller.status_code == 403 and teller.json()["code"] == "auth.forbidden"
    admin = client.post(url, headers=as_(center, Role.ADMIN))  # decides, but not reversals
    assert admin.status_code == 403 and admin.json()["code"] == "auth.forbidden"
    assert client.get(f"/api/v1/approvals/{request['id']}", headers=maker).json()["state"] == "pending"

    done = client.post(url, headers=as_(center, "finance02"))
    assert done.status_code == 200, done.text
    approved = done.json()
    assert approved["state"] == "approved" and approved["checker"] == "finance02" and approved["decided_at"]
    reversal = client.get(f"/api/v1/ledger/entries/{approved['result']['entry_id']}", headers=maker).json()
    assert reversal["reverses_entry_id"] == center.entry_id and reversal["actor"] == "finance01"
    assert reversal["idempotency_key"] == f"approval:{request['id']}"
    assert balance(client, center) == 0
    again = client.post(url, headers=as_(center, "finance02"))
    assert again.status_code == 409 and again.json()["code"] == "approval.decided"


def test_a_request_the_rules_refuse_is_refused_at_once(client: TestClient, center: AuthCenter) -> None:
    maker = as_(center, Role.FINANCE)
    missing = client.post("/api/v1/ledger/entries/999999/reversal", json={"reason": "x"}, headers=maker)
    assert missing.status_code == 404 and missing.json()["code"] == "ledger.entry_not_found"
    no_reason = client.post(
        f"/api/v1/ledger/entries/{center.entry_id}/reversal", json={"reason": " "}, headers=maker
    )
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "ledger.reason_required"
    assert client.get("/api/v1/approvals", headers=maker).json() == []
    assert balance(client, center) == 10_000  # the trial run left nothing behind


def test_the_same_key_asks_once(client: TestClient, center: AuthCenter) -> None:
    maker = {**as_(center, Role.FINANCE), "Idempotency-Key": "rev-7"}
    url = f"/api/v1/ledger/entries/{center.entry_id}/reversal"
    first = client.post(url, json={"reason": "错账"}, headers=maker)
    again = client.post(url, json={"reason": "错账"}, headers=maker)
    assert first.json()["id"] == again.json()["id"]
    other = client.post(url, json={"reason": "另一个原因"}, headers=maker)
    assert other.status_code == 409 and other.json()["code"] == "approval.key_reused"


def test_a_refund_of_unclaimed_receipts_waits_for_approval(client: TestClient, center: AuthCenter) -> None:
    no = center.employer.account_no
    assert center.remittance.total_fen == 384_000  # the pending list claims this much
    maker = {**as_(center, Role.FINANCE), "Idempotency-Key": "refund-1"}
    receipt = {"amount_fen": 400_000, "bank_ref": "B-9", "value_date": "2025-03-15"}
    assert client.post(f"/api/v1/employers/{no}/receipts", json=receipt, headers=maker).status_code == 201
    url = f"/api/v1/employers/{no}/refunds"
    too_much = client.post(url, json={"amount_fen": 16_001, "reason": "多缴"}, headers=maker)
    assert too_much.status_code == 409 and too_much.json()["code"] == "refund.exceeds_unallocated"
    asked = client.post(
        url, json={"amount_fen": 16_000, "reason": "多缴"}, headers={**maker, "Idempotency-Key": "r2"}
    )
    assert asked.status_code == 202, asked.text
    assert asked.json()["summary"] == f"退还单位 {no} 暂收款 160.00元：多缴"
    same = client.post(f"/api/v1/approvals/{asked.json()['id']}/approve", headers=maker)
    assert same.status_code == 403 and same.json()["code"] == "approval.same_person"
    done = client.post(f"/api/v1/approvals/{asked.json()['id']}/approve", headers=as_(center, "finance02"))
    assert done.status_code == 200 and done.json()["result"]["entry_id"] > 0
    entry = client.get(f"/api/v1/ledger/entries/{done.json()['result']['entry_id']}", headers=maker).json()
    assert entry["memo"] == "退还单位暂收款：多缴" and entry["actor"] == "finance01"


def test_policy_changes_are_approved_or_rejected_by_another_administrator(
    client: TestClient, center: AuthCenter
) -> None:
    maker = as_(center, Role.ADMIN)
    body = {"key": "member_rate_max", "effective_from": "2025-07-01", "value": "0.10", "reason": "决议"}
    first = client.post("/api/v1/policy/changes", json=body, headers=maker).json()
    second = client.post("/api/v1/policy/changes", json=body, headers=maker).json()  # the same change twice
    assert first["summary"] == "个人缴存比例上限调整为10%，2025-07-01起生效：决议"
    checker = as_(center, "admin02")
    assert client.post(f"/api/v1/approvals/{first['id']}/approve", headers=checker).status_code == 200
    dup = client.post(f"/api/v1/approvals/{second['id']}/approve", headers=checker)
    assert dup.status_code == 409 and dup.json()["code"] == "policy.duplicate"
    assert client.get(f"/api/v1/approvals/{second['id']}", headers=checker).json()["state"] == "pending"
    rejected = client.post(f"/api/v1/approvals/{second['id']}/reject", json={"note": "重复"}, headers=checker)
    assert rejected.json()["state"] == "rejected" and rejected.json()["note"] == "重复"
    assert len(client.get("/api/v1/policy/changes", headers=checker).json()) == 1
    third = client.post(
        "/api/v1/policy/changes", json={**body, "effective_from": "2025-08-01"}, headers=maker
    ).json()
    withdrawn = client.post(f"/api/v1/approvals/{third['id']}/reject", json={}, headers=maker)
    assert withdrawn.status_code == 200 and withdrawn.json()["checker"] == "admin01"  # the maker withdraws
    finance = client.post(f"/api/v1/approvals/{third['id']}/approve", headers=as_(center, Role.FINANCE))
    assert finance.status_code == 403


def test_the_approvals_page(client: TestClient, center: AuthCenter) -> None:
    client.post(
        f"/api/v1/ledger/entries/{center.entry_id}/reversal",
        json={"reason": "错账"},
        headers=as_(center, Role.FINANCE),
    )
    use_session(client, center.principals[Role.FINANCE])
    mine = client.get("/approvals")
    assert mine.status_code == 200 and "待审批事项" in mine.text and "须由他人审批" in mine.text
    assert "/approve" not in mine.text and "撤回" in mine.text
    refused = client.post("/approvals/1/approve")
    assert refused.status_code == 403 and "经办人不能审批自己提交的事项" in refused.text

    client.cookies.clear()
    use_session(client, center.principals_by_login["finance02"])  # type: ignore[attr-defined]
    page = client.get("/approvals")
    assert 'action="/approvals/1/approve"' in page.text and "驳回" in page.text
    done = client.post("/approvals/1/approve")
    assert done.status_code == 303 and done.headers["location"] == "/approvals?done=approved"
    after = client.get(done.headers["location"])
    assert "已批准并办理" in after.text and "暂无待审批事项" in after.text and "finance02" in after.text
    assert balance(client, center) == 0
    auditor = client.get("/approvals", headers=as_(center, Role.AUDITOR))
    assert auditor.status_code == 200 and "/approve" not in auditor.text  # reads, never decides
