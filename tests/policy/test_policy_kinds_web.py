"""The withdrawal and loan parameters on /api/v1/policy and the 政策参数 page, on both engines
(decision 0022): read, asked to change, approved by another administrator, refused as
problem+json (422, never 500) naming the field."""

import re

import pytest
from fastapi.testclient import TestClient

from hpf.app import create_app
from hpf.settings import Settings
from signing_in import approve_pending


@pytest.fixture
def client(engine, clock, sign_in):
    """An administrator, policy01, signed in to the pages (the API takes the session too)."""
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    with TestClient(app) as c:
        sign_in(c, "policy01", session=True)
        yield c


def change(key, value, effective_from="2025-07-01", reason="管委会决议"):
    return {"key": key, "effective_from": effective_from, "value": value, "reason": reason}


# ----------------------------------------------------------------------------------------- API


def test_the_withdrawal_and_loan_parameters_in_force(client):
    w = client.get("/api/v1/policy/withdrawal").json()
    assert w["on"] == "2025-03-15" and w["rent_monthly_cap_fen"] == 60_000
    assert (w["rent_min_deposit_months"], w["retirement_age_male"], w["housing_withdrawals_per_year"]) == (
        3,
        60,
        4,
    )
    loan = client.get("/api/v1/policy/loan").json()
    assert loan["max_amount_fen"] == 120_000_000 and loan["ltv_first_home"] == "0.8"
    assert loan["balance_multiple"] == "15" and loan["penalty_multiplier"] == "1.5"
    assert loan["classification_thresholds"] == {
        "special_mention": 1,
        "substandard": 91,
        "doubtful": 181,
        "loss": 361,
    }
    assert loan["dunning_days"] == [1, 30, 90]
    assert client.get("/api/v1/policy/loan", params={"on": "2015-08-31"}).json()["ltv_second_home"] == "0.7"
    old = client.get("/api/v1/policy/withdrawal", params={"on": "1990-01-01"})
    assert old.status_code == 422 and old.json()["code"] == "policy.no_value"


def test_a_rent_cap_and_a_down_payment_change_through_the_api(client):
    for key, value in (("withdrawal.rent_monthly_cap_fen", 45_000), ("loan.ltv_first_home", "0.7")):
        asked = client.post("/api/v1/policy/changes", json=change(key, value))
        assert asked.status_code == 202, asked.text
        assert asked.json()["state"] == "pending"
    assert client.get("/api/v1/policy/withdrawal", params={"on": "2025-07-01"}).json()[
        "rent_monthly_cap_fen"
    ] == (60_000)  # nothing before approval
    own = client.get("/api/v1/approvals", params={"state": "pending"}).json()
    refused = client.post(f"/api/v1/approvals/{own[0]['id']}/approve")
    assert refused.status_code == 403 and refused.json()["code"] == "approval.same_person"

    answers = approve_pending(client)
    assert [a["result"]["label_zh"] for a in answers] == ["租房提取每月限额", "首套住房最高贷款比例"]
    on = {"on": "2025-07-01"}
    assert client.get("/api/v1/policy/withdrawal", params=on).json()["rent_monthly_cap_fen"] == 45_000
    assert client.get("/api/v1/policy/withdrawal").json()["rent_monthly_cap_fen"] == 60_000
    assert client.get("/api/v1/policy/loan", params=on).json()["ltv_first_home"] == "0.7"
    listed = {c["key"]: c for c in client.get("/api/v1/policy/changes").json()}
    assert (
        listed["loan.ltv_first_home"]["value"] == "0.7"
        and listed["loan.ltv_first_home"]["actor"] == "policy01"
    )


@pytest.mark.parametrize(
    ("key", "value", "field", "words"),
    [
        ("withdrawal.rent_monthly_cap_fen", -1, "withdrawal.rent_monthly_cap_fen", "金额不能为负数"),
        ("loan.ltv_first_home", "1.2", "loan.ltv_first_home", "须在0至1之间"),
        ("loan.ltv_second_home", 0.8, "loan.ltv_second_home", "须为字符串形式的小数"),
        ("loan.repayment_capacity_ratio", "1.5", "loan.repayment_capacity_ratio", "须在0至1之间"),
        ("loan.max_term_months", 0, "loan.max_term_months", "须为1至600之间的整数"),
        ("loan.max_amount_fen", {"yuan": 1}, "loan.max_amount_fen", "须为整数"),
        ("loan.dunning_days", [90, 30, 1], "loan.dunning_days", "依次递增"),
        ("loan.classification_thresholds", [1, 2], "loan.classification_thresholds", "四个起始逾期天数"),
        ("withdrawal.retirement_age_male", "9" * 5000, "withdrawal.retirement_age_male", "须为整数"),
        ("withdrawal.rent_monthly_cap_fen", None, "withdrawal.rent_monthly_cap_fen", "须为整数"),
        ("loan.no_such_thing", 1, "key", "未知的政策参数"),
    ],
)
def test_bad_values_are_problem_documents_naming_the_field(client, key, value, field, words):
    r = client.post("/api/v1/policy/changes", json=change(key, value))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["field"] == field and words in problem["title"]
    assert client.get("/api/v1/approvals", params={"state": "pending"}).json() == []


# --------------------------------------------------------------------------------------- page


def _table(html: str, table_id: str) -> str:
    return html.split(f'id="{table_id}"')[1].split("</table>")[0]


