"""Every CSV/xlsx export escapes text a spreadsheet would run as a formula.

An employer may be registered as ``=cmd|' /C calc'!A0`` (a name is only text); the files the
platform writes must still not hand that to Excel as a formula.
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from factories import employer_payload, member_payload
from hpf.app import create_app
from hpf.contributions import lists
from hpf.loans.calculator import calculate, parse_input
from hpf.loans.calculator.schedule import Method
from hpf.settings import Settings

EVIL = "=cmd|' /C calc'!A0"


@pytest.fixture
def client(engine, clock, sign_in):
    app = create_app(Settings(database_url=str(engine.url), env="development"), engine=engine, clock=clock)
    with TestClient(app) as c:
        sign_in(c)
        yield c


def test_the_members_export_escapes_an_employer_named_like_a_formula(client: TestClient) -> None:
    r = client.post("/api/v1/employers", json=employer_payload(name=EVIL))
    assert r.status_code == 201, r.text  # accepted on input: it is only text
    no = r.json()["account_no"]
    opened = client.post("/api/v1/members", json={**member_payload(1), "employer_account_no": no})
    assert opened.status_code == 201, opened.text
    export = client.get(f"/api/v1/employers/{no}/members/export")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][-1] == "单位名称" and rows[1][-1] == "'" + EVIL
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    assert rows[1][4] == "800000"  # numbers stay numbers


def test_the_list_templates_escape_formulas_and_keep_numbers() -> None:
    rows = [("99000120000000017", "@SUM(A1)", "-12.50", "+1+cmd|x", "960")]
    text = lists.template_csv(rows).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1] == [
        "99000120000000017",
        "'@SUM(A1)",
        "-12.50",
        "'+1+cmd|x",
        "960",
    ]
    sheet = load_workbook(io.BytesIO(lists.template_xlsx([("1", EVIL, 5, -7, "x")]))).active
    assert sheet is not None
    cells = list(sheet[2])
    assert cells[1].data_type == "s" and cells[1].value == "'" + EVIL  # text, not a formula
    assert cells[3].value == -7 and cells[3].data_type == "n"


def test_the_loan_schedule_csv_goes_through_the_same_escaping(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpf.loans.calculator import cli

    seen: list[object] = []
    real = cli.safe_row

    def spy(row):
        seen.append(row)
        return real(row)

    monkeypatch.setattr(cli, "safe_row", spy)
    given = parse_input("100000", "1", "2.60", Method.EQUAL_INSTALLMENT.value, None, date(2025, 3, 15))
    text = cli.schedule_csv(calculate(given))
    assert len(seen) == 12 and text.count("\n") == 13  # the header and twelve months
