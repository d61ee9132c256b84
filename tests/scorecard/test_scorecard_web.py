"""The scorecard's card over HTTP and on the command line (SQLite and PostgreSQL): the page
``/loans/scorecard``, ``GET /api/v1/loans/scorecard`` and ``hpf loan train-scorecard``."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from scorecard_support import AS_OF, build_book
from typer.testing import CliRunner

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.cli import app as hpf
from hpf.db.engine import write_transaction
from hpf.loans.scorecard import model as scorecard
from hpf.loans.scorecard.features import FEATURE_ZH, FEATURES
from hpf.settings import Settings


@pytest.fixture
def center(engine, clock):
    clock.set(AS_OF)
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    with TestClient(app) as client:
        yield client


def test_before_training_the_page_says_so_and_the_api_answers_not_found(center, sign_in):
    sign_in(center, "risk01", [Role.RISK], session=True)
    page = center.get("/loans/scorecard")
    assert page.status_code == 200
    assert 'id="not-trained"' in page.text and "hpf loan train-scorecard" in page.text
    assert "受保护属性" in page.text
    missing = center.get("/api/v1/loans/scorecard")
    assert missing.status_code == 404 and missing.json()["code"] == "scorecard.not_trained"


def test_the_page_and_the_api_show_the_trained_card(engine, ctx, center, sign_in):
    with write_transaction(engine) as conn:
        build_book(conn, ctx)
        card = scorecard.train(conn, ctx)
    sign_in(center, "super01", [Role.SUPERVISOR], session=True)
    page = center.get("/loans/scorecard")
    assert page.status_code == 200
    text = page.text
    assert f'id="auc">{card.auc}<' in text
    assert f"{card.train_count} / {card.test_count}" in text
    assert "曾逾期90天及以上" in text and AS_OF.isoformat() in text
    assert "性别" in text  # the note that no protected attribute is used
    for name in FEATURES:
        assert f'id="feature-{name}"' in text and FEATURE_ZH[name] in text
    found = re.search(r"id=\"chart-coefficients\"[^>]*data-chart='([^']*)'", text)
    assert found and 'src="/static/charts.js"' in text
    chart = json.loads(html.unescape(found.group(1)))
    strongest = sorted(zip(card.features, card.coefficients, strict=True), key=lambda fc: -abs(fc[1]))
    assert chart["x"] == [FEATURE_ZH[f] for f, _ in strongest]  # the bars, strongest first
    assert chart["series"][0]["data"] == [round(c, 4) for _, c in strongest]
    api = center.get("/api/v1/loans/scorecard").json()
    assert api["auc"] == str(card.auc) and api["id"] == card.id
    assert api["train_count"] == card.train_count and api["test_bads"] == card.test_bads
    shown = {f["feature"]: f for f in api["features"]}
    assert set(shown) == set(FEATURES)
    assert shown["payment_to_base"]["direction"] == "up"
    assert shown["payment_to_base"]["coefficient"] == card.coefficients[FEATURES.index("payment_to_base")]
    assert abs(api["features"][0]["coefficient"]) >= abs(api["features"][-1]["coefficient"])


def test_the_card_needs_the_loan_read_permission(center, sign_in):
    sign_in(center, "admin01", [Role.ADMIN])
    refused = center.get("/api/v1/loans/scorecard")
    assert refused.status_code == 403 and refused.json()["code"] == "auth.forbidden"


def test_hpf_loan_train_scorecard_prints_the_auc_and_refuses_an_empty_book(engine, ctx, clock, monkeypatch):
    if engine.dialect.name != "sqlite":
        pytest.skip("the command line is exercised once; training itself runs on both engines")
    monkeypatch.setenv("HPF_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("HPF_BUSINESS_DATE", AS_OF.isoformat())
    runner = CliRunner()
    empty = runner.invoke(hpf, ["loan", "train-scorecard"])
    assert empty.exit_code == 2 and "scorecard.too_few_loans" in empty.output
    clock.set(AS_OF)
    with write_transaction(engine) as conn:
        build_book(conn, ctx)
    done = runner.invoke(hpf, ["loan", "train-scorecard", "--seed", "3"])
    assert done.exit_code == 0, done.output
    with write_transaction(engine) as conn:
        card = scorecard.active_card(conn)
    assert card is not None and card.seed == 3
    assert f"AUC (held-out) {card.auc}" in done.output
    assert f"train {card.train_count} loans ({card.train_bads} bad)" in done.output


def test_the_card_page_is_chinese_with_fixed_decimals(engine, ctx, center, sign_in):
    import re

    with write_transaction(engine) as conn:
        build_book(conn, ctx)
        scorecard.train(conn, ctx)
    sign_in(center, "risk02", [Role.RISK], session=True)
    html = center.get("/loans/scorecard").text
    text = re.sub(r"<[^>]+>", " ", html.split("<main")[1])
    assert "Bad:" not in text and "logistic" not in text and "逻辑回归（L2 正则" in text
    assert not re.search(r"\de[+-]\d", text)  # no 1e-05: fixed decimals
    assert "payment_to_base" not in text and "monthly_base_yuan" not in text  # feature codes stay in ids
    table = html.split('id="features"')[1].split("</table>")[0]
    assert re.search(r'class="num">[+-]\d+\.\d{6}</td>', table)
