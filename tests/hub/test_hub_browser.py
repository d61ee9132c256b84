"""The hub's admin page in a real browser, at 375 px and 1366 px: staff sign in, see the
registered centers and the latest messages in Chinese, with nothing sideways and nothing the
Content-Security-Policy refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpf.db.engine import write_transaction
from hpf.hub import staff
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.messages.bodies import CenterCodeQuery, StatusQuery
from hpf.messages.keys import KeyPair
from hub_support import HUB_CODE, HUB_KEYS, compose, delivery, make_hub, now
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, screenshot_dir, serving

pytestmark = BROWSER_MARKS
PASSWORD = "Relay-Desk-2026-安全"
WIDTH_JS = "() => [document.scrollingElement.scrollWidth, window.innerWidth]"


@pytest.mark.parametrize("screen", VIEWPORTS, ids=list(VIEWPORTS))
def test_hub_staff_page(tmp_path: Path, screen: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    hub = make_hub(tmp_path)
    a, b = KeyPair.generate(), KeyPair.generate()
    hub.register("330100", a, "http://127.0.0.1:8001", name="杭州住房公积金管理中心")
    hub.register("440300", b, "http://127.0.0.1:8002", name="深圳市住房公积金管理中心")
    hub.suspend("440300")
    with write_transaction(hub.engine) as conn:
        staff.add_staff(
            conn,
            login="duty",
            name="平台值班员",
            password=PASSWORD,
            passwords=Passwords(FAST_FOR_TESTS),
            now=now(),
        )
    asked = compose(a, "330100", HUB_CODE, HUB_KEYS, "BDC909", CenterCodeQuery(codes=["440300"]))
    assert hub.client.post("/api/v1/hub/messages", json=delivery(a, "330100", asked)).status_code == 200
    hub.register("110000", KeyPair.generate(), "http://127.0.0.1:8003", name="北京住房公积金管理中心")
    letter = compose(a, "330100", "110000", b, "BDC904", StatusQuery(letter_no="1100002612060001"))
    assert hub.client.post("/api/v1/hub/messages", json=delivery(a, "330100", letter)).status_code == 200
    with serving(hub.app) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            width, height = VIEWPORTS[screen]
            context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            console: list[str] = []
            context.on("console", lambda message: console.append(message.text))
            page = context.new_page()
            page.goto(f"{base}/")
            page.wait_for_url("**/login")
            sync_api.expect(page.locator("h1")).to_have_text("平台工作人员登录")
            page.get_by_label("登录名").fill("duty")
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url(f"{base}/")
            sync_api.expect(page.locator("#signed-in-as")).to_have_text("平台值班员")
            sync_api.expect(page.locator("#center-330100")).to_contain_text("杭州住房公积金管理中心")
            sync_api.expect(page.locator("#center-440300")).to_contain_text("暂停")
            sync_api.expect(page.locator(f"#message-{letter.message_id}")).to_contain_text("申请进度查询")
            sync_api.expect(page.locator(f"#message-{letter.message_id}")).to_contain_text("待投递")
            sync_api.expect(page.locator("#count-queued")).to_have_text("2")  # the letter and the 909 answer
            scroll, inner = page.evaluate(WIDTH_JS)
            assert scroll <= inner, f"the page scrolls sideways at {screen}: {scroll} > {inner}"
            page.screenshot(path=str(screenshot_dir() / f"hub-home-{screen}.png"), full_page=True)
            assert not [m for m in console if "Content Security Policy" in m], console
            if screen == "phone":  # the menu folds behind its button on a narrow screen
                page.locator("label.menu-button").click()
            page.get_by_role("button", name="退出登录").click()
            page.wait_for_url("**/login")
        finally:
            browser.close()
