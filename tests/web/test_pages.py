"""The staff back-office pages: Chinese HTML, htmx fragments, plain-HTML fallbacks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from hpf.access.permissions import Role
from hpf.accounts import service
from hpf.accounts.service import Employer, Member
from hpf.app import create_app
from hpf.audit import trail as audit
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.identifiers import resident_id_check_digit, uscc_check_char
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.protection.masking import mask
from hpf.schema import upgrade
from hpf.settings import Settings

BUSINESS_DATE = date(2025, 3, 15)
HX = {"HX-Request": "true"}


def resident_id(seq: int, birth: str = "19900307") -> str:
    body = f"370102{birth}{seq * 2 + 1:03d}"
    return body + resident_id_check_digit(body)


def uscc(seq: int) -> str:
    org = f"{seq:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(d) * w for d, w in zip(org, weights, strict=True)) % 11
    body = "91370102" + org + {10: "X", 11: "0"}.get(check, str(check))
    return body + uscc_check_char(body)


def employer_payload(seq: int, name: str) -> dict[str, object]:
    return {
        "uscc": uscc(seq),
        "name": name,
        "address": "山东省济南市历下区泉城路1号",
        "legal_rep_name": "王建国",
        "contact_name": "李丽",
        "contact_phone": "13800138000",
        "bank_name": "中国工商银行济南分行",
        "bank_account_no": "1602000109000123456",
        "payday": 10,
        "employer_rate": "0.12",
        "member_rate": "0.075",
    }


def deposit(member_id: int, fen: int, key: str, value_date: date, memo: str = "汇缴") -> JournalEntry:
    """Money received for a member: debit bank deposits, credit the member (current year)."""
    return JournalEntry(
        business_type="01",
        business_id=key,
        idempotency_key=key,
        value_date=value_date,
        posting_date=BUSINESS_DATE,
        memo=memo,
        lines=(
            Line("101", Side.DEBIT, fen),
            Line("201", Side.CREDIT, fen, member_id=member_id, part=BalancePart.CURRENT),
        ),
    )


@dataclass
class Center:
    engine: Engine
    clock: FixedClock
    employer: Employer
    other_employer: Employer
    zhang: Member  # 张三, balance 1,234.56 in two postings
    li: Member  # 李四, 55 postings (more than one statement page)

    def app(self) -> FastAPI:
        settings = Settings(
            env="development", database_url=str(self.engine.url), center_name="示范市住房公积金管理中心"
        )
        return create_app(settings, engine=self.engine, clock=self.clock)


def build_center(tmp_path: Path) -> Center:
    """A small migrated SQLite center: two employers, three members, some postings."""
    engine = make_engine(f"sqlite:///{tmp_path}/hpf.sqlite3")
    upgrade(engine)
    clock = FixedClock(BUSINESS_DATE)
    ctx = Context(actor="t", clock=clock, center_code="990001")
    with write_transaction(engine) as conn:
        emp = service.register_employer(conn, ctx, employer_payload(1, "济南示范科技有限公司"))
        other = service.register_employer(conn, ctx, employer_payload(2, "泉城物流有限公司"))
        zhang = service.open_member(
            conn, ctx, emp.account_no, {"resident_id": resident_id(1), "name": "张三", "base_fen": 800_000}
        )
        service.open_member(
            conn,
            ctx,
            emp.account_no,
            {"resident_id": resident_id(2), "name": "张三丰", "base_fen": 600_000},
        )
        li = service.open_member(
            conn,
            ctx,
            other.account_no,
            {"resident_id": resident_id(3), "name": "李四", "base_fen": 500_000},
        )
        service.change_member(conn, ctx, zhang.account_no, {"phone": "13900139000"}, "职工本人申请")
        ledger.post_many(
            conn,
            [
                deposit(zhang.id, 100_000, "z1", date(2025, 3, 1), "2025年2月汇缴"),
                deposit(zhang.id, 23_456, "z2", date(2025, 3, 10), "2025年3月汇缴"),
                *(deposit(li.id, 100, f"l{i}", date(2025, 1, 1) + timedelta(days=i)) for i in range(55)),
            ],
            clock,
        )
    return Center(engine, clock, emp, other, zhang, li)


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    c = build_center(tmp_path)
    yield c
    c.engine.dispose()


@pytest.fixture
def client(center: Center, sign_in: Callable[..., object]) -> Iterator[TestClient]:
    with TestClient(center.app()) as c:
        sign_in(c, session=True)
        yield c


def is_full_page(html: str) -> bool:
    return html.lstrip().lower().startswith("<!doctype html>") and '<html lang="zh-CN">' in html


# --------------------------------------------------------------------------------------- home


def test_home_shows_center_business_date_and_search_boxes(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert is_full_page(html)
    assert "示范市住房公积金管理中心" in html
    assert "2025-03-15" in html
    assert "查询职工" in html
    assert 'hx-get="/members/search"' in html
    assert 'hx-trigger="input changed delay:300ms, search"' in html
    assert 'hx-target="#results"' in html
    assert 'action="/members/search"' in html  # works without JavaScript
    assert 'action="/employers"' in html
    assert 'href="/ledger"' in html
    assert 'src="/static/htmx.min.js"' in html
    assert 'name="viewport"' in html


def test_static_files_are_served_locally(client: TestClient) -> None:
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200
    assert "htmx" in js.text[:200]
    css = client.get("/static/hpf.css")
    assert css.status_code == 200
    assert "@media" in css.text


# ------------------------------------------------------------------------------------- search


def test_search_by_name_returns_a_fragment_to_htmx(client: TestClient, center: Center) -> None:
    r = client.get("/members/search", params={"q": "张三"}, headers=HX)
    assert r.status_code == 200
    assert not is_full_page(r.text)
    assert "<table" in r.text
    assert "张三丰" in r.text  # name prefix
    assert center.zhang.account_no in r.text
    assert mask(resident_id(1), "resident_id") in r.text and resident_id(1) not in r.text
    assert "济南示范科技有限公司" in r.text
    assert "正常" in r.text
    assert "1,234.56" in r.text
    assert "李四" not in r.text
    assert r.headers["vary"] == "HX-Request"


def test_search_without_htmx_renders_the_whole_page(client: TestClient, center: Center) -> None:
    r = client.get("/members/search", params={"q": "张三"})
    assert r.status_code == 200
    assert is_full_page(r.text)
    assert "查询职工" in r.text
    assert 'value="张三"' in r.text
    assert center.zhang.account_no in r.text


def test_search_by_full_resident_id(client: TestClient, center: Center) -> None:
    r = client.get("/members/search", params={"q": resident_id(3)}, headers=HX)
    assert "李四" in r.text
    assert "张三" not in r.text


def test_search_by_account_number(client: TestClient, center: Center) -> None:
    r = client.get("/members/search", params={"q": f" {center.zhang.account_no} "}, headers=HX)
    assert "张三" in r.text
    assert "张三丰" not in r.text


def test_search_with_nothing_found_or_nothing_typed(client: TestClient) -> None:
    assert "未找到" in client.get("/members/search", params={"q": "王"}, headers=HX).text
    empty = client.get("/members/search", params={"q": " "}, headers=HX).text
    assert "请输入" in empty
    assert "<table" not in empty


def test_history_restore_request_gets_the_whole_page(client: TestClient) -> None:
    r = client.get(
        "/members/search", params={"q": "张"}, headers={**HX, "HX-History-Restore-Request": "true"}
    )
    assert is_full_page(r.text)


def test_search_text_is_escaped(client: TestClient) -> None:
    r = client.get("/members/search", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;" in r.text


# ------------------------------------------------------------------------------------ members


def test_member_page_shows_details_balance_and_statement(client: TestClient, center: Center) -> None:
    r = client.get(f"/members/{center.zhang.account_no}")
    assert r.status_code == 200
    html = r.text
    assert is_full_page(html)
    assert "个人账户" in html
    assert "张三" in html
    assert mask(resident_id(1), "resident_id") in html and resident_id(1) not in html
    assert "上年结转余额" in html
    assert "当年归集余额" in html
    assert "合计" in html
    assert re.search(r'id="balance">\s*1,234\.56<', html)
    assert f'href="/employers/{center.employer.account_no}"' in html
    assert "8,000.00" in html  # base in yuan
    # the statement: newest first, each line with its running balance
    assert "账户明细" in html
    rows = re.findall(r"<tr[^>]*>\s*<td data-label=\"记账日期\">.*?</tr>", html, re.S)
    assert len(rows) == 2
    assert "2025-03-10" in rows[0]
    assert "2025年3月汇缴" in rows[0]
    assert "汇缴" in rows[0]  # business type name from the code table
    assert "234.56" in rows[0]
    assert "1,234.56" in rows[0]  # running balance after the later line
    assert "2025-03-01" in rows[1]
    assert "1,000.00" in rows[1]
    assert "更多" not in html


def test_member_history_shows_who_why_and_before_after(client: TestClient, center: Center) -> None:
    html = client.get(f"/members/{center.zhang.account_no}").text
    assert "变更记录" in html
    assert "职工本人申请" in html
    assert "手机号码" in html
    assert "139****9000" in html and "13900139000" not in html
    assert "开户" in html
    assert "济南示范科技有限公司（" in html  # the employer id of the opening row is named


def test_unmasking_needs_the_permission_and_a_purpose_and_is_audited(
    client: TestClient, center: Center, sign_in
) -> None:
    url = f"/members/{center.zhang.account_no}"
    assert 'id="unmask-form"' in client.get(url).text  # all staff roles: reviewer may unmask
    no_purpose = client.get(url, params={"unmask": "true"})
    assert no_purpose.status_code == 422 and resident_id(1) not in no_purpose.text
    shown = client.get(url, params={"unmask": "true", "purpose": "核实身份办理提取"})
    assert shown.status_code == 200 and resident_id(1) in shown.text and 'id="unmasked"' in shown.text
    with read_transaction(client.app.state.engine) as conn:
        rows = audit.accesses_of(conn, "member", center.zhang.id)
    assert [r.action for r in rows[:2]] == ["member.unmask", "member.read"]
    assert rows[0].purpose == "核实身份办理提取" and rows[0].channel == "page"
    assert rows[1].purpose == "业务办理"

    sign_in(client, "teller07", roles=[Role.TELLER], session=True)
    assert 'id="unmask-form"' not in client.get(url).text
    refused = client.get(url, params={"unmask": "true", "purpose": "好奇"})
    assert refused.status_code == 403 and resident_id(1) not in refused.text
    with read_transaction(client.app.state.engine) as conn:
        last = (
            conn.execute(select(audit.audit_log).order_by(audit.audit_log.c.id.desc()).limit(1))
            .mappings()
            .one()
        )
    assert (last["actor"], last["action"], last["outcome"], last["role"]) == (
        "teller07",
        "unmask",
        "denied",
        "teller",
    )


def test_statement_pages_of_fifty_with_htmx_more_and_plain_fallback(
    client: TestClient, center: Center
) -> None:
    no = center.li.account_no
    first = client.get(f"/members/{no}").text
    assert first.count('data-label="记账日期"') == 50
    assert "更多" in first
    assert f'href="/members/{no}?page=2#statement"' in first
    assert f'hx-get="/members/{no}/statement?page=2"' in first
    assert ">55.00<" in first  # running balance after the newest line

    more = client.get(f"/members/{no}/statement", params={"page": 2}, headers=HX)
    assert more.status_code == 200
    assert not is_full_page(more.text)
    assert more.text.count('data-label="记账日期"') == 5
    assert "更多" not in more.text
    assert "2025-01-01" in more.text  # oldest line, running balance 1.00
    assert ">1.00<" in more.text

    plain = client.get(f"/members/{no}/statement", params={"page": 2}, follow_redirects=False)
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/members/{no}?page=2#statement"

    page2 = client.get(f"/members/{no}", params={"page": 2}).text
    assert is_full_page(page2)
    assert page2.count('data-label="记账日期"') == 5


def test_unknown_member_is_a_chinese_404_page(client: TestClient) -> None:
    r = client.get("/members/99000120000000000")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert is_full_page(r.text)
    assert "个人账户不存在" in r.text
    assert "返回首页" in r.text


def test_bad_page_number_is_a_chinese_html_page(client: TestClient, center: Center) -> None:
    r = client.get(f"/members/{center.zhang.account_no}", params={"page": "x"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")
    assert "请求参数不合法" in r.text


# ---------------------------------------------------------------------------------- employers


def test_employer_page_lists_details_counts_and_members(client: TestClient, center: Center) -> None:
    no = center.employer.account_no
    r = client.get(f"/employers/{no}")
    assert r.status_code == 200
    html = r.text
    assert "单位账户" in html
    assert "济南示范科技有限公司" in html
    assert uscc(1) in html
    assert "山东省济南市历下区泉城路1号" in html
    assert "王建国" in html
    assert "每月 10 日" in html
    assert "12%" in html
    assert "7.5%" in html
    assert "开户" in html  # state 02: registered, nothing remitted yet
    assert "共 2 人" in html
    assert "1,234.56" in html  # what its members hold
    assert f'href="/members/{center.zhang.account_no}"' in html
    assert "张三丰" in html
    assert "李四" not in html
    assert "变更记录" in html


def test_employer_list_and_search(client: TestClient, center: Center) -> None:
    full = client.get("/employers")
    assert full.status_code == 200
    assert is_full_page(full.text)
    assert "济南示范科技有限公司" in full.text
    assert "泉城物流有限公司" in full.text

    by_name = client.get("/employers", params={"q": "泉城"}, headers=HX)
    assert not is_full_page(by_name.text)
    assert "泉城物流有限公司" in by_name.text
    assert "济南示范科技有限公司" not in by_name.text

    by_uscc = client.get("/employers", params={"q": uscc(1)}, headers=HX).text
    assert "济南示范科技有限公司" in by_uscc
    assert "泉城物流有限公司" not in by_uscc

    by_account = client.get("/employers", params={"q": center.other_employer.account_no}, headers=HX).text
    assert "泉城物流有限公司" in by_account
    assert "济南示范科技有限公司" not in by_account


def test_unknown_employer_is_a_chinese_404_page(client: TestClient) -> None:
    r = client.get("/employers/99000110000000000")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "单位账户不存在" in r.text


# ------------------------------------------------------------------------------------- ledger


def test_ledger_shows_subject_balances_in_yuan(client: TestClient) -> None:
    r = client.get("/ledger")
    assert r.status_code == 200
    html = r.text
    assert "科目余额表" in html
    row_201 = re.search(r'<tr id="subject-201"[^>]*>.*?</tr>', html, re.S)
    assert row_201 is not None
    assert "住房公积金" in row_201.group(0)
    assert "1,289.56" in row_201.group(0)  # 1,234.56 + 55 × 1.00
    assert re.search(r'<tr id="subject-201">', html)  # a leaf
    assert re.search(r'<tr id="subject-219" class="parent">', html)  # parent rows are bold
    assert "借贷平衡" in html


def test_pages_are_not_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert "/members/search" not in paths
    assert "/ledger" not in paths
