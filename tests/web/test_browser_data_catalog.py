"""The 数据目录 page in a real browser on a phone (375×800) and a counter monitor (1366×768): an
auditor filters the catalog by table and grade and sees only those fields; nothing scrolls
sideways. A screenshot of each is kept as a test artefact."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.data.registry import load
from hpf.db.engine import make_engine, write_transaction
from hpf.identity import identity, sessions
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.schema import upgrade
from hpf.settings import Settings
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, screenshot_dir, serving
from signing_in import FAST_PASSWORDS, PASSWORD

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = f"sqlite:///{tmp_path}/hpf.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    clock = FixedClock(date(2025, 3, 15))
    ctx = Context(actor="setup", clock=clock, center_code="990001", source="test")
    with write_transaction(engine) as conn:
        who = identity.create_staff(
            conn, ctx, "auditor01", "稽核甲", [Role.AUDITOR], PASSWORD, passwords=FAST_PASSWORDS
        )
        token, _ = sessions.start_session(conn, ctx, who.id)
    app = create_app(
        Settings(env="development", database_url=url), engine=engine, clock=clock, passwords=FAST_PASSWORDS
    )
    try:
        with serving(app) as base:
            yield {"base": base, "token": token}
    finally:
        engine.dispose()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_auditor_filters_the_catalog(served: dict[str, Any], size: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    width, height = VIEWPORTS[size]
    base = served["base"]
    members = [e for e in load().of_table("member") if e.classification.grade.value == "important"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            context.add_cookies([{"name": sessions.COOKIE_NAME, "value": served["token"], "url": base}])
            page = context.new_page()
            answer = page.goto(f"{base}/")
            assert answer is not None and answer.status == 200
            if size == "phone":
                page.locator("label.menu-button").click()
            page.locator('nav.nav a[href="/data/catalog"]').click()
            page.wait_for_url(f"{base}/data/catalog")
            sync_api.expect(page.locator("h1")).to_have_text("数据目录")
            page.select_option("#catalog-filters select[name=table]", "member")
            page.select_option("#catalog-filters select[name=grade]", "important")
            page.locator("#catalog-filters button[type=submit]").click()
            page.wait_for_url(f"{base}/data/catalog?table=member**")
            sync_api.expect(page.locator("#catalog-table tbody tr")).to_have_count(len(members))
            sync_api.expect(page.locator("#catalog-count")).to_contain_text(str(len(members)))
            sync_api.expect(page.locator("#catalog-table")).to_contain_text("GRZH")
            assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate(
                "window.innerWidth"
            )
            page.screenshot(path=str(screenshot_dir() / f"data-catalog-{size}.png"), full_page=True)
        finally:
            browser.close()
