"""The loan calculator over HTTP: /api/v1/loans/calculator and the 贷款试算 page, no sign-in."""

import pytest
from fastapi.testclient import TestClient

from hpf.app import create_app
from hpf.settings import Settings

QUERY = {
    "principal": "500000",
    "years": "30",
    "rate": "2.60",
    "method": "equal-installment",
    "start": "2025-07-01",
}


@pytest.fixture
def client(tmp_path, clock):
    from hpf.db.engine import make_engine
    from hpf.schema import upgrade

    engine = make_engine(f"sqlite:///{tmp_path}/loans.sqlite3")
    upgrade(engine)
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    with TestClient(app) as c:
        yield c
    engine.dispose()


def test_api_equal_installment_without_signing_in(client):
    r = client.get("/api/v1/loans/calculator", params=QUERY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["principal_fen"], body["months"], body["annual_rate"], body["method_code"]) == (
        50_000_000, 360, "0.026", "01",
    )  # fmt: skip
    assert (body["monthly_payment_fen"], body["last_installment_fen"], body["total_interest_fen"]) == (
        200_170, 200_084, 22_061_114,
    )  # fmt: skip
    assert body["installments"][0] == {
        "period": 1, "due_date": "2025-07-01", "installment_fen": 200_170, "principal_fen": 91_837,
        "interest_fen": 108_333, "remaining_fen": 49_908_163,
    }  # fmt: skip
    assert len(body["installments"]) == 360


def test_api_equal_principal_and_the_default_first_due_date(client):
    query = {**QUERY, "method": "equal-principal"}
    del query["start"]
    body = client.get("/api/v1/loans/calculator", params=query).json()
    assert (body["monthly_payment_fen"], body["last_installment_fen"], body["total_interest_fen"]) == (
        247_222, 139_190, 19_554_167,
    )  # fmt: skip
    assert body["first_due_date"] == "2025-04-01"  # the 1st after the business date 2025-03-15


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"principal": "0"}, "loan.invalid_principal"),
        ({"principal": "12.345"}, "loan.invalid_principal"),
        ({"principal": "abc"}, "loan.invalid_principal"),
        ({"years": "31"}, "loan.invalid_term"),
        ({"years": "2.5"}, "loan.invalid_term"),
        ({"rate": "-1"}, "loan.invalid_rate"),
        ({"rate": "x"}, "loan.invalid_rate"),
        ({"method": "balloon"}, "loan.invalid_method"),
        ({"start": "2025-13-01"}, "loan.invalid_date"),
    ],
)
def test_api_refuses_bad_input_with_problem_json(client, change, code):
    r = client.get("/api/v1/loans/calculator", params={**QUERY, **change})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == code and problem["title"] and problem["detail"]


def test_api_missing_parameter_is_a_request_problem(client):
    r = client.get("/api/v1/loans/calculator", params={"principal": "1"})
    assert r.status_code == 422 and r.json()["code"] == "request.invalid"


def test_page_form_without_signing_in(client):
    r = client.get("/loans/calculator")
    assert r.status_code == 200
    assert "住房公积金贷款试算" in r.text and 'id="loan-calculator"' in r.text
    assert 'value="2.85"' in r.text  # the rate in force on 2025-03-15 (2024-05-18 table, >5 years)
    assert 'id="loan-schedule"' not in r.text


def test_page_shows_summary_and_schedule(client):
    r = client.get("/loans/calculator", params=QUERY)
    assert r.status_code == 200
    assert "2,001.70 元" in r.text and "220,611.14 元" in r.text
    # 360 months folded into 31 calendar years (July 2025 … June 2055), each with its header row
    assert r.text.count('<details class="year"') == 31
    assert r.text.count("<tr>") == 360 + 31
    assert "<html" in r.text


def test_page_summarises_each_year_and_charts_the_schedule(client):
    import html
    import json
    import re

    r = client.get("/loans/calculator", params=QUERY)
    assert 'id="loan-total">720,611.14 元' in r.text  # 500,000.00 + 220,611.14 interest
    assert 'src="/static/vendor/echarts-6.1.0/echarts.min.js"' in r.text
    first = r.text.split('id="year-2025"', 1)[1].split("</summary>", 1)[0]
    assert "6 期" in first and "还款 12,010.20" in first  # July–December: 6 × 2,001.70
    charts = {
        m.group(1): json.loads(html.unescape(m.group(2)))
        for m in re.finditer(r"id=\"chart-([\w-]+)\"[^>]*data-chart='([^']*)'", r.text)
    }
    split = {s["name"]: s["data"] for s in charts["calc-split"]["series"]}
    balance = charts["calc-balance"]["series"][0]["data"]
    assert charts["calc-split"]["x"][0] == "2025年" and charts["calc-split"]["x"][-1] == "2055年"
    assert sum(split["本金"]) == 50_000_000 and sum(split["利息"]) == 22_061_114
    assert split["本金"][0] + split["利息"][0] == 6 * 200_170
    assert balance[-1] == 0 and balance[0] == 50_000_000 - split["本金"][0]


def test_htmx_gets_only_the_result(client):
    r = client.get(
        "/loans/calculator", params={**QUERY, "method": "equal-principal"}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "<html" not in r.text
    assert "2,472.22 元" in r.text and "195,541.67 元" in r.text
    assert r.headers["Vary"] == "HX-Request"


def test_page_shows_the_error(client):
    r = client.get("/loans/calculator", params={**QUERY, "years": "40"})
    assert r.status_code == 422 and r.headers["X-HPF-Error"] == "loan.invalid_term"
    assert "贷款年限须为1至30之间的整数" in r.text and 'value="40"' in r.text
    fragment = client.get(
        "/loans/calculator", params={**QUERY, "rate": "abc"}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 422 and 'role="alert"' in fragment.text
