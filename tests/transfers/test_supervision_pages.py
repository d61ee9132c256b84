"""The center's supervision pages (decision 0040), in Chinese: the problems the hub dispatched,
one problem's steps and forms (accept, submit with a file), the credit list and its forms."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_supervision_network import GOOD, LOAN, PASSWORD, Network, report

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.db.engine import read_transaction, write_transaction
from hpf.hub.supervision.tables import hub_problem
from hpf.kernel.clock import FixedClock
from hpf.oversight import service as supervision
from hpf.settings import Settings
from hpf.transfers.tables import exchanged_message
from signing_in import sign_in


@pytest.fixture
def net(tmp_path):
    network = Network(tmp_path)
    yield network
    network.a.engine.dispose()
    network.b.engine.dispose()


def center_a_app(net: Network, tmp_path) -> TestClient:
    a = net.a
    keys = a.deps.hub_link.hub_keys
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/330100.sqlite3", env="development", center_code="330100",
        hub_url="http://hub.test", hub_code="000000", hub_public_keys=f"{keys.sign}:{keys.encrypt}",
        message_key_file=str(tmp_path / "330100-keys.json"),
    )  # fmt: skip
    app = create_app(
        settings, engine=a.engine, clock=FixedClock(a.center.clock.today()), deliver_messages=False
    )
    return TestClient(app, follow_redirects=False)


def test_problem_and_credit_pages_and_forms_in_chinese(net, tmp_path):
    report(net, "2025-02", {"330100": GOOD})
    report(net, "2025-03", {"330100": {**GOOD, LOAN: "88"}})
    net.round()
    with read_transaction(net.a.engine) as conn:
        (problem,) = supervision.problems(conn)
    client = center_a_app(net, tmp_path)
    sign_in(client, "auditor01", [Role.AUDITOR], session=True)
    page = client.get("/supervision")
    assert page.status_code == 200, page.text
    assert "平台交办的问题（1）" in page.text and "个贷率超过警戒线" in page.text
    assert 'id="credit-form"' in page.text
    detail = client.get(f"/supervision/problems/{problem.id}")
    assert "接收并开始整改" in detail.text and "平台交办" in detail.text

    assert (
        client.post(f"/supervision/problems/{problem.id}/accept", data={"note": "已收到"}).status_code == 303
    )
    done = client.post(
        f"/supervision/problems/{problem.id}/submit",
        data={"note": "已压降个贷率"},
        files={"file": ("整改报告.pdf", b"%PDF-1.7 report", "application/pdf")},
    )
    assert done.status_code == 303, done.text
    detail = client.get(f"/supervision/problems/{problem.id}").text
    assert "已报送待核验" in detail and "整改报告.pdf" in detail
    text = re.sub(r"<[^>]+>", "", detail)
    assert not re.search(r"\b(dispatched|rectifying|submitted|accepted)\b", text)
    with read_transaction(net.a.engine) as conn:
        sent = conn.scalars(
            select(exchanged_message.c.type).where(
                exchanged_message.c.direction == "out", exchanged_message.c.type == "SUP202"
            )
        ).all()
    assert len(sent) == 2  # accepted, submitted: waiting in the outbox

    # a refusal is a Chinese page and changes nothing
    refused = client.post(f"/supervision/problems/{problem.id}/accept", data={"note": ""})
    assert refused.status_code == 409 and "问题当前状态不能办理此步骤" in refused.text

    member_id = net.a.center.members["a"].id
    listed = client.post(
        "/supervision/credit", data={"grounds": "P1", "subject_id": member_id, "note": "骗提"}
    )
    assert listed.status_code == 303, listed.text
    page = client.get("/supervision").text
    assert "以欺骗手段违法提取或骗取住房公积金贷款" in page and "登记申诉" in page

    # a supervisor of the center reads but cannot act
    viewer = center_a_app(net, tmp_path)
    sign_in(viewer, "watcher", [Role.SUPERVISOR], session=True)
    assert viewer.get("/supervision").status_code == 200
    assert 'id="credit-form"' not in viewer.get("/supervision").text
    assert viewer.post(f"/supervision/problems/{problem.id}/accept").status_code == 403


def hub_sign_in(net: Network, login: str) -> tuple[TestClient, str]:
    client = TestClient(net.hub.app, follow_redirects=False)
    signed = client.post("/login", data={"login": login, "password": PASSWORD})
    assert signed.status_code == 303, signed.text
    home = client.get("/supervision")
    assert home.status_code == 200, home.text
    return client, home.text.split('name="csrf_token" value="')[1].split('"')[0]


def test_hub_supervisor_pages_drill_down_and_act_within_their_scope(net):
    a = net.a
    report(net, "2025-02", {"330100": GOOD, "440300": GOOD})
    report(net, "2025-03", {"330100": {**GOOD, LOAN: "88"}, "440300": GOOD})
    net.round()
    sup1, csrf = hub_sign_in(net, "sup1")
    home = sup1.get("/supervision").text
    assert '监督范围：<strong id="scope">全国</strong>' in home
    assert 'id="class-440300"' in home and 'id="class-330100"' in home
    assert home.index('id="class-440300"') < home.index('id="class-330100"')  # ranked: 100 before 70
    assert (
        "个贷率超过警戒线" in home
        and "data-chart=" in home
        and "/static/vendor/echarts-6.1.0/echarts.min.js" in home
    )
    text = re.sub(r"<[^>]+>", "", home)
    assert not re.search(r"\b(dispatched|found|warning|beyond)\b", text)
    province = sup1.get("/supervision", params={"month": "2025-03", "province": "广东"}).text
    assert 'id="class-440300"' in province and 'id="class-330100"' not in province
    center = sup1.get("/supervision/centers/330100").text
    assert "逐月分类" in center and "住房公积金个贷率" in center and 'id="chart-trend-0302020301"' in center
    indicator = sup1.get("/supervision/indicators/0302020301", params={"month": "2025-03"}).text
    assert "各中心分布" in indicator and "超出警戒线" in indicator and "88" in indicator

    with read_transaction(net.hub.engine) as conn:
        (problem_id,) = conn.scalars(select(hub_problem.c.id)).all()
    page = sup1.get(f"/supervision/problems/{problem_id}").text
    assert "已交办" in page and "交办" in page and 'id="form-pass"' not in page  # nothing to review yet

    # the center answers; sup1 sends back, then passes; sup1 cannot verify, sup2 can
    a.act()
    with write_transaction(a.engine) as conn:
        (mine,) = supervision.problems(conn)
        supervision.accept(conn, a.ctx, mine.id)
        supervision.submit(conn, a.ctx, mine.id, "已整改", [("报告.pdf", b"%PDF")])
    net.round()
    assert 'id="form-pass"' in sup1.get(f"/supervision/problems/{problem_id}").text
    stale = sup1.post(
        f"/supervision/problems/{problem_id}/send_back", data={"csrf_token": "x", "note": "补充"}
    )
    assert stale.status_code == 403 and stale.headers["X-HPF-Error"] == "auth.csrf"
    back = sup1.post(
        f"/supervision/problems/{problem_id}/send_back", data={"csrf_token": csrf, "note": "补充测算"}
    )
    assert back.status_code == 303
    net.round()
    a.act()
    with write_transaction(a.engine) as conn:
        supervision.submit(conn, a.ctx, mine.id, "已补充", [("测算.xlsx", b"PK")])
    net.round()
    assert sup1.post(f"/supervision/problems/{problem_id}/pass", data={"csrf_token": csrf}).status_code == 303
    own = sup1.post(f"/supervision/problems/{problem_id}/verify", data={"csrf_token": csrf})
    assert own.status_code == 403 and "初审人不能复核销号同一问题" in own.text
    sup2, csrf2 = hub_sign_in(net, "sup2")
    assert (
        sup2.post(f"/supervision/problems/{problem_id}/verify", data={"csrf_token": csrf2}).status_code == 303
    )
    closed = sup2.get(f"/supervision/problems/{problem_id}").text
    assert "已销号" in closed and "退回重改" in closed and "复核销号" in closed

    # scope: the 广东 supervisor sees B only, and A's problem is refused
    gd, _ = hub_sign_in(net, "gd1")
    gd_home = gd.get("/supervision").text
    assert 'id="class-440300"' in gd_home and 'id="class-330100"' not in gd_home
    assert gd.get(f"/supervision/problems/{problem_id}").status_code == 403
    assert gd.get("/supervision/centers/330100").status_code == 403
    # hub staff who are not supervisors are refused; anonymous visitors sign in first
    anonymous = TestClient(net.hub.app, follow_redirects=False)
    assert anonymous.get("/supervision").headers["location"] == "/login"
    assert sup1.get("/supervision/credit").status_code == 200
