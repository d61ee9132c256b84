"""A member's rent withdrawal on a phone, in a real browser: sign in with the SMS code, open
可办理的提取, choose 租房提取, fill the form, upload the materials, submit, see it approved,
open the application from 我的申请 and download the receipt (回执).

Drives Debian's Chromium (``apt-get install chromium fonts-wqy-zenhei``) through Playwright at a
375×800 viewport against the app served by uvicorn on 127.0.0.1 (the fixture pattern of
``test_browser.py``); Playwright's own browser downloads are never used. Skipped when
/usr/bin/chromium is not installed. The data: ``withdrawal_support.build_rent_center``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from hpf.app import create_app
from hpf.db.engine import make_engine
from hpf.schema import upgrade
from hpf.settings import Settings
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, serving
from services_support import PDF, PNG
from settlement_support import CARD
from signing_in import FAST_PASSWORDS, PASSWORD
from withdrawal_support import ZHANG_PHONE, build_rent_center

PHONE = {"width": 375, "height": 800}

pytestmark = BROWSER_MARKS


@dataclass(frozen=True)
class Live:
    url: str
    app: FastAPI
    account_no: str
    resident_id: str


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Live]:
    """The app served by uvicorn in a background thread on a free port of 127.0.0.1."""
    url = f"sqlite:///{tmp_path}/hpf.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    center = build_rent_center(engine)
    app = create_app(
        Settings(env="development", database_url=url),
        engine=engine,
        clock=center.clock,
        passwords=FAST_PASSWORDS,
    )
    try:
        with serving(app) as base:
            yield Live(base, app, center.member.account_no, center.member.resident_id)
    finally:
        engine.dispose()


def _fits(page: object) -> bool:
    """Nothing wider than the screen: no sideways scrolling on a phone."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))  # type: ignore[attr-defined]


def test_a_member_takes_rent_out_on_a_phone(live_server: Live, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    id_png, card_pdf = tmp_path / "身份证.png", tmp_path / "银行卡.pdf"
    id_png.write_bytes(PNG)
    card_pdf.write_bytes(PDF)
    base = live_server.url
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport=PHONE, accept_downloads=True)
            page = context.new_page()
            page.goto(f"{base}/self/login")
            page.get_by_label("身份证号或统一社会信用代码").fill(live_server.resident_id)
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            page.wait_for_url("**/self/login/sms")
            code = live_server.app.state.sms.last_code(ZHANG_PHONE)
            page.get_by_role("textbox", name="短信验证码").fill(code)
            page.get_by_role("button", name="验证并登录").click()
            page.wait_for_url(f"**/members/{live_server.account_no}")
            expect(page.locator("#signed-in-as")).to_have_text("张三")

            page.get_by_role("link", name="可办理的提取").click()
            page.wait_for_url("**/withdrawals")
            expect(page.locator("#reason-07")).to_contain_text("可申请")
            assert _fits(page)
            page.get_by_role("link", name="申请租房提取").click()
            page.wait_for_url("**/withdrawals/WD-RENT/apply")
            expect(page.locator("#up-to")).to_have_text("5,760.00")
            expect(page.get_by_label("收款人户名")).to_have_value("张三")
            page.get_by_label("月租金（元）").fill("1500")
            page.get_by_label("申请提取金额（元）").fill("3000")
            page.get_by_label("收款银行卡号").fill(CARD)
            page.get_by_label("开户银行").fill("中国工商银行济南分行")
            page.locator("#m-M-ID").set_input_files(str(id_png))
            page.locator("#m-M-BANK").set_input_files(str(card_pdf))
            assert _fits(page)
            page.screenshot(path=str(tmp_path / "apply-phone.png"), full_page=True)
            page.get_by_role("button", name="提交申请").click()

            page.wait_for_url(re.compile(r".*/applications/\d+$"))
            application_id = page.url.rsplit("/", 1)[1]
            expect(page.locator("#outcome-decision")).to_contain_text("已批准")
            expect(page.locator("#outcome-amount")).to_have_text("3,000.00 元")
            expect(page.locator("#payment-state")).to_have_text("已预留资金，等待银行付款")
            expect(page.locator("#sheet")).to_contain_text("按月计算")
            expect(page.locator("#material-list")).to_contain_text("身份证.png")
            assert _fits(page)
            page.screenshot(path=str(tmp_path / "outcome-phone.png"), full_page=True)

            page.get_by_text("菜单", exact=True).click()  # a phone's menu is folded
            page.get_by_role("link", name="我的申请").click()
            page.wait_for_url("**/applications")
            row = page.locator(f"#application-{application_id}")
            expect(row).to_contain_text("已准予，办理中")
            assert _fits(page)
            row.get_by_role("link", name=application_id).click()
            page.wait_for_url(f"**/applications/{application_id}")

            with page.expect_download() as pending:
                page.get_by_role("link", name="下载回执").click()
            download = pending.value
            assert download.suggested_filename == f"回执-{application_id}.html"
            saved = tmp_path / download.suggested_filename
            download.save_as(str(saved))
            receipt = saved.read_text(encoding="utf-8")
            assert "业务办理回执" in receipt and "租房提取（WD-RENT）" in receipt and "3,000.00 元" in receipt
            rid = live_server.resident_id
            assert rid not in receipt and f"{rid[0]}{'*' * 16}{rid[-1]}" in receipt  # masked (decision 0017)

            printed = context.new_page()  # the receipt as the member opens it on the phone
            printed.goto(saved.as_uri())
            expect(printed.locator("h1")).to_have_text("业务办理回执")
            assert _fits(printed)
            printed.screenshot(path=str(tmp_path / "receipt-phone.png"), full_page=True)
        finally:
            browser.close()
