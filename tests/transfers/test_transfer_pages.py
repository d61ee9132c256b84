"""Transfers over HTTP: the member applies through the API at the new center and follows his
transfer on its page; a reviewer at the old center approves on the transfer's page; each page
shows only what the viewer may open, in Chinese."""

from __future__ import annotations

import re

import pytest
from transfer_support import NEW, OLD, Network, two_cities

from hpf.access.permissions import Role
from signing_in import add_staff, bearer, use_session


@pytest.fixture
def net(tmp_path) -> Network:
    return two_cities(tmp_path)


def test_apply_by_api_approve_on_the_page_and_follow_it_as_the_member(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    member = new.people["zhang"]
    payload = {"from_center": OLD, "old_account_no": old.members["zhang"].account_no}
    with new.use():
        applied = new.client.post(
            "/api/v1/applications",
            json={"item_code": "AC-TRANSFER-IN", "payload": payload, "complete": True},
            headers=bearer(new.app, member),
        )
    assert applied.status_code == 201, applied.text
    assert applied.json()["state"] == "approved"
    net.run()

    reviewer = add_staff(old.app, "oldreviewer", [Role.REVIEWER])
    with old.use():
        use_session(old.client, reviewer)
        listed = old.client.get("/transfers")
        assert listed.status_code == 200 and "联系函已接收，待审核" in listed.text
        transfer_id = int(re.search(r'href="/transfers/(\d+)"', listed.text).group(1))
        page = old.client.get(f"/transfers/{transfer_id}")
        assert "同意转出" in page.text and "账户已封存" in page.text
        done = old.client.post(f"/transfers/{transfer_id}/approve", follow_redirects=False)
        assert done.status_code == 303
        again = old.client.get(f"/transfers/{transfer_id}")
        assert "已转出，等待转入地确认" in again.text and "同意转出" not in again.text
    net.run()
    old.pay()
    new.take_bank_notices()
    net.run()

    with new.use():
        use_session(new.client, member)
        mine = new.client.get("/transfers")
        assert mine.status_code == 200 and "已办结" in mine.text and "5,768.40" in mine.text
        own_id = int(re.search(r'href="/transfers/(\d+)"', mine.text).group(1))
        detail = new.client.get(f"/transfers/{own_id}")
        assert detail.status_code == 200
        assert "转入的缴存信息" in detail.text and "3个月" in detail.text and "BDC905" in detail.text
        assert "转出条件审核" not in detail.text  # the old center's checks are staff's
        api = new.client.get(f"/api/v1/transfers/{own_id}").json()
        assert (api["state"], api["amount_fen"], api["platform_status"]) == ("completed", 576_840, "00")
        messages = new.client.get(f"/api/v1/transfers/{own_id}/messages").json()
        assert {m["type"] for m in messages} == {"BDC901", "BDC905"}
    with old.use():
        assert "已办结" in old.client.get(f"/transfers/{transfer_id}").text


def test_a_member_sees_only_his_own_transfers_and_cannot_decide(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    payload = {"from_center": OLD, "old_account_no": old.members["zhang"].account_no}
    with new.use():
        new.client.post(
            "/api/v1/applications",
            json={"item_code": "AC-TRANSFER-IN", "payload": payload, "complete": True},
            headers=bearer(new.app, new.people["zhang"]),
        )
    net.run()
    with old.use():  # at the old center 张三 is a member too: the letter there is not his to see
        use_session(old.client, old.people["zhang"])
        assert "暂无转移接续业务" in old.client.get("/transfers").text
        assert old.client.get("/transfers/1").status_code == 404
        refused = old.client.post("/transfers/1/approve", follow_redirects=False)
        assert refused.status_code == 403
