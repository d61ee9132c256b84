"""The planning pages in a real browser on a phone (375×800) and a counter monitor (1366×768): a
finance manager opens 资金运行监测 from the home page, notes having seen an alert, opens the fan
charts and the annual plan; nothing scrolls sideways. A screenshot of each is kept."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity, sessions
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.planning import service
from hpf.planning.forecast import forecast_series
from hpf.planning.series import MonthlySeries, month_range
from hpf.policy.service import schedule_change
from hpf.settings import Settings
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, screenshot_dir, serving
from planning_city import CENTER, TODAY
from signing_in import FAST_PASSWORDS, PASSWORD

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(city) -> Iterator[dict[str, Any]]:
    clock = FixedClock(TODAY)
    ctx = Context(actor="setup", clock=clock, center_code=CENTER, source="test")
    with read_transaction(city) as conn:
        real = service.compute_forecasts(conn, TODAY)  # ten months: each says too little history
    # and one series with a longer (synthetic) history ending in the city's last month, so that
    # the page draws a fan chart
    months = month_range("2023-05", "2025-10")
    values = [
        round(8_000_000 + 40_000 * i + 1_500_000 * math.sin(2 * math.pi * i / 12)) for i in range(len(months))
    ]
    longer = forecast_series(MonthlySeries("collections", tuple(months), tuple(values)))
    with write_transaction(city) as conn:
        schedule_change(conn, ctx, "liquidity.loan_ratio_max", TODAY, "0.01", "测试告警")
        service.store_forecasts(conn, ctx, TODAY, [longer, *[f for f in real if f.name != "collections"]])
        who = identity.create_staff(conn, ctx, "finance01", "财务甲", [Role.FINANCE], PASSWORD,
                                    passwords=FAST_PASSWORDS)  # fmt: skip
        token, _ = sessions.start_session(conn, ctx, who.id)
    app = create_app(Settings(env="development", database_url=str(city.url)), engine=city, clock=clock,
                     passwords=FAST_PASSWORDS)  # fmt: skip
    with serving(app) as base:
        yield {"base": base, "token": token}


def _no_sideways(page: Any) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate("window.innerWidth")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_manager_opens_liquidity_forecasts_and_the_plan(served: dict[str, Any], size: str) -> None:
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
            page.locator('nav.shortcuts a[href="/planning/liquidity"]').click()
            page.wait_for_url(f"{base}/planning/liquidity")
            sync_api.expect(page.locator("h1")).to_have_text("资金运行监测")
            sync_api.expect(page.locator("#alert-loan_ratio")).to_contain_text("达到预警线1.00%")
            page.locator("#alert-loan_ratio button[type=submit]").click()
            sync_api.expect(page.locator("#alert-loan_ratio")).to_contain_text("已查看")
            sync_api.expect(page.locator("#alert-loan_ratio")).to_contain_text("财务甲")
            _no_sideways(page)
            page.screenshot(path=str(shots / f"planning-liquidity-{size}.png"), full_page=True)

            page.goto(f"{base}/planning/forecasts")
            sync_api.expect(page.locator("#chart-collections[data-chart-drawn]")).to_have_count(1)
            sync_api.expect(page.locator("#series-loan_disbursements")).to_contain_text("历史数据不足")
            _no_sideways(page)
            page.screenshot(path=str(shots / f"planning-forecasts-{size}.png"), full_page=True)

            page.goto(f"{base}/planning/plan?year=2026")
            sync_api.expect(page.locator("h1")).to_contain_text("2026年度住房公积金归集使用计划")
            sync_api.expect(page.locator("#line-collections")).to_contain_text("预测数")
            page.fill("#assumptions-form input[aria-label='归集额（汇缴与补缴）增长率']", "5")
            page.locator("#save-assumptions").click()
            sync_api.expect(page.locator("#assume-head")).to_contain_text("第1版")
            _no_sideways(page)
            page.screenshot(path=str(shots / f"planning-plan-{size}.png"), full_page=True)
        finally:
            browser.close()
