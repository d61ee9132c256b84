"""The 管理看板 in a real browser on a phone (375×800) and a counter monitor (1366×768): a manager
opens the boards from the home page, filters the withdrawals by month, clicks a bar of the chart
and lands on the rows behind it, which add up to the bar; nothing scrolls sideways. A screenshot
of each page is kept as a test artefact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.db.engine import write_transaction
from hpf.identity import identity, sessions
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.settings import Settings
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, screenshot_dir, serving
from signing_in import FAST_PASSWORDS, PASSWORD
from warehouse_city import TODAY

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(center) -> Iterator[dict[str, Any]]:
    engine, _ = center
    clock = FixedClock(TODAY)
    ctx = Context(actor="setup", clock=clock, center_code="990001", source="test")
    with write_transaction(engine) as conn:
        who = identity.create_staff(
            conn, ctx, "finance01", "财务甲", [Role.FINANCE], PASSWORD, passwords=FAST_PASSWORDS
        )
        token, _ = sessions.start_session(conn, ctx, who.id)
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock,
                     passwords=FAST_PASSWORDS)  # fmt: skip
    with serving(app) as base:
        yield {"base": base, "token": token}


def _fits(page: Any) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate("window.innerWidth")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_manager_opens_the_dashboards(served: dict[str, Any], size: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    width, height = VIEWPORTS[size]
    base = served["base"]
    shots = screenshot_dir()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            context.add_cookies([{"name": sessions.COOKIE_NAME, "value": served["token"], "url": base}])
            page = context.new_page()
            page.goto(f"{base}/")
            page.locator('nav.shortcuts a[href="/dashboards"]').click()
            page.wait_for_url(f"{base}/dashboards")
            sync_api.expect(page.locator("h1")).to_have_text("管理看板")
            sync_api.expect(page.locator("#dashboard-links li")).to_have_count(
                9
            )  # four boards, five planning pages
            _fits(page)
            page.screenshot(path=str(shots / f"dashboards-{size}.png"), full_page=True)
            for board in ("collection", "loans", "channels"):
                page.goto(f"{base}/dashboards/{board}")
                sync_api.expect(page.locator(f"#chart-{board}[data-chart-drawn]")).to_have_count(1)
                _fits(page)
                page.screenshot(path=str(shots / f"dashboard-{board}-{size}.png"), full_page=True)
            page.goto(f"{base}/dashboards/withdrawals")
            page.select_option("#dashboard-filters select[name=month_from]", "2024-07")
            page.locator("#dashboard-filters button[type=submit]").click()
            page.wait_for_url(f"{base}/dashboards/withdrawals?month_from=2024-07**")
            chart = page.locator("#chart-withdrawals[data-chart-drawn]")
            sync_api.expect(chart).to_have_count(1)
            sync_api.expect(page.locator("#dashboard-table tbody tr").first).to_contain_text("2024-07")
            _fits(page)
            page.screenshot(path=str(shots / f"dashboard-withdrawals-{size}.png"), full_page=True)
            # a click on a bar of the chart: the rows behind it
            spec = page.evaluate("JSON.parse(document.querySelector('#chart-withdrawals').dataset.chart)")
            # the tallest bar: a thin one can be less than a pixel high on a phone
            _, month_index, series = max(
                ((v, i, s) for s in spec["series"] for i, v in enumerate(s["data"]) if v), key=lambda t: t[0]
            )
            handle = page.evaluate_handle(
                "echarts.getInstanceByDom(document.querySelector('#chart-withdrawals'))"
            )
            point = page.evaluate(
                "([c, s, i]) => c.convertToPixel({seriesIndex: s}, [i, c.getOption().series[s].data[i] / 2])",
                [handle, spec["series"].index(series), month_index],
            )
            # on the chart's canvas at that point: Playwright scrolls it into view and checks that
            # nothing covers it (a bare mouse click at page coordinates missed under load). The
            # pointer rests on the bar first, as a hand does, so the tooltip is drawn before the
            # click: drawn under the pointer, it used to swallow the click on a phone.
            bar = chart.locator("canvas").first
            bar.hover(position={"x": point[0], "y": point[1]})
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            bar.click(position={"x": point[0], "y": point[1]})
            page.wait_for_url(f"{base}/dashboards/withdrawals/rows?**")
            sync_api.expect(page.locator("h1")).to_contain_text(spec["x"][month_index])
            sync_api.expect(page.locator("header.page-head")).to_contain_text("与图中数值相符")
            _fits(page)
            page.screenshot(path=str(shots / f"dashboard-rows-{size}.png"), full_page=True)
        finally:
            browser.close()
