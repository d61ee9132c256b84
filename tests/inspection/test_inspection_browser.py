"""The 电子稽查 pages in a real browser on a phone (375×800) and a counter monitor (1366×768): an
auditor opens the cases from the home page, filters by rule, opens a case, assigns it and clears it;
nothing scrolls sideways. A screenshot of each is kept as a test artefact."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.db.engine import write_transaction
from hpf.identity import identity, sessions
from hpf.inspection import service
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.settings import Settings
from hpf.sim.defects.audit import PLANTERS
from inspection_city import TODAY
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, screenshot_dir, serving
from signing_in import FAST_PASSWORDS, PASSWORD

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(city) -> Iterator[dict[str, Any]]:
    clock = FixedClock(TODAY)
    ctx = Context(actor="setup", clock=clock, center_code="990001", source="test")
    with write_transaction(city) as conn:
        for kind in ("A-SAME-PAYEE-CARD", "A-RATE-OVER-CAP"):
            PLANTERS[kind](conn, random.Random(2), 1, TODAY)
        who = identity.create_staff(
            conn, ctx, "auditor01", "稽核甲", [Role.AUDITOR], PASSWORD, passwords=FAST_PASSWORDS
        )
        token, _ = sessions.start_session(conn, ctx, who.id)
    service.scan(city, at=TODAY)
    app = create_app(Settings(env="development", database_url=str(city.url)), engine=city, clock=clock,
                     passwords=FAST_PASSWORDS)  # fmt: skip
    with serving(app) as base:
        yield {"base": base, "token": token}


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_auditor_works_a_case(served: dict[str, Any], size: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    width, height = VIEWPORTS[size]
    base = served["base"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            context.add_cookies([{"name": sessions.COOKIE_NAME, "value": served["token"], "url": base}])
            page = context.new_page()
            page.goto(f"{base}/")
            page.locator('nav.shortcuts a[href="/inspection/cases"]').click()
            page.wait_for_url(f"{base}/inspection/cases")
            sync_api.expect(page.locator("h1")).to_have_text("电子稽查")
            sync_api.expect(page.locator("#cases tbody tr")).to_have_count(2)
            page.select_option("#case-filters select[name=rule]", "A-SAME-PAYEE-CARD")
            page.locator("#case-filters button[type=submit]").click()
            page.wait_for_url(f"{base}/inspection/cases?rule=A-SAME-PAYEE-CARD**")
            sync_api.expect(page.locator("#cases tbody tr")).to_have_count(1)
            assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate(
                "window.innerWidth"
            )
            page.screenshot(path=str(screenshot_dir() / f"inspection-cases-{size}.png"), full_page=True)
            page.locator("#cases tbody tr a").first.click()
            sync_api.expect(page.locator("#case-facts")).to_contain_text("在先的提取申请号")
            page.fill("#assign-form input[name=assignee]", "auditor01")
            page.locator("#assign-form button[type=submit]").click()
            sync_api.expect(page.locator("#case-state")).to_have_text("已分派")
            page.fill("#clear-form textarea[name=reason]", "经核实为代办机构统一收款卡，已责令更正")
            page.locator("#clear-form button[type=submit]").click()
            sync_api.expect(page.locator("#case-state")).to_have_text("已排除")
            sync_api.expect(page.locator("#case-history tbody tr")).to_have_count(3)
            assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate(
                "window.innerWidth"
            )
            page.screenshot(path=str(screenshot_dir() / f"inspection-case-{size}.png"), full_page=True)
        finally:
            browser.close()
