"""/api/v1/policy and the 政策参数 page, on both engines."""

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


# ----------------------------------------------------------------------------------------- API


def test_policy_in_force(client):
    body = client.get("/api/v1/policy").json()
    assert body["on"] == "2025-03-15"
    assert body["employer_rate_min"] == "0.05" and body["member_rate_max"] == "0.12"
    assert body["base_floor_fen"] == 200_000 and body["monthly_amount_max_fen"] is None
    assert body["rounding_unit"] == "fen" and body["day_basis"] == 360
    assert body["contribution_year_start"] == "07-01"
    assert body["contribution_year"] == {"start": "2024-07-01", "end": "2025-06-30"}
    assert client.get("/api/v1/policy", params={"on": "2025-07-01"}).json()["contribution_year"]["start"] == (
        "2025-07-01"
    )
    r = client.get("/api/v1/policy", params={"on": "1990-01-01"})
    assert r.status_code == 422 and r.json()["code"] == "policy.no_value"


def test_deposit_rates(client):
    rates = client.get("/api/v1/policy/deposit-rates").json()
    assert rates[-1] == {
        "effective_from": "2016-02-21",
        "current_rate": "0.015",
        "carried_rate": "0.015",
        "source": "default",
    }
    assert [r["effective_from"] for r in rates] == sorted(r["effective_from"] for r in rates)


def test_schedule_and_list_changes(client):
    body = {
        "key": "employer_rate_max",
        "effective_from": "2025-07-01",
        "value": "0.10",
        "reason": "管委会决议",
    }
    r = client.post("/api/v1/policy/changes", json=body)
    assert r.status_code == 202, r.text  # waits for a second administrator
    assert r.json()["state"] == "pending" and client.get("/api/v1/policy/changes").json() == []
    [approved] = approve_pending(client)
    change = approved["result"]
    assert (
        change["value"] == "0.10"
        and change["actor"] == "policy01"
        and change["label_zh"] == "单位缴存比例上限"
    )
    [listed] = client.get("/api/v1/policy/changes").json()
    assert {k: listed[k] for k in ("id", "key", "value", "effective_from", "actor", "reason")} == {
        k: change[k] for k in ("id", "key", "value", "effective_from", "actor", "reason")
    }
    assert client.get("/api/v1/policy", params={"on": "2025-07-01"}).json()["employer_rate_max"] == "0.10"
    assert client.get("/api/v1/policy").json()["employer_rate_max"] == "0.12"

    dup = client.post("/api/v1/policy/changes", json=body)
    assert dup.status_code == 409 and dup.json()["code"] == "policy.duplicate"


@pytest.mark.parametrize(
    ("patch", "status", "code"),
    [
        ({"effective_from": "2025-03-14"}, 422, "policy.retroactive"),
        ({"value": 0.1}, 422, "policy.invalid_value"),
        ({"key": "nope"}, 422, "policy.unknown_key"),
        ({"reason": ""}, 422, "policy.reason_required"),
        ({"effective_from": "not a date"}, 422, "request.invalid"),
    ],
)
def test_refused_changes_are_problem_documents(client, patch, status, code):
    body = {"key": "member_rate_max", "effective_from": "2025-07-01", "value": "0.10", "reason": "x", **patch}
    r = client.post("/api/v1/policy/changes", json=body)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code
    assert client.get("/api/v1/policy/changes").json() == []


def test_deposit_rate_change_through_the_api(client):
    body = {
        "key": "deposit_rate",
        "effective_from": "2025-07-01",
        "value": {"current_rate": "0.0125", "carried_rate": "0.0125"},
        "reason": "银发〔2025〕X号",
    }
    assert client.post("/api/v1/policy/changes", json=body).status_code == 202
    approve_pending(client)
    assert client.get("/api/v1/policy/deposit-rates").json()[-1]["source"] == "center"


# --------------------------------------------------------------------------------------- page


def test_policy_page_shows_values_sources_and_rates(client):
    r = client.get("/policy")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "政策参数" in html and "缴存基数上限" in html and "30,000.00元" in html
    current = html.split('id="policy-current"')[1].split("</table>")[0]
    assert current.count('<span class="tag">国家默认</span>') == 17 and "tag ok" not in current
    assert "告警：工作时间" in current and "工作日 08:00-18:00（北京时间）" in current
    assert "2016-02-21" in html and "1.5%" in html and "0.35%" in html
    assert "暂无待生效的调整" in html


