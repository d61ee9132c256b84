"""The 缴存业务 pages (SQLite and PostgreSQL): upload a list, record a receipt, allocate, refusals."""

import dataclasses
import re

import pytest
from contribution_support import list_rows
from fastapi.testclient import TestClient

from hpf.app import create_app
from hpf.contributions import lists
from hpf.kernel.money import format_yuan
from hpf.settings import Settings

TOTAL_YUAN = "5,890.38"  # 2 × (960.00 + 785.19 + 1,200.00)


@pytest.fixture
def client(engine, clock, center, sign_in):
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    with TestClient(app, follow_redirects=False) as c:
        sign_in(c, session=True)
        yield c


def csv_file(rows, extra: str = "") -> tuple[str, bytes, str]:
    body = [
        (r.account_no, r.name, format_yuan(r.base_fen, False), format_yuan(r.employer_fen, False),
         format_yuan(r.member_fen, False))
        for r in rows
    ]  # fmt: skip
    return ("清册.csv", lists.template_csv(body) + extra.encode(), "text/csv")


def upload(client, no, file, month="2025-01", kind="01"):
    return client.post(
        f"/employers/{no}/remittances", files={"file": file}, data={"month": month, "kind": kind}
    )


def list_row_count(html: str) -> int:
    table = re.search(r'<table[^>]*id="remittance-rows".*?</tbody>', html, re.S)
    assert table is not None
    return table.group(0).count('data-label="个人账号"')


def test_upload_receive_and_allocate_through_the_pages(client, center):
    emp, members = center
    no = emp.account_no
    assert f'href="/employers/{no}/remittances"' in client.get(f"/employers/{no}").text
    page = client.get(f"/employers/{no}/remittances")
    assert page.status_code == 200
    assert re.search(r'id="due-month">2025-01<', page.text)
    assert f'href="/api/v1/employers/{no}/remittance-template.xlsx"' in page.text
    assert 'name="month" value="2025-01"' in page.text

    file = csv_file(list_rows(members))
    r = upload(client, no, file)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert re.fullmatch(r"/remittances/\d+\?done=submitted", location)
    assert upload(client, no, file).headers["location"] == location  # a double submit is one list
    detail_url = location.split("?")[0]

    detail = client.get(location).text
    assert "清册已受理" in detail
    assert list_row_count(detail) == 3
    assert f'href="/members/{members[0].account_no}"' in detail
    assert "785.19" in detail
    assert TOTAL_YUAN in detail
    assert re.search(r'id="remittance-state">待到账<', detail)
    assert "资金未足额到账" in detail

    r = client.post(
        f"/employers/{no}/receipts",
        data={"amount": "5890.38", "bank_ref": "BANK-P1", "value_date": "2025-03-15", "next": detail_url},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{detail_url}?done=receipt"
    detail = client.get(detail_url).text
    assert "资金已足额到账" in detail
    assert re.search(r'id="remittance-state">待分摊<', detail)

    r = client.post(f"{detail_url}/allocate")
    assert r.status_code == 303
    assert r.headers["location"] == f"{detail_url}?done=allocated"
    detail = client.get(detail_url).text
    assert re.search(r'id="remittance-state">已分摊<', detail)
    assert 'id="allocate-form"' not in detail
    member = client.get(f"/members/{members[0].account_no}").text
    assert re.search(r'id="balance">\s*1,920\.00<', member)  # 960.00 + 960.00

    page = client.get(f"/employers/{no}/remittances").text
    assert re.search(r'id="paid-through">2025-01<', page)
    assert re.search(r'id="due-month">2025-02<', page)
    assert "已分摊" in page and "BANK-P1" in page


def test_a_list_with_bad_rows_shows_every_row_error(client, center):
    emp, members = center

    def tweak(row):
        if row.line == 2:
            return dataclasses.replace(row, name="赵六")
        if row.line == 3:
            return dataclasses.replace(row, employer_fen=row.employer_fen + 1)
        return row

    r = upload(client, emp.account_no, csv_file(list_rows(members, tweak=tweak)), month="202501")
    assert r.status_code == 422
    html = r.text
    assert "清册有错误，整单未受理" in html
    errors = re.findall(
        r'data-label="行号" class="num">(\d+)</td>\s*<td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)<', html
    )
    assert [(line, account, title) for line, account, title in errors] == [
        ("2", members[1].account_no, "姓名与个人账户不符"),
        ("3", members[2].account_no, "月缴存额与缴存基数×比例不符"),
    ]
    assert "尚无汇缴或补缴清册" in html  # nothing was stored
    assert 'name="month" value="202501"' in html  # what the clerk typed is kept


def test_other_refusals_show_their_chinese_title(client, center):
    emp, members = center
    no = emp.account_no
    r = upload(client, no, csv_file(list_rows(members)), month="2025-02")
    assert r.status_code == 422
    assert "应缴年月为2025-01" in r.text
    r = upload(client, no, ("清册.txt", b"x", "text/plain"))
    assert r.status_code == 422
    assert "仅支持CSV或Excel（xlsx）文件" in r.text

    location = upload(client, no, csv_file(list_rows(members))).headers["location"]
    detail_url = location.split("?")[0]
    r = client.post(f"{detail_url}/allocate")
    assert r.status_code == 409
    assert "资金未足额到账，不能分摊" in r.text

    r = client.post(
        f"/employers/{no}/receipts",
        data={"amount": "12.345", "bank_ref": "B-9", "value_date": "2025-03-15", "next": detail_url},
    )
    assert r.status_code == 422
    assert "金额最多保留两位小数" in r.text
    assert 'value="12.345"' in r.text and 'id="remittance-rows"' in r.text  # back on the list page


def test_next_must_be_a_path_on_this_site(client, center):
    emp, _ = center
    no = emp.account_no
    r = client.post(
        f"/employers/{no}/receipts",
        data={"amount": "100", "bank_ref": "B-X", "value_date": "2025-03-15", "next": "//evil.example/x"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/employers/{no}/remittances?done=receipt"


def test_unallocated_lists_short_and_unclaimed_employers(client, center):
    emp, members = center
    no = emp.account_no
    assert "所有单位的到账资金均已被清册认领" in client.get("/receipts/unallocated").text
    upload(client, no, csv_file(list_rows(members)))
    client.post(
        f"/employers/{no}/receipts",
        data={"amount": "1,000.00", "bank_ref": "B-2", "value_date": "2025-03-14"},
    )
    html = client.get("/receipts/unallocated").text
    row = re.search(r"<tr>\s*<td data-label=\"单位账号\".*?</tr>", html, re.S)
    assert row is not None
    assert f'href="/employers/{no}/remittances"' in row.group(0)
    assert "1,000.00" in row.group(0)
    assert "4,890.38" in row.group(0)  # the shortfall
    assert 'aria-current="page">未分摊到账<' in html


def test_every_error_of_the_receipt_form_at_once(client, center):
    emp, _ = center
    r = client.post(
        f"/employers/{emp.account_no}/receipts",
        data={"amount": "12.345", "bank_ref": "", "value_date": "2025/03/15"},
    )
    assert r.status_code == 422
    assert "请修改以下3处" in r.text and "金额最多保留两位小数" in r.text
    assert "银行流水号必填" in r.text and "到账日期格式错误" in r.text
