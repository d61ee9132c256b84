"""Charts and long pages in a real browser at 375×800 (a phone) and 1366×768 (a laptop): the
member's home with its statement, the loan calculator and a loan page. Every chart is drawn
(ECharts puts a canvas in each ``[data-chart]``), no page scrolls sideways, the policy refuses
nothing, and a screenshot of each page is kept as a test artefact.

Screenshots go to ``$HPF_SCREENSHOT_DIR`` if set, else ``test-artifacts/screenshots/`` at the
top of the repository (ignored by git). Debian's Chromium, as ``test_browser.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpf.access.permissions import Role
from hpf.db.engine import make_engine, write_transaction
from hpf.identity import sessions
from hpf.kernel.context import Context
from hpf.schema import upgrade
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, VIEWPORTS, screenshot_dir, serving

sys.path.insert(0, str(Path(__file__).parents[1] / "loanpages"))  # the loan pages' small center

from loanpages_support import build_loan_center

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The loan pages' center (a member with a loan and a statement) served on 127.0.0.1, and a
    page session of that member."""
    engine = make_engine(f"sqlite:///{tmp_path}/hpf.sqlite3")
    upgrade(engine)
    lc = build_loan_center(engine)
    member = lc.center.principals[Role.MEMBER]
    ctx = Context(actor="setup", clock=lc.center.clock, center_code="990001", source="test")
    with write_transaction(engine) as conn:
        token, _ = sessions.start_session(conn, ctx, member.id)
    try:
        with serving(lc.app) as base:
            yield {
                "base": base,
                "token": token,
                "account_no": lc.center.member.account_no,
                "loan": lc.mine,
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_member_pages_draw_their_charts_and_fit_the_screen(served: dict[str, Any], size: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    width, height = VIEWPORTS[size]
    base, no = served["base"], served["account_no"]
    pages = {
        "member-home": f"{base}/members/{no}",
        "member-statement": f"{base}/members/{no}?page=1#statement",
        "calculator": f"{base}/loans/calculator?principal=500000&years=30&rate=2.60&method=equal-installment&start=2025-07-01",
        "loan": f"{base}/loans/{served['loan']}",
    }  # fmt: skip
    out = screenshot_dir()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            context.add_cookies([{"name": sessions.COOKIE_NAME, "value": served["token"], "url": base}])
            console: list[str] = []
            context.on("console", lambda message: console.append(message.text))
            page = context.new_page()
            for name, url in pages.items():
                answer = page.goto(url)
                assert answer is not None and answer.status == 200, (name, answer and answer.status)
                charts = page.locator("[data-chart]")
                assert charts.count() >= 1, name
                for i in range(charts.count()):
                    sync_api.expect(charts.nth(i).locator("canvas").first).to_be_attached(timeout=10_000)
                    box = charts.nth(i).bounding_box()
                    assert box and box["width"] > 200 and box["height"] > 150, (name, i, box)
                    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (name, i, box)
                wide = page.evaluate("document.scrollingElement.scrollWidth")
                inner = page.evaluate("window.innerWidth")
                assert wide <= inner, f"{name} scrolls sideways at {width}px: {wide} > {inner}"
                if name == "member-statement":
                    page.locator("#statement").scroll_into_view_if_needed()
                    page.screenshot(path=str(out / f"{name}-{size}.png"))
                else:
                    page.screenshot(path=str(out / f"{name}-{size}.png"), full_page=True)
            page.goto(pages["loan"])
            chart = page.locator("#chart-loan-split")
            chart.scroll_into_view_if_needed()
            chart.hover()  # the tooltip is drawn on the canvas: no inline style for the policy to refuse
            page.wait_for_timeout(300)
            chart.screenshot(path=str(out / f"loan-tooltip-{size}.png"))
            page.goto(pages["calculator"])
            calculator_height = page.evaluate("document.scrollingElement.scrollHeight")
            assert calculator_height < 12_000, calculator_height  # 31 folded years, not 360 cards
            page.locator("#year-2026 summary").click()  # a year unfolds to its months
            sync_api.expect(page.locator("#year-2026 tbody tr")).to_have_count(12)
            assert page.evaluate("document.scrollingElement.scrollWidth") <= width
            assert not [m for m in console if "Content Security Policy" in m], console
        finally:
            browser.close()