def test_the_page_shows_the_withdrawal_and_loan_parameters(client):
    html = client.get("/policy").text
    withdrawal, loan = _table(html, "policy-withdrawal"), _table(html, "policy-loan")
    assert "提取政策参数" in html and "贷款政策参数" in html
    assert (
        "租房提取每月限额" in withdrawal and "600.00元" in withdrawal and "单位：元/月（每人）" in withdrawal
    )
    assert withdrawal.count('<span class="tag">国家默认</span>') == 10
    assert "个人住房贷款最高额度" in loan and "1,200,000.00元" in loan and "80%（最低首付20%）" in loan
    # 13 loan parameters, loan.refuse_unsettled_elsewhere (decision 0031) and
    # loan.refuse_credit_listed (decision 0040)
    assert "逾期第1、30、90天" in loan and loan.count('<span class="tag">国家默认</span>') == 15
    assert "异地未结清公积金贷款不予贷款" in loan and 'id="policy-loan-refuse_unsettled_elsewhere"' in loan
    assert 'id="policy-loan-max_amount_fen"' in loan
    form = html.split('id="policy-form"')[1].split("</form>")[0]
    assert '<optgroup label="提取">' in form and '<optgroup label="贷款">' in form
    assert 'value="withdrawal.rent_monthly_cap_fen"' in form
    text = re.sub(r"<[^>]+>", "", html)
    assert "withdrawal." not in text and "loan." not in text and "UNVERIFIED" not in text


def test_staff_change_a_loan_ceiling_and_thresholds_on_the_page(client):
    ceiling = {
        "key": "loan.max_amount_fen",
        "effective_from": "2025-07-01",
        "value": "1,000,000",
        "reason": "决议",
    }
    assert client.post("/policy", data=ceiling, follow_redirects=False).status_code == 303
    pending = client.get("/policy?done=1").text
    assert "个人住房贷款最高额度调整为1,000,000.00元，2025-07-01起生效：决议" in pending
    thresholds = {"key": "loan.classification_thresholds", "effective_from": "2025-07-01",
                  "value": "1，61、121 241", "reason": "决议"}  # fmt: skip
    assert client.post("/policy", data=thresholds, follow_redirects=False).status_code == 303
    cap = {
        "key": "withdrawal.rent_monthly_cap_fen",
        "effective_from": "2025-07-01",
        "value": "450元",
        "reason": "决议",
    }
    assert client.post("/policy", data=cap, follow_redirects=False).status_code == 303
    ltv = {"key": "loan.ltv_second_home", "effective_from": "2025-07-01", "value": "70%", "reason": "决议"}
    assert client.post("/policy", data=ltv, follow_redirects=False).status_code == 303
    approve_pending(client)

    loan = client.get("/api/v1/policy/loan", params={"on": "2025-07-01"}).json()
    assert loan["max_amount_fen"] == 100_000_000 and loan["ltv_second_home"] == "0.7"
    assert loan["classification_thresholds"] == {
        "special_mention": 1,
        "substandard": 61,
        "doubtful": 121,
        "loss": 241,
    }
    assert client.get("/api/v1/policy/withdrawal", params={"on": "2025-07-01"}).json()[
        "rent_monthly_cap_fen"
    ] == (45_000)
    html = client.get("/policy").text
    loan_rows = _table(html, "policy-loan")
    assert "2025-07-01</time> 起：1,000,000.00元" in loan_rows
    assert "起：逾期1天起关注，61天起次级，121天起可疑，241天起损失" in loan_rows
    assert "2025-07-01</time> 起：450.00元" in _table(html, "policy-withdrawal")
    assert "租房提取每月限额" in _table(html, "policy-scheduled")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("withdrawal.rent_monthly_cap_fen", "-5", "租房提取每月限额：金额不能为负数"),
        ("withdrawal.rent_monthly_cap_fen", "abc", "租房提取每月限额：金额格式错误"),
        ("loan.ltv_first_home", "120%", "首套住房最高贷款比例：须在0至1之间"),
        ("loan.dunning_days", "30,1", "催收通知节点：逾期天数须依次递增"),
        ("loan.max_term_months", "", "贷款期限上限：请填写调整后的值"),
    ],
)
def test_a_refused_parameter_is_shown_again_with_its_name(client, key, value, message):
    data = {"key": key, "effective_from": "2025-07-01", "value": value, "reason": "决议"}
    r = client.post("/policy", data=data, follow_redirects=False)
    assert r.status_code == 422 and message in r.text
    assert f'<option value="{key}" selected>' in r.text
    assert client.get("/api/v1/approvals", params={"state": "pending"}).json() == []


def test_a_member_sees_the_parameters_without_staff_notes(engine):
    from services_support import build_center
    from signing_in import use_session

    center = build_center(engine)
    app = create_app(
        Settings(env="development", database_url=str(engine.url)), engine=engine, clock=center.clock
    )
    with TestClient(app) as c:
        use_session(c, center.people["a"])
        html = c.get("/policy").text
    assert "租房提取每月限额" in _table(html, "policy-withdrawal") and "600.00元" in html
    assert "个人住房贷款最高额度" in _table(html, "policy-loan")
    assert (
        "说明" not in html and "广州" not in html and "待核实" not in html and 'id="policy-form"' not in html
    )
