"""The account page shows the history a transfer carried in (decision 0043): the old center,
the period and the months of deposit before the transfer, the money — to staff and to the member
on his self-service page (the same page, ``/members/{account_no}``), in Chinese, in a table that
stacks its cells at phone width."""

from __future__ import annotations

import re

import pytest
from test_transfer_end_to_end import apply, only_transfer
from transfer_support import NEW, OLD, Network, two_cities

from hpf.access.permissions import Role
from hpf.transfers import process
from signing_in import add_staff, use_session


@pytest.fixture
def net(tmp_path) -> Network:
    return two_cities(tmp_path)


def carried_section(html: str) -> str:
    found = re.search(r'<section class="panel" id="carried-in".*?</section>', html, re.S)
    assert found, "no carried-in section"
    return found.group(0)


def test_the_account_page_shows_the_months_carried_in(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    account_no = new.members["zhang"].account_no
    teller = add_staff(new.app, "newteller", [Role.TELLER])
    apply(net)
    net.run()
    with new.use():  # not yet carried: nothing to show
        use_session(new.client, teller)
        assert 'id="carried-in"' not in new.client.get(f"/members/{account_no}").text
    with old.write() as conn:
        process.approve(conn, old.ctx, only_transfer(old).id)
    net.run()
    old.pay()
    new.take_bank_notices()
    done = only_transfer(new)
    assert done.state == "completed"

    with new.read() as conn:
        (carried,) = process.carried_in(conn, new.members["zhang"].id)
    assert (carried.center, carried.center_name, carried.months) == (OLD, "深圳市住房公积金管理中心", 3)
    assert (carried.first_month, carried.last_month, carried.amount_fen) == ("2025-01", "2025-03", 576_840)

    with new.use():
        staff_page = new.client.get(f"/members/{account_no}")
        assert staff_page.status_code == 200
        section = carried_section(staff_page.text)
        assert "异地转入缴存记录" in section and "深圳市住房公积金管理中心" in section
        assert "2025-01 至 2025-03" in section and "3个月" in section and "5,768.40" in section
        assert f'href="/transfers/{done.id}"' in section and "2025-04-15" in section
        # phone width: each cell names its column when the table stacks (the "stack" table)
        assert 'class="data stack"' in section and 'data-label="转入前缴存月数"' in section
        assert not re.search(r"[A-Za-z]{4,}", re.sub(r"<[^>]+>", "", section))  # no English shown

        new.client.cookies.clear()
        use_session(new.client, new.people["zhang"])  # the member's own account page
        own = new.client.get("/self", follow_redirects=True)
        assert own.status_code == 200 and str(own.url).endswith(f"/members/{account_no}")
        mine = carried_section(own.text)
        assert "转入前缴存月数" in mine and "深圳市住房公积金管理中心" in mine and "3个月" in mine
        assert f'href="/transfers/{done.id}"' in mine  # his own transfer opens for him
    with old.use():  # the old center's page of the (closed) account shows no transfer in
        use_session(old.client, add_staff(old.app, "oldteller", [Role.TELLER]))
        page = old.client.get(f"/members/{old.members['zhang'].account_no}")
        assert page.status_code == 200 and 'id="carried-in"' not in page.text
