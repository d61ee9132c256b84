"""The account pages' charts and summaries: the data each chart carries (JSON in
``data-chart``, amounts in fen) against sums worked by hand on a small built center, the
yearly summary of a statement, and the statement's order within one entry."""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from test_pages import BUSINESS_DATE, Center, build_center

from hpf.contributions.tables import remittance
from hpf.db.engine import write_transaction
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line


def chart_data(page: str, chart_id: str) -> dict[str, Any]:
    found = re.search(rf"id=\"chart-{chart_id}\"[^>]*data-chart='([^']*)'", page)
    assert found, f"no chart {chart_id}"
    return json.loads(htmllib.unescape(found.group(1)))


def series(chart: dict[str, Any]) -> dict[str, list[Any]]:
    return {s["name"]: s["data"] for s in chart["series"]}


def entry(key: str, kind: str, value_date: date, lines: tuple[Line, ...], memo: str) -> JournalEntry:
    return JournalEntry(
        business_type=kind, business_id=key, idempotency_key=key, value_date=value_date,
        posting_date=BUSINESS_DATE, memo=memo, lines=lines,
    )  # fmt: skip


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    """The pages' center (张三: 1,000.00 on 1 March and 234.56 on 10 March 2025; 李四: 1.00 a
    day from 1 January for 55 days), and for 张三 one entry with two of his lines (transfer in
    of 500.00 carried and 300.00 current, 12 March) and a withdrawal of 100.00 (14 March)."""
    c = build_center(tmp_path)
    zhang = c.zhang.id
    with write_transaction(c.engine) as conn:
        ledger.post_many(
            conn,
            [
                entry("t1", "08", date(2025, 3, 12), (
                    Line("101", Side.DEBIT, 80_000),
                    Line("201", Side.CREDIT, 50_000, member_id=zhang, part=BalancePart.CARRIED),
                    Line("201", Side.CREDIT, 30_000, member_id=zhang, part=BalancePart.CURRENT),
                ), "外部转入"),
                entry("w1", "11", date(2025, 3, 14), (
                    Line("201", Side.DEBIT, 10_000, member_id=zhang, part=BalancePart.CURRENT),
                    Line("101", Side.CREDIT, 10_000),
                ), "部分提取"),
            ],
            c.clock,
        )  # fmt: skip
        now = datetime(2025, 3, 15, tzinfo=UTC)
        base = {"employer_id": c.employer.id, "source": "api", "created_on": BUSINESS_DATE, "recorded_at": now,
                "actor": "t", "employer_part_fen": 0, "member_part_fen": 0}  # fmt: skip
        conn.execute(
            insert(remittance),
            [
                {**base, "kind": "01", "month": "2025-01", "state": "posted", "members": 2, "total_fen": 10_000, "idempotency_key": "r1"},
                {**base, "kind": "02", "month": "2025-01", "state": "posted", "members": 1, "total_fen": 500, "idempotency_key": "r2"},
                {**base, "kind": "01", "month": "2025-02", "state": "pending", "members": 2, "total_fen": 999, "idempotency_key": "r3"},
                {**base, "kind": "01", "month": "2025-03", "state": "posted", "members": 3, "total_fen": 12_000, "idempotency_key": "r4"},
            ],
        )  # fmt: skip
    yield c
    c.engine.dispose()


@pytest.fixture
def client(center: Center, sign_in: Callable[..., object]) -> Iterator[TestClient]:
    with TestClient(center.app()) as c:
        sign_in(c, session=True)
        yield c


def test_statement_lines_of_one_entry_read_newest_balance_on_top(client: TestClient, center: Center) -> None:
    page = client.get(f"/members/{center.zhang.account_no}").text
    body = page.split('id="statement-body"', 1)[1]
    balances = re.findall(r'data-label="余额（元）" class="num">([^<]+)<', body)
    # 1,000.00 + 234.56 = 1,234.56; +500.00 = 1,734.56; +300.00 = 2,034.56; −100.00 = 1,934.56
    assert balances == ["1,934.56", "2,034.56", "1,734.56", "1,234.56", "1,000.00"]


def test_member_charts_and_yearly_summary(client: TestClient, center: Center) -> None:
    page = client.get(f"/members/{center.zhang.account_no}").text
    assert 'src="/static/vendor/echarts-6.1.0/echarts.min.js"' in page and 'src="/static/charts.js"' in page
    balance = chart_data(page, "balance")
    assert balance["x"] == ["2025-03"] and series(balance) == {"月末余额": [193_456]}
    yearly = chart_data(page, "yearly")
    assert yearly["x"] == ["2025年"]
    # deposits 1,000.00 + 234.56; withdrawal 100.00; the transfer in (800.00) is "other"
    assert series(yearly) == {"缴存": [123_456], "提取": [10_000], "结息": [0]}
    summary = page.split('id="year-summary"', 1)[1].split("<tbody>", 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'class="num(?: neg)?">([^<]+)<', summary)
    assert cells == ["1,234.56", "100.00", "0.00", "800.00", "1,934.56", "5"]


def test_balance_chart_carries_month_ends_forward_to_the_business_month(
    client: TestClient, center: Center
) -> None:
    page = client.get(f"/members/{center.li.account_no}").text
    chart = chart_data(page, "balance")
    # 1.00 a day from 1 January for 55 days: 31 in January, 24 in February, none in March
    assert chart["x"] == ["2025-01", "2025-02", "2025-03"]
    assert series(chart) == {"月末余额": [3_100, 5_500, 5_500]}


def test_member_without_postings_has_no_chart(client: TestClient, center: Center) -> None:
    page = client.get("/members/search", params={"q": "张三丰"}).text
    no = re.search(r'href="/members/(\d+)"', page)
    assert no
    shown = client.get(f"/members/{no.group(1)}").text
    assert "data-chart=" not in shown and "echarts.min.js" not in shown


def test_employer_chart_of_posted_remittances_per_month(client: TestClient, center: Center) -> None:
    page = client.get(f"/employers/{center.employer.account_no}").text
    chart = chart_data(page, "remittances")
    assert chart["x"] == ["2025-01", "2025-02", "2025-03"]  # February only pending: shown as none
    assert series(chart) == {"汇缴": [10_000, 0, 12_000], "补缴": [500, 0, 0], "汇缴人数": [2, 0, 3]}


def test_echarts_is_served_locally_with_its_licence(client: TestClient) -> None:
    js = client.get("/static/vendor/echarts-6.1.0/echarts.min.js")
    assert js.status_code == 200 and "Apache" in client.get("/static/vendor/echarts-6.1.0/LICENSE").text
    assert '"ZH"' in js.text  # the Chinese locale is built in
    assert "data-chart" in client.get("/static/charts.js").text
