"""/api/v1/data/catalog (JSON and CSV) and the 数据目录 page: who may open them, the filters."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.data.registry import load
from hpf.db.engine import make_engine
from hpf.schema import metadata, upgrade
from hpf.settings import Settings


@pytest.fixture(scope="module")
def app(tmp_path_factory, wiring):
    db = tmp_path_factory.mktemp("catalog") / "hpf.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    yield create_app(Settings(env="development", database_url=f"sqlite:///{db}"), engine=engine)
    engine.dispose()


@pytest.fixture
def auditor(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "auditor01", roles=[Role.AUDITOR], session=True)
        yield c


def test_json_lists_every_column_of_the_schema(auditor):
    r = auditor.get("/api/v1/data/catalog")
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == sum(len(t.columns) for t in metadata.tables.values())
    by_key = {(x["table"], x["column"]): x for x in rows}
    rid = by_key[("member", "resident_id_enc")]
    assert rid["element"] == "ZJHM" and rid["standard_fields"] == "4.0.3.ZJHM"
    assert rid["grade"] == "core" and rid["encrypted"] is True and rid["sharing"] == "conditional"
    state = by_key[("member", "state")]
    assert state["code_table"] == "member_account_state" and state["code_table_name_zh"] == "个人账户状态"
    assert state["owner"] == "accounts" and state["standard_type"] == "VARCHAR(2)"
    version = by_key[("member", "version")]
    assert version["in_standard"] is False and version["standard_fields"] == ""
    assert version["standard_name_zh"].startswith("本中心自定义")


def test_filters_and_a_bad_filter_named(auditor):
    rows = auditor.get("/api/v1/data/catalog", params={"table": "loan", "standard": "true"}).json()
    assert rows and {r["table"] for r in rows} == {"loan"} and all(r["in_standard"] for r in rows)
    expected = [e for e in load().elements if e.table == "loan" and e.is_standard]
    assert len(rows) == len(expected)
    none = auditor.get("/api/v1/data/catalog", params={"sharing": "none", "owner": "identity"}).json()
    assert none and all(r["sharing"] == "none" and r["owner"] == "identity" for r in none)
    r = auditor.get("/api/v1/data/catalog", params={"grade": "secret"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == "grade"


def test_csv_both_ways(auditor):
    a = auditor.get("/api/v1/data/catalog", params={"format": "csv", "owner": "ledger"})
    b = auditor.get("/api/v1/data/catalog.csv", params={"owner": "ledger"})
    assert a.status_code == b.status_code == 200
    assert a.headers["content-type"].startswith("text/csv") and a.content == b.content
    rows = list(csv.DictReader(io.StringIO(a.content.decode("utf-8-sig"))))
    json_rows = auditor.get("/api/v1/data/catalog", params={"owner": "ledger"}).json()
    assert [(r["table"], r["column"]) for r in rows] == [(r["table"], r["column"]) for r in json_rows]
    assert {r["owner"] for r in rows} == {"ledger"}


def test_roles_without_data_read_are_refused(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "teller01", roles=[Role.TELLER], session=True)
        assert c.get("/api/v1/data/catalog").status_code == 403
        assert c.get("/data/catalog").status_code == 403
        home = c.get("/")
        assert home.status_code == 200 and 'href="/data/catalog"' not in home.text


def test_the_page_lists_and_filters(auditor):
    page = auditor.get("/data/catalog")
    assert page.status_code == 200
    assert "数据目录" in page.text and 'href="/data/catalog"' in page.text  # the menu shows it
    assert page.text.count("<tr>") == len(load().elements) + 1
    only = auditor.get("/data/catalog", params={"table": "member", "grade": "core"})
    assert only.status_code == 200
    cores = [e for e in load().of_table("member") if e.classification.grade.value == "core"]
    assert only.text.count("<tr>") == len(cores) + 1 and "HPF_" not in only.text.split("<tbody>")[1]
    assert 'href="/api/v1/data/catalog.csv?table=member&amp;grade=core"' in only.text
    assert auditor.get("/data/catalog", params={"owner": "nobody"}).status_code == 422


def test_the_catalog_says_which_export_files_carry_a_column(auditor):
    rows = {(r["table"], r["column"]): r for r in auditor.get("/api/v1/data/catalog").json()}
    assert rows[("member", "account_no")]["exported"] == "hpf data export 4.0.3; hpf data export 5.0.4"
    assert rows[("loan", "certificate_no_enc")]["exported"] == ""  # 6.0.3 is not exported
    assert rows[("member", "version")]["exported"] == ""
