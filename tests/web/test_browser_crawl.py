"""Every page each role reaches by its links, in a real browser, on a counter monitor (1366×768)
and on a phone (375×800): no link shown that refuses (403) or finds nothing (404), no English on
the page outside code identifiers, no sideways scrolling, no missing file (the favicon).

The center: the demo generator with 40 members and 14 simulated months (loans, withdrawals,
applications, payments), one principal per role; the member is a borrower and the employer is
the borrower's. Each role starts from its home and follows same-origin links breadth first. A
link is checked with a GET (status only: downloads and exports too); a page is opened in the
browser once per route (the first link to each of ``/members/{account_no}``, …), with the other
links to the same route only checked. Sign-out is never followed.

Drives Debian's Chromium (``apt-get install chromium fonts-wqy-zenhei``) through Playwright; one
browser for the module. Skipped when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.routing import Match

from hpf.access.permissions import Role
from hpf.accounts.directory import DIRECTORY
from hpf.accounts.tables import member
from hpf.app import create_app
from hpf.db.calendar import set_business_date, stored_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.identity import identity, sessions
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.loans.book.tables import loan
from hpf.quality import service as quality
from hpf.schema import upgrade
from hpf.services import service as services
from hpf.settings import Settings
from hpf.sim.defects.quality import PLANTERS
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate
from live_server import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS, serving
from signing_in import FAST_PASSWORDS, PASSWORD

CENTER = "990001"
VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 375, "height": 800}}
NAMES = {
    Role.TELLER: "柜员甲",
    Role.REVIEWER: "复核员乙",
    Role.FINANCE: "财务丙",
    Role.AUDITOR: "稽核丁",
    Role.RISK: "风控戊",
    Role.SUPERVISOR: "监管己",
    Role.ADMIN: "管理员庚",
}
STAFF = (Role.TELLER, Role.REVIEWER, Role.FINANCE, Role.AUDITOR, Role.RISK, Role.SUPERVISOR, Role.ADMIN)
ROLES = (*STAFF, Role.MEMBER, Role.EMPLOYER)
MAX_PAGES = 60  # pages opened in the browser per role and viewport (each route once)
CHECKS_PER_ROUTE = 3  # links to one route checked by status (the rest are more of the same)
PHONE_HEADER_PX = 64

# Latin text a Chinese page may show. Tokens with a digit (account and contract numbers, SHA-256,
# SM3) and upper-case codes with a hyphen (WD-RENT, LN-APPLY) are identifiers, as is text inside
# <code>, <kbd> and <samp>; every other word of three letters or more must be on this list.
ALLOWED_WORDS = frozenset(
    {
        "OpenHPF",  # the product's name in the footer
        # file formats named on download buttons and upload forms
        "CSV",
        "Excel",
        "PDF",
        "PNG",
        "JPG",
    }
)
FILE_NAME = re.compile(r"^[\w\-]+\.(png|jpe?g|pdf|csv|xlsx|zip)$", re.IGNORECASE)
CODE = re.compile(r"^[A-Z]{1,4}(-[A-Z0-9]+)+$")
NEVER_FOLLOWED = ("/logout",)

pytestmark = BROWSER_MARKS

# Every text node of the page (and the title) outside identifiers' elements, with its element.
TEXTS_JS = """() => {
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "CODE", "KBD", "SAMP", "TEMPLATE"]);
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let el = node.parentElement, hidden = false;
    while (el) { if (skip.has(el.tagName)) { hidden = true; break; } el = el.parentElement; }
    if (!hidden && node.textContent.trim()) out.push(node.textContent);
  }
  for (const el of document.querySelectorAll("input[placeholder], textarea[placeholder]")) out.push(el.placeholder);
  for (const el of document.querySelectorAll("input[type=submit][value], input[type=button][value]")) out.push(el.value);
  return out;
}"""
LINKS_JS = """() => Array.from(document.querySelectorAll("a[href], link[rel~=icon]"), a => ({
  href: a.href, text: a.textContent.trim().slice(0, 40), download: a.hasAttribute("download")
}))"""
WIDTH_JS = "() => [document.scrollingElement.scrollWidth, window.innerWidth]"
HEADER_JS = "() => { const h = document.querySelector('header.topbar'); return h ? h.getBoundingClientRect().height : 0 }"


@dataclass
class Live:
    url: str
    app: FastAPI
    cookies: dict[Role, str]  # the page session of each role


@dataclass
class Crawl:
    """What one role saw at one viewport."""

    opened: list[str] = field(default_factory=list)
    checked: int = 0
    refused: list[str] = field(default_factory=list)  # a link shown that answers 403 / 404 / 5xx
    english: dict[str, set[str]] = field(default_factory=dict)  # page → words
    sideways: list[str] = field(default_factory=list)  # page (scrollWidth > innerWidth)
    missing: list[str] = field(default_factory=list)  # files the pages asked for and did not get
    layout: list[str] = field(default_factory=list)  # header too tall, navigation wrapped

    def problems(self) -> list[str]:
        out = [f"link refused: {r}" for r in self.refused]
        out += [f"English on {page}: {sorted(words)}" for page, words in sorted(self.english.items())]
        out += [f"scrolls sideways: {s}" for s in self.sideways]
        out += [f"not found: {m}" for m in sorted(set(self.missing))]
        out += self.layout
        return out


def _build(url: str) -> tuple[FastAPI, dict[Role, str]]:
    engine = make_engine(url)
    upgrade(engine)
    start = date(2024, 7, 1)
    ctx = Context(actor="demo", clock=FixedClock(start), center_code=CENTER, source="test")
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(engine, ctx, seed=42, employers=4, members=40)
    simulate(engine, CENTER, months=14, seed=42)
    with read_transaction(engine) as conn:
        today = stored_business_date(conn)
        borrower = conn.execute(
            select(member.c.id, member.c.employer_id)
            .join(loan, loan.c.borrower_id == member.c.id)
            .order_by(loan.c.id)
            .limit(1)
        ).one()
    assert today is not None
    clock = FixedClock(today)
    ctx = Context(actor="setup", clock=clock, center_code=CENTER, source="test")
    cookies: dict[Role, str] = {}
    with write_transaction(engine) as conn:
        principals = {
            role: identity.create_staff(
                conn, ctx, f"crawl.{role.value}", NAMES[role], [role], PASSWORD, passwords=FAST_PASSWORDS
            )
            for role in STAFF
        }
        principals[Role.MEMBER] = identity.create_member_login(
            conn, ctx, borrower.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
        )
        principals[Role.EMPLOYER] = identity.create_employer_login(
            conn, ctx, borrower.employer_id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
        )
        # a change of phone number waiting in the review queue (the simulation leaves it empty)
        services.submit(
            conn, ctx, principals[Role.MEMBER], "AC-CHANGE", {"field": "phone", "value": "13900139009"}
        )
        for role, who in principals.items():  # signed in already (TOTP is the sign-in's business)
            cookies[role], _ = sessions.start_session(conn, ctx, who.id)
        # stock data an old system held wrong, for the data quality pages to show findings
        for kind in ("Q-CON-ID-BIRTH", "Q-VAL-USCC-CHECKSUM", "Q-COM-MEMBER-REQUIRED"):
            PLANTERS[kind](conn, random.Random(42), 1, today)
    quality.scan(engine, at=today)
    settings = Settings(env="development", database_url=url, center_code=CENTER)
    return create_app(settings, engine=engine, clock=clock, passwords=FAST_PASSWORDS), cookies


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    url = f"sqlite:///{tmp_path_factory.mktemp('crawl')}/hpf.sqlite3"
    app, cookies = _build(url)
    try:
        with serving(app) as base:
            yield Live(base, app, cookies)
    finally:
        app.state.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _route_of(app: FastAPI, path: str) -> str | None:
    """The path template of the route a GET of ``path`` reaches (None: no route)."""
    probe = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    for route in app.router.routes:
        match, _ = route.matches(probe)
        if match is Match.FULL:
            return str(getattr(route, "path", path))
    return None


def english_words(texts: list[str]) -> set[str]:
    """Latin words of three letters or more that are not identifiers or on the allow-list."""
    found = set()
    for text in texts:
        for token in re.findall(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*", text):
            token = token.strip(".-")
            if not re.search(r"[A-Za-z]{3,}", token):
                continue
            if re.search(r"\d", token) or CODE.match(token) or FILE_NAME.match(token):
                continue
            if token in ALLOWED_WORDS:
                continue
            found.add(token)
    return found


def test_english_words_are_found_and_identifiers_are_not() -> None:
    assert english_words(["账号 370100012345 合同 JK2024000123", "WD-RENT 租房提取", "3.5 km"]) == set()
    assert english_words(["（解释，待核实）UNVERIFIED (PBOC benchmark step)"]) == {
        "UNVERIFIED",
        "PBOC",
        "benchmark",
        "step",
    }
    assert english_words(["base_fen 2,000.00", "经办人 system", "下载模板（CSV）", "id.png"]) == {
        "base_fen",
        "system",
    }


def crawl(live: Live, browser: Any, role: Role, viewport: dict[str, int]) -> Crawl:
    seen = Crawl()
    context = browser.new_context(locale="zh-CN", viewport=viewport)
    host = urlsplit(live.url)
    context.add_cookies([{"name": sessions.COOKIE_NAME, "value": live.cookies[role], "url": live.url}])
    context.on(
        "response",
        lambda r: seen.missing.append(f"{r.url} ({r.status})") if r.status == 404 else None,
    )
    page = context.new_page()
    home = "/" if role in STAFF else "/self"
    queue: deque[tuple[str, str]] = deque([(f"{live.url}{home}", "start")])
    rendered: set[str] = set()  # route templates opened in the browser
    checked: dict[str, int] = {}  # route template → links checked
    done: set[str] = set()
    try:
        while queue and len(seen.opened) < MAX_PAGES:
            url, origin = queue.popleft()
            parts = urlsplit(url)
            route = _route_of(live.app, parts.path) or parts.path
            response = page.goto(url, wait_until="domcontentloaded")
            status = response.status if response is not None else 0
            here = page.url.removeprefix(live.url)
            if status >= 400:
                seen.refused.append(f"{url.removeprefix(live.url)} → {status} (link on {origin})")
                continue
            rendered.update({route, _route_of(live.app, urlsplit(page.url).path) or route})
            seen.opened.append(here)
            words = english_words(page.evaluate(TEXTS_JS))
            if words:
                seen.english.setdefault(urlsplit(page.url).path, set()).update(words)
            width, inner = page.evaluate(WIDTH_JS)
            if width > inner + 1:
                seen.sideways.append(f"{here} ({width} px in {inner} px)")
            _check_header(page, here, viewport, seen)
            links = page.evaluate(LINKS_JS)
            if role in STAFF:  # staff look at a member's loans and applications, not their own
                mine = sorted({i["text"] for i in links if i["text"].startswith("我的")})
                if mine:
                    seen.layout.append(f"links to a member's own pages shown to staff on {here}: {mine}")
            for item in links:
                target, _ = urldefrag(item["href"])
                link = urlsplit(target)
                if (link.scheme, link.netloc) != (host.scheme, host.netloc) or target in done:
                    continue
                if link.path in NEVER_FOLLOWED:
                    continue
                done.add(target)
                template = _route_of(live.app, link.path) or link.path
                if checked.get(template, 0) >= CHECKS_PER_ROUTE:
                    continue
                checked[template] = checked.get(template, 0) + 1
                seen.checked += 1
                answer = context.request.get(target, max_redirects=5)
                if answer.status >= 400:
                    seen.refused.append(
                        f"{target.removeprefix(live.url)} → {answer.status} (「{item['text']}」 on {here})"
                    )
                    continue
                html = answer.headers.get("content-type", "").startswith("text/html")
                attachment = "attachment" in answer.headers.get("content-disposition", "")
                arrived = _route_of(live.app, urlsplit(answer.url).path) or template
                if html and not (attachment or item["download"]) and arrived not in rendered:
                    rendered.add(arrived)
                    queue.append((target, here))
    finally:
        context.close()
    return seen


def _check_header(page: Any, here: str, viewport: dict[str, int], seen: Crawl) -> None:
    height = page.evaluate(HEADER_JS)
    if viewport["width"] < 700:
        if height > PHONE_HEADER_PX:
            seen.layout.append(f"phone header {height:.0f} px tall on {here}")
    else:
        # one line: every navigation entry on one row, the header no taller than that row
        tops = page.evaluate(
            "() => Array.from(document.querySelectorAll('header.topbar .nav a'), a => a.getBoundingClientRect().top)"
        )
        if (tops and max(tops) - min(tops) > 4) or height > PHONE_HEADER_PX:
            seen.layout.append(f"navigation wraps (header {height:.0f} px) on {here}")


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
@pytest.mark.parametrize("screen", VIEWPORTS, ids=list(VIEWPORTS))
def test_every_page_a_role_reaches(live: Live, browser: Any, role: Role, screen: str) -> None:
    seen = crawl(live, browser, role, VIEWPORTS[screen])
    assert len(seen.opened) >= 3, seen.opened  # the crawl got somewhere
    problems = seen.problems()
    assert not problems, (
        f"{role.value} at {screen}: {len(seen.opened)} pages opened, {seen.checked} links checked\n"
        + "\n".join(problems)
        + "\npages: "
        + " ".join(seen.opened)
    )


def test_the_menu_folds_on_a_phone_and_the_business_date_is_for_staff(live: Live, browser: Any) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    for role, screen in ((Role.MEMBER, "phone"), (Role.TELLER, "phone"), (Role.FINANCE, "desktop")):
        context = browser.new_context(locale="zh-CN", viewport=VIEWPORTS[screen])
        context.add_cookies([{"name": sessions.COOKIE_NAME, "value": live.cookies[role], "url": live.url}])
        try:
            page = context.new_page()
            page.goto(f"{live.url}/self" if role is Role.MEMBER else f"{live.url}/")
            first = page.locator("header .nav a").first
            if screen == "phone":
                assert page.evaluate(HEADER_JS) <= PHONE_HEADER_PX
                sync_api.expect(first).to_be_hidden()
                page.get_by_text("菜单", exact=True).click()
                sync_api.expect(first).to_be_visible()
                sync_api.expect(page.locator("#signed-in-as")).to_be_visible()
            else:
                sync_api.expect(first).to_be_visible()
                sync_api.expect(page.get_by_text("菜单", exact=True)).to_be_hidden()
            assert (page.locator(".bizdate").count() > 0) == (role in STAFF)
        finally:
            context.close()
