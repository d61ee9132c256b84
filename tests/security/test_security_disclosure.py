"""Masking by role, audited reads and exports, and the security alerts (G3, G4, masking)."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from auth_center import AuthCenter, build_auth_center
from factories import make_resident_id
from hpf.access.permissions import Role
from hpf.audit import trail as audit
from hpf.db.engine import read_transaction, write_transaction
from hpf.disclosure.alerts import after_sign_in, security_alert
from hpf.kernel.clock import CHINA_TZ
from hpf.kernel.context import Context
from hpf.policy import service as policy
from hpf.protection.masking import mask
from signing_in import PASSWORD, bearer


@pytest.fixture
def center(engine: Any) -> AuthCenter:
    return build_auth_center(engine)


def _as(center: AuthCenter, role: Role) -> dict[str, str]:
    return bearer(center.app, center.principals[role])


def _audit_rows(center: AuthCenter) -> list[dict[str, Any]]:
    with read_transaction(center.engine) as conn:
        return [
            dict(r) for r in conn.execute(select(audit.audit_log).order_by(audit.audit_log.c.id)).mappings()
        ]


def _alerts(center: AuthCenter) -> list[dict[str, Any]]:
    with read_transaction(center.engine) as conn:
        return [
            dict(r) for r in conn.execute(select(security_alert).order_by(security_alert.c.id)).mappings()
        ]


def _set_policy(center: AuthCenter, key: str, value: object) -> None:
    ctx = Context("admin01", center.clock, "990001", source="test")
    with write_transaction(center.engine) as conn:
        policy.schedule_change(conn, ctx, key, center.clock.today(), value, "测试阈值")


def test_every_role_sees_the_member_masked_and_every_read_is_audited(center: AuthCenter) -> None:
    a = center.member
    with center.client() as client:
        for role in (Role.TELLER, Role.MEMBER, Role.EMPLOYER):
            r = client.get(f"/api/v1/members/{a.account_no}", headers=_as(center, role))
            assert r.status_code == 200, (role, r.text)
            body = r.json()
            assert body["resident_id"] == mask(a.resident_id, "resident_id") != a.resident_id
            assert body["phone"] == "139****9001" and body["name"] == "张三"
            assert body["birth_date"].endswith("-**-**")
    reads = [r for r in _audit_rows(center) if r["action"] == "member.read"]
    assert [(r["actor"], r["role"], r["object_id"], r["purpose"], r["channel"]) for r in reads] == [
        ("teller01", "teller", str(a.id), "业务办理", "api"),
        (a.account_no, "member", str(a.id), "本人查询", "api"),
        (center.employer.uscc.lower(), "employer", str(a.id), "单位查询本单位职工信息", "api"),
    ]


def test_unmask_needs_the_permission_and_a_purpose(center: AuthCenter) -> None:
    url = f"/api/v1/members/{center.member.account_no}"
    with center.client() as client:
        refused = client.get(
            url, params={"unmask": True, "purpose": "看看"}, headers=_as(center, Role.TELLER)
        )
        assert refused.status_code == 403 and refused.json()["code"] == "auth.unmask_forbidden"
        no_why = client.get(url, params={"unmask": True}, headers=_as(center, Role.REVIEWER))
        assert no_why.status_code == 422 and no_why.json()["code"] == "audit.purpose_required"
        shown = client.get(
            url, params={"unmask": True, "purpose": "核对提取申请"}, headers=_as(center, Role.REVIEWER)
        )
        assert shown.status_code == 200 and shown.json()["resident_id"] == center.member.resident_id
    rows = _audit_rows(center)
    assert [(r["actor"], r["action"], r["outcome"]) for r in rows] == [
        ("teller01", "unmask", "denied"),
        ("reviewer01", "unmask", "denied"),
        ("reviewer01", "member.unmask", "ok"),
    ]
    assert rows[-1]["purpose"] == "核对提取申请"
    assert audit.verify_database(center.engine) == []


def test_searches_audit_one_row_per_member_shown(center: AuthCenter) -> None:
    with center.client() as client:
        found = client.get("/api/v1/members", params={"q": "张"}, headers=_as(center, Role.TELLER)).json()
        by_id = client.get(
            "/api/v1/members", params={"q": center.stranger.resident_id}, headers=_as(center, Role.TELLER)
        ).json()
    assert [m["name"] for m in found] == ["张三"] and [m["name"] for m in by_id] == ["王五"]
    objects = [r["object_id"] for r in _audit_rows(center) if r["action"] == "member.read"]
    assert objects == [str(center.member.id), str(center.stranger.id)]


def test_export_is_masked_audited_once_and_alerts_when_bulk(center: AuthCenter) -> None:
    _set_policy(center, "alert_export_rows", 2)
    url = f"/api/v1/employers/{center.employer.account_no}/members/export"
    with center.client() as client:
        r = client.get(url, headers=_as(center, Role.EMPLOYER))
        assert client.get(f"/api/v1/employers/{center.other_employer.account_no}/members/export",
                          headers=_as(center, Role.EMPLOYER)).status_code == 404  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["个人账号", "姓名", "证件号码", "手机号码"] and len(rows) == 3
    assert {row[2] for row in rows[1:]} == {
        mask(center.member.resident_id, "resident_id"),
        mask(center.colleague.resident_id, "resident_id"),
    }
    assert center.member.resident_id.encode() not in r.content
    exports = [x for x in _audit_rows(center) if x["action"] == "export"]
    assert len(exports) == 1 and exports[0]["detail"]["rows"] == 2
    assert exports[0]["detail"]["sha256"] == hashlib.sha256(r.content).hexdigest()
    (alert,) = _alerts(center)
    assert alert["kind"] == "bulk_export" and alert["subject"] == center.employer.uscc.lower()


def test_reading_many_members_raises_one_alert(center: AuthCenter) -> None:
    _set_policy(center, "alert_member_reads", 3)
    headers = _as(center, Role.TELLER)
    with center.client() as client:
        for m in (center.member, center.colleague, center.stranger, center.member, center.colleague):
            assert client.get(f"/api/v1/members/{m.account_no}", headers=headers).status_code == 200
    (alert,) = _alerts(center)  # the burst raises one alert, not three
    assert (alert["kind"], alert["subject"], alert["state"]) == ("bulk_reads", "teller01", "open")
    assert alert["detail"]["reads"] == 3


def _sign_in(client: Any, login: str, password: str, ip_headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/v1/auth/token", json={"login": login, "password": password})


def test_failed_sign_ins_are_audited_and_alerted(center: AuthCenter) -> None:
    _set_policy(center, "alert_failed_sign_ins", 3)
    with center.client() as client:
        for _ in range(4):
            assert _sign_in(client, "teller01", "wrong-password-1").status_code == 401
        unknown = _sign_in(client, make_resident_id(77), "x")  # nobody's ID number
        assert unknown.status_code == 401
    rows = [r for r in _audit_rows(center) if r["action"] == "sign_in"]
    assert [r["outcome"] for r in rows] == ["denied"] * 5
    assert rows[-1]["object_id"] == mask(make_resident_id(77), "resident_id")  # no ID in the log
    (alert,) = _alerts(center)
    assert alert["kind"] == "sign_in_failures" and alert["subject"] == "teller01"


def test_privileged_sign_ins_off_hours_and_from_a_new_address(center: AuthCenter) -> None:
    def at(moment: datetime) -> None:
        center.clock.set(moment.astimezone(CHINA_TZ).date())
        center.clock._wall = moment

    china = timedelta(hours=8)
    at(datetime(2025, 3, 16, 10, 0, tzinfo=UTC) - china)  # Sunday 10:00 in China
    with center.client() as client:
        assert _sign_in(client, "teller01", PASSWORD).status_code == 200  # not privileged: no alert
    assert _alerts(center) == []
    # The admin's sign-ins (its TOTP step is covered elsewhere): record them as the API does.
    ctx = Context("admin01", center.clock, "990001", source="api")
    with write_transaction(center.engine) as conn:
        for ip in ("10.0.0.1", "10.0.0.1", "10.9.9.9"):
            audit.append(conn, ctx, role="admin", source_ip=ip, action="sign_in", object_type="login",
                         object_id="admin01", purpose="登录")  # fmt: skip
            after_sign_in(conn, ctx, login="admin01", ok=True, roles=[Role.ADMIN], source_ip=ip)
    kinds = [(a["kind"], a["source_ip"]) for a in _alerts(center)]
    # Sunday: off hours (once per window); the first address is not "new" (nothing before it)
    assert kinds == [("off_hours", "10.0.0.1"), ("new_address", "10.9.9.9")]


def test_alerts_page_and_api_close_with_a_note(center: AuthCenter) -> None:
    _set_policy(center, "alert_member_reads", 1)
    with center.client() as client:
        client.get(f"/api/v1/members/{center.member.account_no}", headers=_as(center, Role.TELLER))
        admin = _as(center, Role.ADMIN)
        assert client.get("/api/v1/security/alerts", headers=_as(center, Role.TELLER)).status_code == 403
        (alert,) = client.get("/api/v1/security/alerts", headers=admin).json()
        assert alert["kind_zh"] == "短时间内大量查阅职工信息"
        empty = client.post(f"/api/v1/security/alerts/{alert['id']}/close", json={"note": " "}, headers=admin)
        assert empty.status_code == 422
        done = client.post(
            f"/api/v1/security/alerts/{alert['id']}/close", json={"note": "核实为正常业务"}, headers=admin
        )
        assert (
            done.status_code == 200
            and done.json()["state"] == "closed"
            and done.json()["closed_by"] == "admin01"
        )
        again = client.post(f"/api/v1/security/alerts/{alert['id']}/close", json={"note": "x"}, headers=admin)
        assert again.status_code == 409
        assert client.get("/api/v1/security/alerts", headers=admin).json() == []


def test_business_day_is_used_for_working_hours() -> None:
    from hpf.kernel.workdays import is_working_day

    assert not is_working_day(date(2025, 10, 1))  # National Day
    assert is_working_day(date(2025, 9, 28))  # a Sunday made a working day (调休)
    assert is_working_day(date(2031, 3, 3)) and not is_working_day(date(2031, 3, 2))  # fallback


def test_a_list_and_a_prefilled_template_are_audited_as_one_row_each(center: AuthCenter) -> None:
    headers = _as(center, Role.EMPLOYER)
    with center.client() as client:
        assert client.get(f"/api/v1/remittances/{center.remittance.id}", headers=headers).status_code == 200
        template = client.get(
            f"/api/v1/employers/{center.employer.account_no}/remittance-template.csv", headers=headers
        )
        assert template.status_code == 200
    rows = [(r["action"], r["object_type"], r["detail"]["rows"]) for r in _audit_rows(center)]
    assert rows == [("remittance.read", "remittance", 2), ("export", "employer", 2)]
    assert _audit_rows(center)[-1]["detail"]["sha256"] == hashlib.sha256(template.content).hexdigest()


def test_the_alerts_page_lists_and_closes(center: AuthCenter) -> None:
    from signing_in import use_session

    _set_policy(center, "alert_member_reads", 1)
    with center.client() as client:
        client.get(f"/api/v1/members/{center.member.account_no}", headers=_as(center, Role.TELLER))
        session = use_session(client, center.principals[Role.ADMIN])
        page = client.get("/security/alerts")
        assert page.status_code == 200 and "短时间内大量查阅职工信息" in page.text and "teller01" in page.text
        (alert,) = _alerts(center)
        empty = client.post(f"/security/alerts/{alert['id']}/close", data={"csrf_token": session.csrf_token})
        assert empty.status_code == 422 and "请填写处理说明" in empty.text
        done = client.post(
            f"/security/alerts/{alert['id']}/close",
            data={"csrf_token": session.csrf_token, "note": "已核实"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert "暂无待处理告警" in client.get("/security/alerts").text


def test_every_change_is_audited_with_its_outcome(center: AuthCenter) -> None:
    no = center.member.account_no
    headers = {**_as(center, Role.TELLER), "X-HPF-Purpose": quote("职工本人申请变更手机号")}
    with center.client() as client:
        ok = client.patch(f"/api/v1/members/{no}", json={"changes": {"phone": "13700137000"}, "reason": "换号"},
                          headers=headers)  # fmt: skip
        bad = client.patch(f"/api/v1/members/{no}", json={"changes": {"phone": "12"}, "reason": "换号"},
                           headers=headers)  # fmt: skip
        refused = client.post(f"/api/v1/members/{no}/freeze", json={"reason": "司法冻结"}, headers=headers)
    assert (ok.status_code, bad.status_code, refused.status_code) == (200, 422, 403)
    changes = [r for r in _audit_rows(center) if r["detail"] and r["detail"].get("method")]
    assert [
        (r["action"], r["object_type"], r["object_id"], r["outcome"], r["detail"]["status"]) for r in changes
    ] == [
        ("change_member", "account_no", no, "ok", 200),
        ("change_member", "account_no", no, "denied", 422),
        ("freeze_member", "account_no", no, "denied", 403),
    ]
    assert {r["purpose"] for r in changes} == {"职工本人申请变更手机号"} and changes[0]["role"] == "teller"
    assert audit.verify_database(center.engine) == []
