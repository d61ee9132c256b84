"""A cross-center transfer in a real browser (Debian's Chromium through Playwright): 张三 applies
at Hangzhou's self-service page (/services/AC-TRANSFER-IN), a reviewer at Shenzhen approves on
/transfers/{id}, the payment run pays, and 张三 sees the money (5,768.40 yuan: 5,760.00 of
principal and 8.40 of interest, ``test_transfer_end_to_end``'s figures) and the three carried
months on his transfer's page and his account page. Both centers' applications are served by
uvicorn; the hub is in process; the messages go through its real endpoints (``transfer_support``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from transfer_support import NEW, OLD, Center, Network, two_cities

from hpf.access.permissions import Role
from hpf.db.engine import write_transaction
from hpf.identity import sessions
from hpf.kernel.context import Context
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, serving
from signing_in import add_staff

pytestmark = BROWSER_MARKS
LAPTOP = {"width": 1366, "height": 768}


def _signed_in(browser: Any, center: Center, base: str, who: Any) -> Any:
    """A page of a browser context signed in as ``who`` at ``center`` (a page session's cookie)."""
    ctx = Context(actor="test", clock=center.clock, center_code=center.code, source="test")
    with write_transaction(center.engine) as conn:
        token, _ = sessions.start_session(conn, ctx, who.id)
    context = browser.new_context(locale="zh-CN", viewport=LAPTOP)
    context.add_cookies([{"name": sessions.COOKIE_NAME, "value": token, "url": base}])
    return context.new_page()


def test_a_member_applies_the_old_center_approves_and_the_member_sees_money_and_months(
    tmp_path: Path,
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    net: Network = two_cities(tmp_path)
    new, old = net.centers[NEW], net.centers[OLD]
    reviewer = add_staff(old.app, "oldreviewer", [Role.REVIEWER])
    with serving(new.app) as new_base, serving(old.app) as old_base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # At Hangzhou: 张三 fills the self-service form (the new center's hub link in use).
            with new.use():
                member = _signed_in(browser, new, new_base, new.people["zhang"])
                member.goto(f"{new_base}/services/AC-TRANSFER-IN")
                member.locator("#f-from_center").fill(OLD)
                member.locator("#f-old_account_no").fill(old.members["zhang"].account_no)
                member.locator("#f-old_employer_name").fill("深圳某公司")
                member.get_by_role("button", name="提交申请").click()
                member.wait_for_url(re.compile(r".*/applications/\d+$"))
                expect(member.locator("main")).to_contain_text("已提交，待受理")
                member.get_by_role("button", name="材料已齐，提交受理").click()  # no materials are asked
                expect(member.locator("main h1, main h2").first).to_be_visible()
                expect(member.locator("main")).to_contain_text("已准予，办理中")  # the letter is on its way
            net.run()  # the letter (BDC901): Hangzhou → hub → Shenzhen

            # At Shenzhen: the reviewer opens the letter and approves.
            with old.use():
                staff = _signed_in(browser, old, old_base, reviewer)
                staff.goto(f"{old_base}/transfers")
                expect(staff.locator("main")).to_contain_text("联系函已接收，待审核")
                staff.locator('a[href^="/transfers/"]').filter(has_text=re.compile(r"\d{16}")).first.click()
                staff.wait_for_url(re.compile(r".*/transfers/\d+$"))
                expect(staff.locator("main")).to_contain_text("账户已封存")
                staff.get_by_role("button", name="同意转出").click()
                expect(staff.locator("main")).to_contain_text("已转出，等待转入地确认")
                staff.screenshot(path=str(tmp_path / "old-center-approved.png"), full_page=True)
            net.run()  # the answer and the BDC905: Shenzhen → hub → Hangzhou
            assert old.pay() == {"paid": 1}  # the payment run
            assert new.take_bank_notices() == ["unmatched"]  # the money in, claimed by the transfer
            net.run()  # the BDC905's answer back to Shenzhen

            # At Hangzhou again: 张三 sees the money and the months carried.
            with new.use():
                member.goto(f"{new_base}/transfers")
                expect(member.locator("main")).to_contain_text("已办结")
                expect(member.locator("main")).to_contain_text("5,768.40")
                member.locator('a[href^="/transfers/"]').filter(has_text=re.compile(r"\d{16}")).first.click()
                member.wait_for_url(re.compile(r".*/transfers/\d+$"))
                main = member.locator("main")
                expect(main).to_contain_text("已办结")
                expect(main).to_contain_text("5,768.40")
                expect(main).to_contain_text("转入的缴存信息")
                expect(main).to_contain_text("3个月")
                member.screenshot(path=str(tmp_path / "member-transfer.png"), full_page=True)
                member.goto(f"{new_base}/members/{new.members['zhang'].account_no}")
                expect(member.locator("main")).to_contain_text("5,768.40")
                expect(member.locator("main")).to_contain_text(
                    "外部转入"
                )  # the credit's line, with its letter
                member.screenshot(path=str(tmp_path / "member-account.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "member-transfer.png").exists()
    assert new.check() == [] and old.check() == []
