"""The loan pages' charts: a loan's remaining principal and principal/interest per year, the
book by five-level class; the figures in each chart's data (JSON in ``data-chart``, fen) against
the pure schedule and sums worked by hand. Both databases (the year is read in SQL)."""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from loanpages_support import LoanCenter, build_loan_center
from test_loan_pages import original_schedule

from hpf.access.permissions import Role
from signing_in import use_session


@pytest.fixture
def lc(engine: Any) -> LoanCenter:
    return build_loan_center(engine)


def charts_of(page: str) -> dict[str, dict[str, Any]]:
    return {
        m.group(1): json.loads(htmllib.unescape(m.group(2)))
        for m in re.finditer(r"id=\"chart-([\w-]+)\"[^>]*data-chart='([^']*)'", page)
    }


def series(chart: dict[str, Any]) -> dict[str, list[Any]]:
    return {s["name"]: s["data"] for s in chart["series"]}


def test_a_loans_charts_follow_its_schedule_by_year(lc: LoanCenter) -> None:
    rows = original_schedule().installments  # 120,000.00 over 12 months from 30 April 2025
    this_year, next_year = rows[:9], rows[9:]  # April–December 2025, January–March 2026
    with TestClient(lc.app) as client:
        use_session(client, lc.center.principals[Role.MEMBER])
        page = client.get(f"/loans/{lc.mine}")
        assert page.status_code == 200
        assert 'src="/static/charts.js"' in page.text
        charts = charts_of(page.text)
    assert charts["loan-split"]["x"] == ["2025年", "2026年"]
    assert series(charts["loan-split"]) == {
        "本金": [sum(r.principal_fen for r in this_year), sum(r.principal_fen for r in next_year)],
        "利息": [sum(r.interest_fen for r in this_year), sum(r.interest_fen for r in next_year)],
    }
    assert sum(series(charts["loan-split"])["本金"]) == 12_000_000
    assert series(charts["loan-balance"]) == {"年末剩余本金": [rows[8].remaining_fen, 0]}


def test_the_book_by_five_level_class(lc: LoanCenter) -> None:
    april = original_schedule().installments[0].principal_fen
    with TestClient(lc.app) as client:
        use_session(client, lc.center.principals[Role.TELLER])
        page = client.get("/loans").text
    chart = charts_of(page)["book-class"]
    assert chart["x"] == ["正常", "关注", "次级", "可疑", "损失"]
    # mine and theirs paid April: 120,000.00 less April's principal each; late owes all of it
    assert series(chart) == {
        "贷款余额": [2 * (12_000_000 - april), 12_000_000, 0, 0, 0],
        "笔数": [2, 1, 0, 0, 0],
    }
    table = page.split('id="class-table"', 1)[1].split("</table>", 1)[0]
    assert "classification=02" in table and f"{(2 * (12_000_000 - april)) // 100:,}." in table
