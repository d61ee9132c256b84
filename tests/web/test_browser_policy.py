"""The 政策参数 page in a real browser on a phone (375×800) and a counter monitor (1366×768): an
administrator reads the withdrawal and loan parameters, asks to lower the loan ceiling with the
amount typed with separators, and sees the request waiting for a second administrator; nothing
scrolls sideways (decision 0022). A screenshot of each is kept as a test artefact (see
``test_browser_charts.screenshot_dir``).

Debian's Chromium through Playwright, as the other browser tests; skipped without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.approvals import service as approvals
from hpf.db.engine import make_engine, read_transaction, write_transaction
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
        admin = identity.create_staff(
            conn, ctx, "admin01", "管理员甲", [Role.ADMIN], PASSWORD, passwords=FAST_PASSWORDS
        )
        token, _ = sessions.start_session(conn, ctx, admin.id)
    app = create_app(
        Settings(env="development", database_url=url), engine=engine, clock=clock, passwords=FAST_PASSWORDS
    )
    try:
        with serving(app) as base:
            yield {"base": base, "token": token, "engine": engine}
    finally:
        engine.dispose()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_administrator_reads_and_proposes_loan_and_withdrawal_parameters(
    served: dict[str, Any], size: str
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    width, height = VIEWPORTS[size]
    base = served["base"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            context.add_cookies([{"name": sessions.COOKIE_NAME, "value": served["token"], "url": base}])
            page = context.new_page()
            answer = page.goto(f"{base}/policy")
            assert answer is not None and answer.status == 200
            cap = page.locator("#policy-withdrawal-rent_monthly_cap_fen")
            sync_api.expect(cap).to_contain_text("600.00元")
            sync_api.expect(page.locator("#policy-loan-max_amount_fen")).to_contain_text("1,200,000.00元")
            sync_api.expect(page.locator("#policy-loan-ltv_first_home")).to_contain_text("最低首付20%")
            for table in ("#policy-withdrawal", "#policy-loan"):
                box = page.locator(table).bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (table, box)
            assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate(
                "window.innerWidth"
            )
            page.screenshot(path=str(screenshot_dir() / f"policy-{size}.png"), full_page=True)

            page.select_option("#pf-key", "loan.max_amount_fen")
            page.fill("#pf-date", "2025-07-01")
            page.fill("#pf-value", "1,000,000")
            page.fill("#pf-reason", "市管委会决议")
            page.locator("#policy-form button[type=submit]").click()
            page.wait_for_url(f"{base}/policy?done=1")
            pending = page.locator("#policy-pending")
            sync_api.expect(pending).to_contain_text(
                "个人住房贷款最高额度调整为1,000,000.00元，2025-07-01起生效"
            )
            assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate(
                "window.innerWidth"
            )
        finally:
            browser.close()
    with read_transaction(served["engine"]) as conn:
        [asked] = approvals.list_requests(conn, state=approvals.State.PENDING, kind=approvals.POLICY_CHANGE)
    assert asked.payload["value"] == 100_000_000  # yuan on the form, fen asked for
