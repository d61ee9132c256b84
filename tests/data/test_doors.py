"""Doors refuse out-of-table codes with the field named.

Every coded column of the data element registry is either entered at a door — and then a case
below sends an out-of-table value through that door and expects a refusal naming the field — or
set by the system alone (with the reason). A new coded column in neither list fails the suite,
and so does a field of an API request body named like a coded column that no case covers.
"""

from __future__ import annotations

import typing

import pytest
from fastapi.testclient import TestClient

from factories import employer_payload
from hpf.app import create_app
from hpf.data.registry import load
from hpf.kernel.codes import code_table, require_code
from hpf.kernel.errors import InvalidInput
from hpf.kernel.identifiers import luhn_check_digit
from hpf.loans.application import handler as loan_form
from hpf.loans.calculator.schedule import Method
from hpf.settings import Settings

# (table, column) -> the door test below that sends a bad code through it
DOORS = {
    ("employer", "economic_type"): "test_employer_economic_type_refused_at_register_and_change",
    ("loan", "house_nature"): "test_loan_form_codes_refused_with_the_field",
    ("loan", "guarantee_type"): "test_loan_form_codes_refused_with_the_field",
    ("loan", "method"): "test_loan_form_codes_refused_with_the_field",
    ("remittance", "kind"): "test_list_kind_refused_with_the_field",
}
# (table, column) -> why no door takes it
SYSTEM = {
    ("member", "certificate_type"): "set to 01 at opening: only a resident ID number opens an account",
    ("member", "gender"): "read from the resident ID number's digits",
    ("member", "state"): "moved by the account services' transitions only",
    ("member", "state_before_freeze"): "kept by the freeze service",
    ("employer", "state"): "moved by the account services' transitions only",
    ("account_history", "business_type"): "written by the account services from their actions",
    ("journal_entry", "business_type"): "written by the posting services of each business",
    ("loan", "classification"): "the daily overdue run classifies",
    ("withdrawal", "reason"): "the catalog item (WD-*) the member applies for fixes it",
    ("payment_order", "fund_business_type"): "set by the paying business; settlement.rules checks it",
}
# request-body fields named like a coded column but meaning something else
HOMONYMS = {
    "reason": "free text: why a change is made",
    "kind": "a close kind, a policy kind, a list kind (covered by DOORS: remittance.kind)",
    "state": "a filter or transition name",
    "method": "the calculator's method names (equal-installment / equal-principal), checked by the enum",
}


def test_every_coded_column_is_a_door_case_or_system_set():
    coded = {(e.table, e.column) for e in load().coded()}
    assert coded - set(DOORS) - set(SYSTEM) == set(), "a coded column without a door case or reason"
    assert (set(DOORS) | set(SYSTEM)) - coded == set(), "a case for a column that is not coded"
    assert set(DOORS).isdisjoint(SYSTEM)
    names = {n for n in globals() if n.startswith("test_")}
    assert set(DOORS.values()) <= names


@pytest.fixture(scope="module")
def app(tmp_path_factory, wiring):
    from hpf.db.engine import make_engine
    from hpf.schema import upgrade

    db = tmp_path_factory.mktemp("doors") / "hpf.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    yield create_app(Settings(env="development", database_url=f"sqlite:///{db}"), engine=engine)
    engine.dispose()


def _body_fields(app) -> dict[str, list[str]]:
    """Every property of every JSON or form request body in the OpenAPI, with its routes."""
    spec = app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    found: dict[str, list[str]] = {}

    def props(schema: dict, seen: set[str]) -> dict:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                return {}
            return props(schemas[name], seen | {name})
        out = dict(schema.get("properties", {}))
        for sub in schema.get("allOf", []) + schema.get("anyOf", []):
            out.update(props(sub, seen))
        return out

    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for media in op.get("requestBody", {}).get("content", {}).values():
                for name in props(media.get("schema", {}), set()):
                    found.setdefault(name, []).append(f"{method.upper()} {path}")
    return found


def test_request_fields_named_like_coded_columns_are_covered(app):
    coded_names = {e.column for e in load().coded()}
    covered = {column for _, column in DOORS}
    fields = _body_fields(app)
    assert "economic_type" in fields  # the walk sees the API's bodies
    uncovered = {
        name: routes
        for name, routes in fields.items()
        if name in coded_names and name not in covered and name not in HOMONYMS
    }
    assert uncovered == {}


@pytest.fixture
def teller(app, sign_in):
    with TestClient(app) as c:
        sign_in(c, "doors01")
        yield c


def test_employer_economic_type_refused_at_register_and_change(teller):
    r = teller.post("/api/v1/employers", json=employer_payload(1, economic_type="999"))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "code_table.unknown_code" and r.json()["field"] == "economic_type"
    assert "单位经济类型" in r.json()["title"]
    assert teller.get("/api/v1/employers").json() == []  # nothing stored
    ok = teller.post("/api/v1/employers", json=employer_payload(1, economic_type="002"))
    assert ok.status_code in (200, 201), ok.text
    assert ok.json()["economic_type"] == "002"
    no = ok.json()["account_no"]
    bad = teller.patch(f"/api/v1/employers/{no}", json={"changes": {"economic_type": "12"}, "reason": "变更"})
    assert bad.status_code == 422 and bad.json()["field"] == "economic_type"
    assert teller.get(f"/api/v1/employers/{no}").json()["economic_type"] == "002"
    blank = teller.post("/api/v1/employers", json=employer_payload(2, economic_type=""))
    assert blank.status_code in (200, 201) and blank.json()["economic_type"] is None


def _loan_payload(**overrides):
    base = {
        "term_months": 240,
        "method": Method.EQUAL_INSTALLMENT.value,
        "house_nature": "01",
        "house_price_fen": 100_000_000,
        "floor_area": "90",
        "guarantee_type": "01",
        "payee_name": "王五",
        "payee_card": "622202020011223344" + luhn_check_digit("622202020011223344"),
        "payee_bank": "中国工商银行",
    }
    return {**base, **overrides}


def test_loan_form_codes_refused_with_the_field():
    assert loan_form.form_of(_loan_payload()).house_nature == "01"
    for field, bad in (("house_nature", "03"), ("guarantee_type", "04"), ("method", "05")):
        with pytest.raises(InvalidInput) as caught:
            loan_form.form_of(_loan_payload(**{field: bad}))
        assert caught.value.extra["field"] == field
    # the form's choices are the code tables' values (the calculator supports two methods)
    assert set(loan_form.HOUSE_NATURE_ZH) == {c.code for c in code_table("house_nature")}
    assert set(loan_form.GUARANTEE_ZH) == {c.code for c in code_table("loan_guarantee_type")}
    assert {m.code for m in Method} <= {c.code for c in code_table("loan_repayment_method")}


def test_list_kind_refused_with_the_field(teller):
    from hpf.contributions.api import ListIn

    allowed = typing.get_args(ListIn.model_fields["kind"].annotation)
    assert set(allowed) <= {c.code for c in code_table("business_type")}
    made = teller.post("/api/v1/employers", json=employer_payload(3)).json()
    r = teller.post(
        f"/api/v1/employers/{made['account_no']}/remittances",
        json={"month": "2025-02", "kind": "09", "rows": []},
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "kind"]]


def test_require_code_names_the_field():
    assert require_code("gender", "1", field="gender") == "1"
    with pytest.raises(InvalidInput) as caught:
        require_code("certificate_type", "07", field="certificate_type")
    assert (
        caught.value.extra["field"] == "certificate_type" and caught.value.code == "code_table.unknown_code"
    )
    with pytest.raises(InvalidInput):
        require_code("gender", 1, field="gender")
