"""End-to-end HTTP tests of /api/v1 (both engines): shapes, problem+json, no change on refusal."""

import pytest
from fastapi.testclient import TestClient

from factories import employer_payload, member_payload
from hpf.app import create_app
from hpf.settings import Settings
from signing_in import approve_pending


@pytest.fixture
def client(engine, clock, sign_in):
    """Signed in as teller01, holding every staff role (the acting user of every change)."""
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    with TestClient(app) as c:
        sign_in(c, "teller01")
        yield c


@pytest.fixture
def employer_no(client):
    r = client.post("/api/v1/employers", json=employer_payload())
    assert r.status_code == 201, r.text
    return r.json()["account_no"]


def test_open_find_and_read_a_member(client, employer_no):
    body = {**member_payload(1, name="李四"), "employer_account_no": employer_no}
    r = client.post("/api/v1/members", json=body)
    assert r.status_code == 201, r.text
    member = r.json()
    assert member["employer_account_no"] == employer_no and member["balance_fen"] == 0
    assert client.get("/api/v1/members", params={"q": "李"}).json()[0]["account_no"] == member["account_no"]
    history = client.get(f"/api/v1/members/{member['account_no']}/history").json()
    assert history[0]["actor"] == "teller01" and history[0]["action"] == "open"
    page = client.get(f"/api/v1/employers/{employer_no}/members").json()
    assert page["total"] == 1


def test_bad_identifier_is_a_problem_document_and_changes_nothing(client, employer_no):
    body = {**member_payload(1), "resident_id": "370102199003070076", "employer_account_no": employer_no}
    r = client.post("/api/v1/members", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "resident_id.checksum" and problem["title"] and problem["detail"]
    assert client.get("/api/v1/members").json() == []


def test_illegal_transition_is_409(client, employer_no):
    body = {**member_payload(1), "employer_account_no": employer_no}
    no = client.post("/api/v1/members", json=body).json()["account_no"]
    r = client.post(f"/api/v1/members/{no}/unseal", json={"reason": "x"})
    assert r.status_code == 409 and r.json()["code"] == "member.illegal_transition.unseal"
    assert client.post(f"/api/v1/members/{no}/seal", json={"reason": "离职"}).json()["state"] == "02"


def test_unknown_account_and_schema_errors(client):
    r = client.get("/api/v1/members/99000120000000018")
    assert r.status_code == 404 and r.json()["code"] == "member.not_found"
    r = client.post("/api/v1/employers", json={"name": "x"})
    assert r.status_code == 422 and r.json()["code"] == "request.invalid"


def test_ledger_endpoints_and_idempotent_reversal(client, engine, ctx, employer_no):
    from hpf.accounts import service as accounts
    from hpf.db.engine import write_transaction
    from hpf.ledger import service as ledger
    from hpf.ledger.chart import Side
    from hpf.ledger.rules import BalancePart, JournalEntry, Line

    body = {**member_payload(1), "employer_account_no": employer_no}
    no = client.post("/api/v1/members", json=body).json()["account_no"]
    with write_transaction(engine) as conn:
        mid = accounts.get_member(conn, no).id
        day = ctx.clock.today()
        entry_id = ledger.post(
            conn,
            JournalEntry(
                "01",
                "R1",
                "r1",
                day,
                day,
                (
                    Line("101", Side.DEBIT, 12_345),
                    Line("201", Side.CREDIT, 12_345, member_id=mid, part=BalancePart.CURRENT),
                ),
            ),
            ctx.clock,
        )
    statement = client.get(f"/api/v1/members/{no}/statement").json()
    assert statement[0]["amount_fen"] == 12_345 and statement[0]["running_fen"] == 12_345
    assert type(statement[0]["running_fen"]) is int  # not NUMERIC → 12345.0 on PostgreSQL
    headers = {"Idempotency-Key": "rev-1"}
    first = client.post(
        f"/api/v1/ledger/entries/{entry_id}/reversal", json={"reason": "错缴"}, headers=headers
    )
    again = client.post(
        f"/api/v1/ledger/entries/{entry_id}/reversal", json={"reason": "错缴"}, headers=headers
    )
    # Maker-checker: the reversal waits for a second person, once however often it is asked for.
    assert first.status_code == again.status_code == 202 and first.json()["id"] == again.json()["id"]
    assert first.json()["state"] == "pending" and first.json()["maker"] == "teller01"
    assert client.get(f"/api/v1/members/{no}").json()["balance_fen"] == 12_345
    mine = client.post(f"/api/v1/approvals/{first.json()['id']}/approve")
    assert mine.status_code == 403 and mine.json()["code"] == "approval.same_person"
    [approved] = approve_pending(client)
    assert approved["state"] == "approved" and approved["checker"] == "checker"
    reversal = client.get(f"/api/v1/ledger/entries/{approved['result']['entry_id']}").json()
    assert reversal["reverses_entry_id"] == entry_id and reversal["actor"] == "teller01"
    assert client.get(f"/api/v1/members/{no}").json()["balance_fen"] == 0
    subjects = {s["code"]: s for s in client.get("/api/v1/ledger/subjects").json()}
    assert subjects["201"]["credit_fen"] == subjects["201"]["debit_fen"] == 12_345
    assert client.get("/api/v1/ledger/check").json() == {"ok": True, "findings": []}
    assert client.get("/openapi.json").status_code == 200


def test_ledger_check_lists_each_finding_as_check_account_detail(client, engine, ctx, employer_no):
    """The API's shape of a finding: the check, the object and the English figures."""
    from sqlalchemy import text

    from hpf.accounts import service as accounts
    from hpf.db.engine import write_transaction
    from hpf.ledger import service as ledger
    from hpf.ledger.chart import Side
    from hpf.ledger.rules import BalancePart, JournalEntry, Line

    no = client.post(
        "/api/v1/members", json={**member_payload(1), "employer_account_no": employer_no}
    ).json()["account_no"]
    with write_transaction(engine) as conn:
        mid = accounts.get_member(conn, no).id
        day = ctx.clock.today()
        lines = (
            Line("101", Side.DEBIT, 12_345),
            Line("201", Side.CREDIT, 12_345, member_id=mid, part=BalancePart.CURRENT),
        )
        ledger.post(conn, JournalEntry("01", "R1", "r1", day, day, lines), ctx.clock)
        conn.execute(text("UPDATE member_balance SET current_fen = 12000 WHERE member_id = :m"), {"m": mid})
    body = client.get("/api/v1/ledger/check").json()
    assert body["ok"] is False
    assert body["findings"][:2] == [
        {
            "check": "member_balance",
            "account": f"member {mid}",
            "detail": "materialised carried/current 0/12000 fen ≠ postings 0/12345 fen",
        },
        {
            "check": "control_total",
            "account": "subject 201",
            "detail": "control 12345 fen ≠ sub-ledger sum 12000 fen",
        },
    ]
    assert all(set(f) == {"check", "account", "detail"} for f in body["findings"])
