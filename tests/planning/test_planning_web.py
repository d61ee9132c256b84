"""The planning pages and API on a simulated center: who may read and act, the liquidity alert
acknowledged (who, when), the forecasts saying the history is too short, the plan with its
versioned assumptions and its xlsx and PDF."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.db.engine import write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.policy.service import schedule_change
from hpf.settings import Settings
from planning_city import CENTER, TODAY


@pytest.fixture
def app(city):
    ctx = Context("setup", FixedClock(TODAY), CENTER, source="test")
    with write_transaction(city) as conn:  # a warning line the city is above: the alert is policy
        schedule_change(conn, ctx, "liquidity.loan_ratio_max", TODAY, "0.01", "测试告警")
    return create_app(
        Settings(env="development", database_url=str(city.url)), engine=city, clock=FixedClock(TODAY)
    )


def test_a_manager_sees_the_alert_and_notes_having_seen_it(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "finance01", roles=[Role.FINANCE], session=True)
        page = c.get("/planning/liquidity")
        assert (
            page.status_code == 200 and "资金运行监测" in page.text and 'id="alert-loan_ratio"' in page.text
        )
        assert "达到预警线1.00%" in page.text and "已查看</button>" in page.text
        body = c.get("/api/v1/planning/liquidity").json()
        alert = next(a for a in body["alerts"] if a["indicator"] == "loan_ratio")
        assert alert["acknowledged_by"] is None and alert["threshold"] == "0.01"
        assert body["indicators"]["on"] == TODAY.isoformat() and body["indicators"]["bank_fen"] > 0
        seen = c.post("/planning/liquidity/alerts/loan_ratio/ack", follow_redirects=False)
        assert seen.status_code == 303
        page = c.get("/planning/liquidity")
        assert "已查看</button>" not in page.text.split('id="alert-loan_ratio"')[1].split("</tr>")[0]
        assert "告警记录" in page.text
        missing = c.post("/api/v1/planning/liquidity/alerts/no_such_indicator/ack")
        assert missing.status_code == 404 and missing.json()["code"] == "planning.no_such_alert"
    with TestClient(app) as c:  # a second manager's acknowledgement does not overwrite the first
        sign_in(c, "finance02", roles=[Role.FINANCE])
        again = c.post("/api/v1/planning/liquidity/alerts/loan_ratio/ack").json()
        assert again["acknowledged_by"] == "finance01" and again["acknowledged_at"]


def test_who_may_read_and_who_may_act(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "teller01", roles=[Role.TELLER])
        assert c.get("/api/v1/planning/liquidity").status_code == 403
        assert c.get("/api/v1/planning/plan/2026").status_code == 403
    with TestClient(app) as c:
        sign_in(c, "super01", roles=[Role.SUPERVISOR])
        assert c.get("/api/v1/planning/liquidity").status_code == 200
        assert c.get("/api/v1/planning/warnings").status_code == 200
        assert c.post("/api/v1/planning/liquidity/alerts/loan_ratio/ack").status_code == 403
        assert c.post("/api/v1/planning/forecasts").status_code == 403
        refused = c.post("/api/v1/planning/whatif", json={"parameter": "loan.max_amount_fen", "value": 1})
        assert refused.status_code == 403


def test_forecasts_say_the_history_is_too_short(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "finance01", roles=[Role.FINANCE], session=True)
        assert "尚未进行资金预测" in c.get("/planning/forecasts").text
        assert c.post("/planning/forecasts", follow_redirects=False).status_code == 303
        page = c.get("/planning/forecasts")
        assert page.text.count("历史数据不足：仅有10个月，至少需要18个月才能预测并回测") >= 4
        run = c.get("/api/v1/planning/forecasts").json()
        assert {f["status"] for f in run["forecasts"]} == {"too_little_history"}


def test_the_plan_its_assumptions_and_its_exports(app, sign_in):
    from openpyxl import load_workbook

    with TestClient(app) as c:
        sign_in(c, "finance01", roles=[Role.FINANCE], session=True)
        first = c.get("/api/v1/planning/plan/2026").json()
        assert first["assumptions_version"] == 0
        collections = next(ln for ln in first["lines"] if ln["key"] == "collections")
        # no forecast (short history): 2026's months carry 2025's actuals, Nov/Dec none
        assert collections["basis"] == ["carry"] * 10 + ["none"] * 2 and collections["total_fen"] > 0
        page = c.get("/planning/plan", params={"year": 2026})
        assert page.status_code == 200 and "2026年度住房公积金归集使用计划" in page.text
        keys = [ln["key"] for ln in first["lines"]]
        form = {"key": keys, "growth": ["10" if k == "collections" else "" for k in keys],
                "override": ["1,200.00" if k == "loan_disbursements" else "" for k in keys], "note": "按10%增长"}  # fmt: skip
        saved = c.post("/planning/plan/2026/assumptions", data=form, follow_redirects=False)
        assert saved.status_code == 303, saved.text
        second = c.get("/api/v1/planning/plan/2026").json()
        assert second["assumptions_version"] == 1
        grown = next(ln for ln in second["lines"] if ln["key"] == "collections")
        assert grown["growth"] == "0.1"
        assert grown["months_fen"][0] == (collections["months_fen"][0] * 11 + 5) // 10  # × 1.1, half up
        loans = next(ln for ln in second["lines"] if ln["key"] == "loan_disbursements")
        assert loans["total_fen"] == 120_000 and loans["overridden"]
        assert second["sources_total_fen"] - second["uses_total_fen"] == second["closing_bank_fen"]
        bad = c.post("/planning/plan/2026/assumptions", data={**form, "growth": ["abc"] * len(keys)})
        assert bad.status_code == 422 and bad.headers["X-HPF-Error"] == "planning.invalid_growth"
        assert c.get("/api/v1/planning/plan/2026", params={"version": 1}).json()["assumptions_version"] == 1
        xlsx = c.get("/planning/plan/2026/xlsx")
        assert xlsx.status_code == 200 and 'filename="plan-2026.xlsx"' in xlsx.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        rows = {r[0]: r for r in sheet.iter_rows(values_only=True) if r and r[0]}
        assert float(rows["资金来源合计"][13]) == second["sources_total_fen"] / 100
        assert float(rows["年末预计银行存款"][13]) == second["closing_bank_fen"] / 100
        pdf = c.get("/planning/plan/2026/pdf")
        assert (
            pdf.status_code == 200
            and pdf.content.startswith(b"%PDF")
            and pdf.headers["content-type"] == "application/pdf"
        )


def test_the_whatif_page_queues_a_run_and_refuses_a_wrong_parameter(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "finance01", roles=[Role.FINANCE], session=True)
        wrong = c.post("/api/v1/planning/whatif", json={"parameter": "base_cap_fen", "value": 1})
        assert wrong.status_code == 422 and wrong.json()["code"] == "planning.whatif_parameter"
        bad_value = c.post(
            "/api/v1/planning/whatif", json={"parameter": "loan.ltv_first_home", "value": "1.5"}
        )
        assert bad_value.status_code == 422 and bad_value.json()["code"] == "policy.invalid_value"
        page = c.post("/planning/whatif", data={"parameter": "loan.max_amount_fen", "value": "800,000",
                                                "months": "3"}, follow_redirects=False)  # fmt: skip
        assert page.status_code == 303
        run = c.get(page.headers["location"])
        assert run.status_code == 200 and "政策模拟 第" in run.text and "排队中" in run.text
        run_id = int(page.headers["location"].rsplit("/", 1)[1])
        got = c.get(f"/api/v1/planning/whatif/{run_id}").json()
        assert got["params"] == {
            "parameter": "loan.max_amount_fen",
            "value": 80_000_000,
            "months": 3,
            "seed": 7,
        }
        assert "政策模拟" in c.get("/planning/whatif").text
        assert "预警队列为空" in c.get("/planning/warnings").text
