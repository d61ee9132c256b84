"""The center's supervision pages (decision 0040), in Chinese: the problems the hub dispatched,
one problem's steps and forms (accept, submit with a file), the credit list and its forms."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_supervision_network import GOOD, LOAN, Network, report

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.db.engine import read_transaction
from hpf.kernel.clock import FixedClock
from hpf.settings import Settings
from hpf.supervision import service as supervision
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
