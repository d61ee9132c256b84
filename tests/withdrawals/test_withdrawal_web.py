"""The self-service overview of withdrawals: API and page, scoped to the member's own account."""

from __future__ import annotations

from typing import Any

import pytest

from auth_center import AuthCenter, build_auth_center
from hpf.access.permissions import Role
from signing_in import bearer, use_session


@pytest.fixture
def center(engine: Any) -> AuthCenter:
    return build_auth_center(engine)


def test_a_member_sees_what_they_qualify_for(center: AuthCenter) -> None:
    url = f"/api/v1/members/{center.member.account_no}/withdrawals/eligibility"
    with center.client() as client:
        mine = client.get(url, headers=bearer(center.app, center.principals[Role.MEMBER]))
        assert mine.status_code == 200, mine.text
        by_reason = {r["reason"]: r for r in mine.json()}
        # every reason but 职工死亡 (08), which only an heir claims: not offered to the member
        assert len(by_reason) == 9 and "08" not in by_reason
        # 100.00 yuan credited, two months deposited: purchase yes (up to the balance), rent not yet
        assert by_reason["01"]["may_apply"] and by_reason["01"]["up_to_fen"] == 10_000
        rent = by_reason["07"]
        assert not rent["may_apply"] and rent["blocking"][0]["code"] == "withdrawal.rent_deposit_months"
        staff = client.get(url, headers=bearer(center.app, center.principals[Role.TELLER])).json()
        death = {r["reason"]: r for r in staff}["08"]  # the counter sees it, for the heirs
        assert death["closes_account"] and death["needs"]
        other = f"/api/v1/members/{center.stranger.account_no}/withdrawals/eligibility"
        assert (
            client.get(other, headers=bearer(center.app, center.principals[Role.MEMBER])).status_code == 404
        )
        assert client.get(url, headers=bearer(center.app, center.principals[Role.TELLER])).status_code == 200
        assert client.get(url, headers=bearer(center.app, center.principals[Role.PARTNER])).status_code == 403


def test_the_overview_page_reads_on_a_phone(center: AuthCenter) -> None:
    with center.client() as client:
        use_session(client, center.principals[Role.MEMBER])
        page = client.get(f"/members/{center.member.account_no}/withdrawals")
    assert page.status_code == 200
    html = page.text
    assert "可办理的提取" in html and 'id="reason-07"' in html and "须连续足额缴存满3个月" in html
    assert 'data-label="能否申请"' in html  # the stacked table of the phone layout


def test_a_member_is_not_offered_a_death_withdrawal_for_himself_and_sees_the_interest(
    center: AuthCenter,
) -> None:
    url = f"/members/{center.member.account_no}/withdrawals"
    with center.client() as client:
        use_session(client, center.principals[Role.MEMBER])
        mine = client.get(url).text
        client.cookies.clear()
        use_session(client, center.principals[Role.TELLER])
        counter = client.get(url).text
    assert 'id="reason-08"' not in mine and "职工死亡" not in mine  # only an heir claims it
    assert 'id="reason-08"' in counter  # the teller serves the heir at the counter
    row = mine.split('id="reason-04"')[1].split("</tr>")[0]  # a closing withdrawal: balance + interest
    assert "账户余额 100.00元 ＋ 结息至今日的利息" in row and "＝" in row
