"""HTTP tests: template download, file upload with row errors, receipt, allocation."""

import pytest
from contribution_support import list_rows
from fastapi.testclient import TestClient

from hpf.app import create_app
from hpf.contributions import lists
from hpf.settings import Settings


@pytest.fixture
def client(engine, clock, center, sign_in):
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    with TestClient(app) as c:
        sign_in(c)
        yield c


def csv_bytes(rows) -> bytes:
    from hpf.kernel.money import format_yuan

    body = [(r.account_no, r.name, format_yuan(r.base_fen, False), format_yuan(r.employer_fen, False),
             format_yuan(r.member_fen, False)) for r in rows]  # fmt: skip
    return lists.template_csv(body)


def test_template_upload_receipt_allocate(client, center):
    emp, members = center
    no = emp.account_no
    template = client.get(f"/api/v1/employers/{no}/remittance-template.xlsx")
    assert template.status_code == 200
    rows, errors = lists.read_list("t.xlsx", template.content)
    assert not errors
    assert [r.account_no for r in rows] == [m.account_no for m in members]

    files = {"file": ("清册.csv", csv_bytes(list_rows(members)), "text/csv")}
    r = client.post(f"/api/v1/employers/{no}/remittances/upload", files=files, data={"month": "2025-01"})
    assert r.status_code == 201, r.text
    rem = r.json()
    again = client.post(f"/api/v1/employers/{no}/remittances/upload", files=files, data={"month": "2025-01"})
    assert again.json()["id"] == rem["id"]  # the same file twice is one list

    r = client.post(f"/api/v1/employers/{no}/receipts",
                    json={"amount_fen": rem["total_fen"], "bank_ref": "B-1", "value_date": "2025-03-15"})  # fmt: skip
    assert r.status_code == 201
    assert client.post(f"/api/v1/remittances/{rem['id']}/allocate").json()["state"] == "posted"
    detail = client.get(f"/api/v1/remittances/{rem['id']}").json()
    assert len(detail["rows"]) == 3
    assert client.get(f"/api/v1/members/{members[0].account_no}").json()["current_fen"] == 192_000


def test_upload_with_errors_lists_every_row(client, center):
    emp, members = center
    rows = list_rows(members)
    body = csv_bytes(rows).decode("utf-8-sig") + "99000120000009999,无名,abc,1,1\n"
    r = client.post(f"/api/v1/employers/{emp.account_no}/remittances/upload",
                    files={"file": ("l.csv", body.encode(), "text/csv")}, data={"month": "2025-01"})  # fmt: skip
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "remittance.rows_invalid"
    assert [e["line"] for e in problem["errors"]] == [4]
    assert client.get(f"/api/v1/employers/{emp.account_no}/remittances").json() == []


def test_money_moving_json_calls_need_an_idempotency_key(client, center):
    emp, members = center
    body = {"kind": "01", "month": "2025-01", "rows": [
        {"account_no": r.account_no, "name": r.name, "base_fen": r.base_fen, "employer_fen": r.employer_fen,
         "member_fen": r.member_fen} for r in list_rows(members)]}  # fmt: skip
    r = client.post(f"/api/v1/employers/{emp.account_no}/remittances", json=body)
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency.key_required"
    r = client.post(
        f"/api/v1/employers/{emp.account_no}/remittances", json=body, headers={"Idempotency-Key": "x"}
    )
    assert r.status_code == 201
