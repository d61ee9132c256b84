"""A clerk's first task in a real browser: sign in, find a member by name and open the account.

Drives Debian's Chromium (``apt-get install chromium fonts-wqy-zenhei``) through Playwright
against the app served by uvicorn on 127.0.0.1; Playwright's own browser downloads are never
used. Skipped when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from hpf.access.permissions import Role
from hpf.accounts import service
from hpf.app import create_app
from hpf.db.engine import make_engine, write_transaction
from hpf.identity import identity
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.identifiers import resident_id_check_digit, uscc_check_char
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.schema import upgrade
from hpf.settings import Settings
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, serving
from signing_in import FAST_PASSWORDS, PASSWORD

SHARED_SCREENSHOT = Path(tempfile.gettempdir()) / "hpf-member.png"  # for a person to look at
BUSINESS_DATE = date(2025, 3, 15)

pytestmark = BROWSER_MARKS


def _uscc(seq: int) -> str:
    org = f"{seq:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(d) * w for d, w in zip(org, weights, strict=True)) % 11
    body = "91370102" + org + {10: "X", 11: "0"}.get(check, str(check))
    return body + uscc_check_char(body)


def _resident_id(seq: int) -> str:
    body = f"37010219900307{seq * 2 + 1:03d}"
    return body + resident_id_check_digit(body)


def _seed(url: str) -> str:
    """An employer with two members; 张三 holds 1,234.56 yuan. Returns 张三's account number."""
    engine = make_engine(url)
    upgrade(engine)
    clock = FixedClock(BUSINESS_DATE)
    ctx = Context(actor="t", clock=clock, center_code="990001")
    with write_transaction(engine) as conn:
        emp = service.register_employer(
            conn,
            ctx,
            {
                "uscc": _uscc(1),
                "name": "济南示范科技有限公司",
                "address": "山东省济南市历下区泉城路1号",
                "legal_rep_name": "王建国",
                "contact_name": "李丽",
                "contact_phone": "13800138000",
                "bank_name": "中国工商银行济南分行",
                "bank_account_no": "1602000109000123456",
                "payday": 10,
                "employer_rate": "0.12",
                "member_rate": "0.12",
            },
        )
        zhang = service.open_member(
            conn,
            ctx,
            emp.account_no,
            {"resident_id": _resident_id(1), "name": "张三", "base_fen": 800_000},
        )
        service.open_member(
            conn,
            ctx,
            emp.account_no,
            {"resident_id": _resident_id(2), "name": "张三丰", "base_fen": 600_000},
        )
        ledger.post(
            conn,
            JournalEntry(
                business_type="01",
                business_id="B1",
                idempotency_key="b1",
                value_date=date(2025, 3, 10),
                posting_date=BUSINESS_DATE,
                memo="2025年3月汇缴",
                lines=(
                    Line("101", Side.DEBIT, 123_456),
                    Line("201", Side.CREDIT, 123_456, member_id=zhang.id, part=BalancePart.CURRENT),
                ),
            ),
            clock,
        )
        identity.create_staff(
            conn, ctx, "li.teller", "李柜员", [Role.TELLER], PASSWORD, passwords=FAST_PASSWORDS
        )
    engine.dispose()
    return str(zhang.account_no)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[str]:
    """The app served by uvicorn in a background thread on a free port of 127.0.0.1."""
    url = f"sqlite:///{tmp_path}/hpf.sqlite3"
    _seed(url)
    engine = make_engine(url)
    app = create_app(
        Settings(env="development", database_url=url),
        engine=engine,
        clock=FixedClock(BUSINESS_DATE),
        passwords=FAST_PASSWORDS,
    )
    try:
        with serving(app) as base:
            yield base
    finally:
        engine.dispose()


def test_find_a_member_by_name_and_see_the_balance(live_server: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            console: list[str] = []  # Chromium reports what the Content-Security-Policy refused here
            context.on("console", lambda message: console.append(message.text))
            page = context.new_page()
            page.goto(f"{live_server}/")
            page.wait_for_url("**/login?next=/")  # nobody is signed in yet
            sync_api.expect(page.locator("h1")).to_have_text("工作人员登录")
            page.get_by_label("登录名").fill("li.teller")
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url(f"{live_server}/")
            sync_api.expect(page.locator("#signed-in-as")).to_have_text("李柜员")
            sync_api.expect(page.locator("h1")).to_have_text("示范市住房公积金管理中心")
            page.evaluate("window.__sameDocument = true")  # gone if the page reloads

            box = page.get_by_label("查询职工")
            box.click()
            box.press_sequentially("张三", delay=60)
            results = page.locator("#results")
            sync_api.expect(results.locator("table")).to_be_visible()
            sync_api.expect(results).to_contain_text("张三丰")
            sync_api.expect(results).to_contain_text("1,234.56")
            assert page.evaluate("window.__sameDocument === true"), "results must arrive without a reload"
            page.screenshot(path=str(tmp_path / "search.png"), full_page=True)

            results.get_by_role("link", name="张三", exact=True).click()
            page.wait_for_url("**/members/*")
            sync_api.expect(page.locator("#balance")).to_have_text("1,234.56")
            sync_api.expect(page.locator("h1")).to_contain_text("张三")
            sync_api.expect(page.locator("#statement")).to_contain_text("2025年3月汇缴")
            page.screenshot(path=str(tmp_path / "member.png"), full_page=True)
            shutil.copyfile(tmp_path / "member.png", SHARED_SCREENSHOT)

            phone = context.new_page()  # the same browser session: signed in
            phone.set_viewport_size({"width": 390, "height": 844})
            phone.goto(page.url)
            sync_api.expect(phone.locator("#balance")).to_have_text("1,234.56")
            phone.screenshot(path=str(tmp_path / "member-phone.png"), full_page=True)
            assert not [m for m in console if "Content Security Policy" in m], console
        finally:
            browser.close()


def test_the_api_documentation_works_offline_under_the_policy(live_server: str) -> None:
    """Swagger UI and ReDoc come from /static (no CDN) and start without inline script."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN")
            console: list[str] = []
            context.on("console", lambda message: console.append(message.text))
            outside: list[str] = []
            context.on(
                "request",
                lambda request: None if request.url.startswith((live_server, "data:", "blob:")) else outside.append(request.url),
            )  # fmt: skip
            page = context.new_page()
            page.goto(f"{live_server}/docs")
            sync_api.expect(page.locator(".swagger-ui .info .title")).to_contain_text("OpenHPF center")
            sync_api.expect(page.locator(".opblock").first).to_be_visible()
            page.goto(f"{live_server}/redoc")
            sync_api.expect(page.locator("h1").first).to_contain_text("OpenHPF center", timeout=20_000)
            # ReDoc's attribution logo lives on its CDN: the policy blocks it, nothing leaves the site
            refused = [
                m for m in console if "Content Security Policy" in m and "cdn.redoc.ly/redoc/logo" not in m
            ]
            assert not refused, console
            # The logo's request is issued and refused by the policy (img-src 'self'): nothing loads.
            outside = [u for u in outside if not u.startswith("https://cdn.redoc.ly/redoc/logo")]
            assert outside == [], outside
        finally:
            browser.close()