def test_schedule_from_the_page(client):
    form = {"key": "base_cap_fen", "effective_from": "2025-07-01", "value": "36,000", "reason": "统计公报"}
    r = client.post("/policy", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/policy?done=1"
    html = client.get("/policy?done=1").text
    assert "待另一位管理员审批" in html and "缴存基数上限调整为36,000.00元" in html
    approve_pending(client)
    [change] = client.get("/api/v1/policy/changes").json()
    assert change["value"] == 3_600_000  # yuan on the form, fen stored
    html = client.get("/policy").text
    assert "36,000.00元" in html and "待生效" in html and "暂无待审批的调整" in html
    log = html.split('id="policy-changes"')[1].split("</table>")[0]
    assert "测试员" in log and "policy01" not in log  # the clerk by name, not by sign-in

    rate = {"key": "member_rate_min", "effective_from": "2025-07-01", "value": "6%", "reason": "决议"}
    assert client.post("/policy", data=rate, follow_redirects=False).status_code == 303
    approve_pending(client)
    assert client.get("/api/v1/policy", params={"on": "2025-07-01"}).json()["member_rate_min"] == "0.06"

    deposit = {
        "key": "deposit_rate",
        "effective_from": "2025-07-01",
        "current_rate": "1.25%",
        "carried_rate": "0.0125",
        "reason": "通知",
    }
    assert client.post("/policy", data=deposit, follow_redirects=False).status_code == 303
    approve_pending(client)
    last = client.get("/api/v1/policy/deposit-rates").json()[-1]
    assert (last["current_rate"], last["carried_rate"]) == ("0.0125", "0.0125")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"effective_from": "2025-03-01"}, "不能追溯"),
        ({"value": "abc"}, "金额格式错误"),
        ({"reason": ""}, "请填写调整原因"),
        ({"effective_from": "2025/07/01"}, "生效日期格式错误"),
        ({"key": "nope"}, "未知的政策参数"),
    ],
)
def test_a_refused_form_is_shown_again_with_the_message(client, form, message):
    data = {
        "key": "base_cap_fen",
        "effective_from": "2025-07-01",
        "value": "36000",
        "reason": "统计公报",
        **form,
    }
    r = client.post("/policy", data=data, follow_redirects=False)
    assert r.status_code == 422 and message in r.text
    assert re.search(r'name="reason" value="{}"'.format(re.escape(data["reason"])), r.text)
    assert client.get("/api/v1/policy/changes").json() == []


# ------------------------------------------------------------------ words (issue 12)


def test_policy_page_is_chinese_with_units_and_staff_only_sources(client):
    html = client.get("/policy").text
    current = html.split('id="policy-current"')[1].split("</table>")[0]
    text = re.sub(r"<[^>]+>", "", html)  # what the reader sees, not the ids and option values
    assert "base_floor_fen" not in text and "UNVERIFIED" not in text and "PBOC" not in text
    assert (
        "单位：元/月" in current
        and "单位：百分比" in current
        and "2,000.00元" in current
        and "12%" in current
    )
    assert "来源：《住房公积金管理条例》第十八条" in current
    rates = html.split('id="deposit-rates"')[1].split("</table>")[0]
    assert "中国人民银行基准利率调整（待核实）" in rates and "银发〔2016〕43号</small>" in rates
    assert (
        "（待核实）" not in rates.split("2016-02-21")[1].split("</tr>")[0]
    )  # a confirmed source says so plainly
    assert "fen" not in re.sub(r"<[^>]+>", "", html.split('id="policy-form"')[1].split("</form>")[0])


def test_a_member_sees_no_source_notes(engine, clock):
    from services_support import build_center

    center = build_center(engine)
    app = create_app(
        Settings(env="development", database_url=str(engine.url)), engine=engine, clock=center.clock
    )
    from signing_in import use_session

    with TestClient(app) as c:
        use_session(c, center.people["a"])
        html = c.get("/policy").text
    assert "缴存基数上限" in html and "30,000.00元" in html
    assert "来源：" not in html and "待核实" not in html and "UNVERIFIED" not in html and "依据" not in html
    assert "说明" not in html and "W-R2016" not in html and "银发" not in html.split('id="deposit-rates"')[1]
    assert "告警" not in html  # the security thresholds are for staff


def test_rounding_unit_in_chinese_on_the_form(client):
    form = {"key": "rounding_unit", "effective_from": "2025-07-01", "value": "元", "reason": "决议"}
    assert client.post("/policy", data=form, follow_redirects=False).status_code == 303
    approve_pending(client)
    assert client.get("/api/v1/policy", params={"on": "2025-07-01"}).json()["rounding_unit"] == "yuan"


def test_every_error_of_the_policy_form_at_once(client):
    data = {"key": "base_cap_fen", "effective_from": "2025/07/01", "value": "abc", "reason": ""}
    r = client.post("/policy", data=data, follow_redirects=False)
    assert r.status_code == 422
    box = r.text.split('id="policy-errors"')[1].split("</div>")[0]
    assert "3处" in box and "生效日期格式错误" in box and "金额格式错误" in box and "请填写调整原因" in box
