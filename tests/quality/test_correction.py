"""A correction end to end (issue 16 acceptance): a planted wrong birth date is found by the
scan, assigned, fixed through the accounts service under maker-checker (a steward proposes, an
administrator approves), re-scanned and closed — closing refused until the rule passes; the audit
log and the finding's history show who did each step. Then the pages: score card, rule, finding."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from factories import employer_payload, member_payload
from hpf.access.permissions import Role
from hpf.accounts import bulk
from hpf.accounts import service as accounts
from hpf.app import create_app
from hpf.audit.trail import audit_log
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.schema import upgrade
from hpf.settings import Settings
from signing_in import add_staff, bearer

API = "/api/v1/data/quality"


@pytest.fixture
def center(tmp_path, wiring):
    url = f"sqlite:///{tmp_path}/hpf.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    ctx = Context("setup", FixedClock(date(2025, 3, 15)), "990001", source="test")
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1))
        right = accounts.open_member(conn, ctx, emp.account_no, member_payload(1))
        healthy = accounts.open_member(conn, ctx, emp.account_no, member_payload(2))
        # Stock data as the old system held it: a birth date the ID number contradicts.
        bulk.load_legacy_member(
            conn, right.account_no, {"birth_date": right.birth_date - timedelta(days=400)}
        )
    app = create_app(
        Settings(env="development", database_url=url, business_date=date(2025, 3, 15)), engine=engine
    )
    yield app, right, healthy
    engine.dispose()


def test_a_wrong_birth_date_found_fixed_rescanned_and_closed(center):
    app, member, healthy = center
    with TestClient(app) as client:
        steward = bearer(app, add_staff(app, "steward01", [Role.AUDITOR], name="数据管理员甲"))
        admin = bearer(app, add_staff(app, "admin02", [Role.ADMIN], name="管理员乙"))
        teller = bearer(app, add_staff(app, "teller03", [Role.TELLER], name="柜员丙"))
        assert client.post(f"{API}/scan", headers=teller).status_code == 403

        scan = client.post(f"{API}/scan", headers=steward)
        assert scan.status_code == 200, scan.text
        found = client.get(f"{API}/rules/Q-CON-ID-BIRTH/findings", headers=steward).json()
        assert [f["object"] for f in found] == [member.account_no]
        finding = found[0]["id"]

        r = client.post(f"{API}/findings/{finding}/assign", json={"assignee": "steward01"}, headers=steward)
        assert r.status_code == 200 and r.json()["state"] == "assigned"
        r = client.post(f"{API}/findings/{finding}/close", json={}, headers=steward)
        assert r.status_code == 409 and r.json()["code"] == "quality.not_passed"
        # The service refuses a value the ID number does not encode.
        r = client.post(f"{API}/findings/{finding}/fix", json={"value": "1991-01-01"}, headers=steward)
        assert r.status_code == 422 and r.json()["code"] == "member.identity.birth_date_mismatch"
        r = client.post(
            f"{API}/findings/{finding}/fix",
            json={"value": member.birth_date.isoformat(), "note": "核对身份证原件"},
            headers=steward,
        )
        assert r.status_code == 200, r.text
        request_id = r.json()["approval_request"]
        assert r.json()["state"] == "pending"
        with read_transaction(app.state.engine) as conn:  # nothing changed before the checker approves
            stored = conn.scalar(text("SELECT birth_date FROM member WHERE id = :m"), {"m": member.id})
            assert str(stored) != member.birth_date.isoformat()
        own = client.post(f"/api/v1/approvals/{request_id}/approve", headers=steward)
        assert own.status_code == 403  # a steward without approval rights, and the maker besides
        approved = client.post(f"/api/v1/approvals/{request_id}/approve", headers=admin)
        assert approved.status_code == 200, approved.text

        r = client.post(f"{API}/findings/{finding}/rescan", headers=steward)
        assert r.status_code == 200, r.text
        assert r.json()["closable"] is True
        r = client.post(f"{API}/findings/{finding}/close", json={"note": "已更正"}, headers=steward)
        assert r.status_code == 200 and r.json()["state"] == "closed"

        shown = client.get(f"{API}/findings/{finding}", headers=steward).json()
        steps = [(h["action"], h["actor"]) for h in shown["history"]]
        assert steps == [
            ("found", "steward01"),
            ("assigned", "steward01"),
            ("fix_proposed", "steward01"),
            ("passed", "steward01"),
            ("rescan", "steward01"),
            ("closed", "steward01"),
        ]
        card = client.get(f"{API}/scorecard", headers=steward).json()
        assert {d["key"] for d in card["dimensions"]} == {
            "completeness", "validity", "consistency", "uniqueness", "timeliness",
        }  # fmt: skip

    with read_transaction(app.state.engine) as conn:
        fixed = accounts.get_member(conn, member.account_no)
        assert fixed.birth_date == member.birth_date
        history = accounts.history(conn, "member", member.id)
        change = [h for h in history if h.action == "change"]
        assert change and change[-1].actor == "steward01" and "发现项" in change[-1].reason
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.object_id, audit_log.c.outcome)
            .where(
                audit_log.c.action.in_(["assign", "propose_fix", "approve", "rescan", "close", "run_scan"])
            )
            .order_by(audit_log.c.id)
        ).all()
    done = [(a, act) for a, act, _, outcome in rows if outcome == "ok"]
    assert ("steward01", "run_scan") in done and ("steward01", "assign") in done
    assert ("steward01", "propose_fix") in done and ("admin02", "approve") in done
    assert ("steward01", "rescan") in done and ("steward01", "close") in done
    assert ("steward01", "close", str(finding), "denied") in rows  # the refused close too
    _ = healthy


def test_the_pages_show_the_card_a_rule_and_a_finding(center, sign_in):
    app, member, _ = center
    with TestClient(app) as client:
        sign_in(client, "steward01", roles=[Role.AUDITOR], session=True)
        assert 'href="/data/quality"' in client.get("/data/catalog").text
        empty = client.get("/data/quality")
        assert empty.status_code == 200 and "尚未进行数据质量检查" in empty.text
        r = client.post("/data/quality/scan", follow_redirects=False)
        assert r.status_code == 303
        card = client.get("/data/quality")
        assert card.status_code == 200
        assert 'href="/data/quality/rules/Q-CON-ID-BIRTH"' in card.text and "data-chart" in card.text
        rule = client.get("/data/quality/rules/Q-CON-ID-BIRTH")
        assert rule.status_code == 200 and member.account_no in rule.text
        with read_transaction(app.state.engine) as conn:
            finding = conn.scalar(text("SELECT id FROM quality_finding WHERE rule_id = 'Q-CON-ID-BIRTH'"))
        page = client.get(f"/data/quality/findings/{finding}")
        assert page.status_code == 200 and "提交更正（须复核）" in page.text and "复扫该规则" in page.text
        assert 'id="close-form"' not in page.text  # not closable before the rule passes
        assert f'href="/members/{member.account_no}"' in page.text  # the object, for whom it opens
        r = client.post(
            f"/data/quality/findings/{finding}/notes", data={"note": "已联系单位"}, follow_redirects=False
        )
        assert r.status_code == 303
        assert "已联系单位" in client.get(f"/data/quality/findings/{finding}").text
        refused = client.post(f"/data/quality/findings/{finding}/close", data={}, follow_redirects=False)
        assert refused.status_code == 409 and "尚未通过复扫" in refused.text
    with TestClient(app) as other:
        sign_in(other, "teller09", roles=[Role.TELLER], session=True)
        assert other.get("/data/quality").status_code == 403
        assert 'href="/data/quality"' not in other.get("/").text
    with TestClient(app) as reader:
        sign_in(reader, "super05", roles=[Role.SUPERVISOR], session=True)  # reads the catalog, not quality
        assert reader.get("/data/catalog").status_code == 200
        assert 'href="/data/quality"' not in reader.get("/data/catalog").text
