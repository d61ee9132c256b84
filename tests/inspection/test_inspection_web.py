"""The 电子稽查 API and pages: who may read and handle cases, the steps over HTTP, Chinese pages."""

from __future__ import annotations

import random
import re

import pytest
from fastapi.testclient import TestClient

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.db.engine import write_transaction
from hpf.inspection import service
from hpf.settings import Settings
from hpf.sim.defects.audit import PLANTERS
from inspection_city import TODAY


@pytest.fixture
def app(city, tmp_path):
    with write_transaction(city) as conn:
        for kind in ("A-RATE-OVER-CAP", "A-BASE-OVER-CAP", "A-COLLATERAL-RELEASED-UNSETTLED"):
            PLANTERS[kind](conn, random.Random(3), 1, TODAY)
    service.scan(city, at=TODAY)
    url = str(city.url)
    return create_app(Settings(env="development", database_url=url), engine=city)


def case_of(client: TestClient, rule: str) -> dict:
    (row,) = client.get("/api/v1/inspection/cases", params={"rule": rule}).json()
    return row


def test_an_auditor_handles_a_case_over_the_api(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "auditor01", roles=[Role.AUDITOR])
        rules = c.get("/api/v1/inspection/rules").json()
        assert len(rules) == 13 and rules[0]["id"] == "A-RATE-OVER-CAP" and rules[0]["action_zh"]
        counts = {r["rule"]: r for r in c.get("/api/v1/inspection/cases/counts").json()}
        assert counts["A-BASE-OVER-CAP"]["open"] == 1 and counts["A-SAME-CONTRACT"]["open"] == 0
        assert c.get("/api/v1/inspection/runs").json()[0]["findings"] == 3
        case = case_of(c, "A-BASE-OVER-CAP")
        assert case["state"] == "open" and case["object_kind"] == "member"
        path = f"/api/v1/inspection/cases/{case['id']}"
        early = c.post(f"{path}/confirm", json={"recover_fen": 0, "conclusion": "未分派"})
        assert early.status_code == 409 and early.json()["code"] == "inspection.case_state"
        assert c.post(f"{path}/assign", json={"assignee": "auditor01", "version": 1}).status_code == 200
        assert c.post(f"{path}/notes", json={"note": "核对工资证明"}).status_code == 200
        stale = c.post(f"{path}/clear", json={"reason": "已核实", "version": 1})
        assert stale.status_code == 409 and stale.json()["code"] == "inspection.case_changed"
        bad = c.post(f"{path}/confirm", json={"recover_fen": 1.5, "conclusion": "基数超限"})
        assert bad.status_code == 422
        done = c.post(f"{path}/confirm", json={"recover_fen": 250_000, "conclusion": "基数超限，调整并退还"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["case"]["state"] == "confirmed" and body["case"]["recover_fen"] == 250_000
        assert [s["step"] for s in body["steps"]] == ["opened", "assigned", "noted", "confirmed"]
        assert body["facts"]["limit_fen"] == 3_000_000
        assert c.get("/api/v1/inspection/cases", params={"state": "concluded"}).json()[0]["id"] == case["id"]
        wrong = c.get("/api/v1/inspection/cases", params={"state": "lost"})
        assert wrong.status_code == 422 and wrong.json()["field"] == "state"


def test_who_may_read_and_who_may_handle(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "teller01", roles=[Role.TELLER])
        assert c.get("/api/v1/inspection/cases").status_code == 403
    with TestClient(app) as c:
        sign_in(c, "super01", roles=[Role.SUPERVISOR])
        case = case_of(c, "A-RATE-OVER-CAP")
        assert (
            c.post(f"/api/v1/inspection/cases/{case['id']}/assign", json={"assignee": "x"}).status_code == 403
        )
    with TestClient(app) as c:
        sign_in(c, "risk01", roles=[Role.RISK])
        case = case_of(c, "A-COLLATERAL-RELEASED-UNSETTLED")
        assert (
            c.post(f"/api/v1/inspection/cases/{case['id']}/assign", json={"assignee": "risk01"}).status_code
            == 200
        )


def test_the_pages_list_cases_by_rule_and_take_the_steps(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "auditor01", roles=[Role.AUDITOR], session=True)
        page = c.get("/inspection/cases")
        assert page.status_code == 200
        html = page.text
        assert "电子稽查" in html and "缴存比例超过上限" in html
        assert 'href="/inspection/cases"' in c.get("/").text  # from the home page's shortcuts
        assert not re.search(r">[^<]*\b(case|rule|open|assigned)\b[^<]*<", html)  # no English shown
        case_id = case_of(c, "A-RATE-OVER-CAP")["id"]
        detail = c.get(f"/inspection/cases/{case_id}").text
        assert "疑点事实" in detail and "单位缴存比例" in detail and 'id="assign-form"' in detail
        assert 'id="note-form"' not in detail  # open: assign first
        moved = c.post(
            f"/inspection/cases/{case_id}/assign", data={"assignee": "auditor01"}, follow_redirects=False
        )
        assert moved.status_code == 303
        blank = c.post(f"/inspection/cases/{case_id}/clear", data={"reason": " "})
        assert blank.status_code == 422 and "请填写排除理由" in blank.text
        cleared = c.post(f"/inspection/cases/{case_id}/clear", data={"reason": "经批准的比例"})
        assert (
            cleared.status_code == 200
            and "已排除" in cleared.text
            and 'id="case-actions"' not in cleared.text
        )
        filtered = c.get("/inspection/cases", params={"state": "cleared"}).text
        assert f'id="case-{case_id}"' in filtered
        member_case = case_of(c, "A-BASE-OVER-CAP")
        assert (
            f'href="/members/{member_case["object"]}"' in c.get(f"/inspection/cases/{member_case['id']}").text
        )
    with TestClient(app) as c:
        sign_in(c, "super01", roles=[Role.SUPERVISOR], session=True)
        html = c.get(f"/inspection/cases/{case_id}").text
        assert 'id="case-actions"' not in html
        member_case = case_of(c, "A-BASE-OVER-CAP")
        shown = c.get(f"/inspection/cases/{member_case['id']}").text
        assert f'href="/members/{member_case["object"]}"' not in shown  # a supervisor opens no member page
