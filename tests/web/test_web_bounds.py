"""64-bit bounds at the door: an integer a database cannot hold is refused with 422, never 500.

SQLite and PostgreSQL store signed 64-bit integers; a larger number used to reach the driver
and come back as a 500 (``OverflowError`` / ``NumericValueOutOfRange``). This test walks every
route of the app and sends 10^20 and a 25-digit number for each integer path and query
parameter, and checks every integer field of the request models carries a 64-bit bound.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from auth_center import AuthCenter, sqlite_auth_center
from hpf.web.bounds import INT64_MAX
from signing_in import add_staff, use_session

HUGE = (10**20, 10**24 + 7)  # beyond 64 bits; the second has 25 digits
PLAIN = {"fmt": "csv", "code": "AC-CHANGE", "portal": "staff"}


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthCenter]:
    with sqlite_auth_center(Path(tmp_path_factory.mktemp("bounds"))) as made:
        yield made


@pytest.fixture(scope="module")
def client(center: AuthCenter) -> Iterator[TestClient]:
    with TestClient(center.app, follow_redirects=False, raise_server_exceptions=False) as c:
        use_session(c, add_staff(center.app, "everything"))  # every staff role: no 403 before the check
        yield c


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_int(a) for a in typing.get_args(annotation))
    return False


def _routes() -> list[APIRoute]:
    import tempfile

    from hpf.app import create_app
    from hpf.settings import Settings

    path = Path(tempfile.mkdtemp(prefix="hpf-routes-")) / "routes.sqlite3"  # never connected to
    app = create_app(Settings(database_url=f"sqlite:///{path}", env="development", center_code="990001"))
    return [r for r in app.routes if isinstance(r, APIRoute)]


ROUTES = _routes()


def _cases() -> list[Any]:
    cases = []
    for route in ROUTES:
        for where, params in (("path", route.dependant.path_params), ("query", route.dependant.query_params)):
            for p in params:
                if _is_int(p.field_info.annotation):
                    for method in sorted(route.methods - {"HEAD"}):
                        cases.append(
                            pytest.param(route, method, where, p.name, id=f"{method} {route.path} {p.name}")
                        )
    return cases


def _url(route: APIRoute, target: str | None, value: int) -> str:
    url = route.path_format
    for p in route.dependant.path_params:
        if p.name == target:
            text = str(value)
        elif _is_int(p.field_info.annotation):
            text = "1"
        else:
            text = PLAIN.get(p.name, "X1")
        url = url.replace("{" + p.name + "}", text)
    return url


@pytest.mark.parametrize(("route", "method", "where", "name"), _cases())
def test_a_number_beyond_64_bits_is_refused_not_a_500(
    client: TestClient, route: APIRoute, method: str, where: str, name: str
) -> None:
    for value in HUGE:
        if where == "path":
            url, params = _url(route, name, value), {}
        else:
            url, params = _url(route, None, 0), {name: str(value)}
        answer = client.request(method, url, params=params)
        assert answer.status_code < 500, (url, params, answer.text[:300])
        assert answer.status_code == 422, (url, params, answer.status_code)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/ledger/entries/99999999999999999999",
        "/api/v1/ledger/entries?offset=99999999999999999999",
        "/api/v1/loans/1234567890123456789012345",
    ],
)
def test_the_reported_examples_are_problem_json_422(client: TestClient, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_base_of_ten_to_the_twentieth_is_422(client: TestClient, center: AuthCenter) -> None:
    rows = [{"account_no": "X", "name": "X", "base_fen": 10**20, "employer_fen": 1, "member_fen": 1}]
    answer = client.post(
        f"/api/v1/employers/{center.employer.account_no}/remittances",
        json={"kind": "01", "month": "2025-02", "rows": rows},
        headers={"Idempotency-Key": "bounds-1"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "request.invalid"


def _request_models() -> set[type[BaseModel]]:
    """Every pydantic model a route reads from a request body (nested models included)."""
    seen: set[type[BaseModel]] = set()

    def visit(annotation: Any) -> None:
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for field in annotation.model_fields.values():
                visit(field.annotation)
        for arg in typing.get_args(annotation):
            visit(arg)

    for route in ROUTES:
        for p in route.dependant.body_params:
            visit(p.field_info.annotation)
    return seen


def _bounds(metadata: list[Any]) -> tuple[Any, Any]:
    low = high = None
    for m in metadata:
        low = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else low
        low = getattr(m, "gt", None) if getattr(m, "gt", None) is not None else low
        high = getattr(m, "le", None) if getattr(m, "le", None) is not None else high
        high = getattr(m, "lt", None) if getattr(m, "lt", None) is not None else high
        if isinstance(m, annotated_types.Interval):
            low = m.ge if m.ge is not None else low
            high = m.le if m.le is not None else high
    return low, high


def test_every_integer_in_a_request_model_is_bounded_to_64_bits() -> None:
    unbounded = []
    for model in _request_models():
        for name, field in model.model_fields.items():
            if _is_int(field.annotation):
                low, high = _bounds(field.metadata)
                if low is None or high is None or low < -INT64_MAX or high > INT64_MAX:
                    unbounded.append(f"{model.__name__}.{name}")
    assert sorted(unbounded) == [], "\n".join(sorted(unbounded))


def test_every_integer_parameter_is_bounded_to_64_bits() -> None:
    unbounded = []
    for route in ROUTES:
        for p in (*route.dependant.path_params, *route.dependant.query_params):
            if _is_int(p.field_info.annotation):
                low, high = _bounds(p.field_info.metadata)
                if low is None or high is None or high > INT64_MAX:
                    unbounded.append(f"{route.path} {p.name}")
    assert sorted(set(unbounded)) == []


# --------------------------------------------------------------------------- string lengths


def _is_str(annotation: Any) -> bool:
    if annotation is str:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_str(a) for a in typing.get_args(annotation))
    return False


def _max_length(metadata: list[Any]) -> int | None:
    for m in metadata:
        if getattr(m, "max_length", None) is not None:
            return int(m.max_length)
    return None


def test_every_string_in_a_request_model_has_a_max_length() -> None:
    """A name, a reason, a memo or an address is never unbounded (a 1,000,000-character reason)."""
    unbounded = [
        f"{model.__name__}.{name}"
        for model in _request_models()
        for name, field in model.model_fields.items()
        if _is_str(field.annotation) and _max_length(field.metadata) is None
    ]
    assert sorted(unbounded) == [], "\n".join(sorted(unbounded))


def test_every_string_parameter_has_a_max_length() -> None:
    unbounded = [
        f"{route.path} {p.name}"
        for route in ROUTES
        for p in (
            *route.dependant.query_params,
            *route.dependant.header_params,
        )  # a path is bounded by the URL
        if _is_str(p.field_info.annotation) and _max_length(p.field_info.metadata) is None
    ]
    assert sorted(set(unbounded)) == [], "\n".join(sorted(set(unbounded)))


def test_a_million_character_reversal_reason_is_refused(client: TestClient, center: AuthCenter) -> None:
    """Under the body limit (1,000,000 ASCII characters) the schema's cap refuses it (422);
    in Chinese (3 MB) the body limit does first (413). Either way nothing is stored."""
    url = f"/api/v1/ledger/entries/{center.entry_id}/reversal"
    answer = client.post(url, json={"reason": "x" * 1_000_000})
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["code"] == "request.invalid"
    answer = client.post(url, json={"reason": "冲" * 1_000_000})
    assert answer.status_code == 413, answer.text[:300]
    assert answer.json()["code"] == "request.too_large"


def test_every_list_or_mapping_in_a_request_model_has_a_max_length() -> None:
    """A list of rows, a map of changes: bounded too (the service checks what is inside)."""
    unbounded = [
        f"{model.__name__}.{name}"
        for model in _request_models()
        for name, field in model.model_fields.items()
        if typing.get_origin(field.annotation) in (list, dict)
        and _max_length(field.metadata) is None
        and model.__module__ != "hpf.settlement.messages"  # the bank's statement: its own limits
    ]
    assert sorted(unbounded) == [], "\n".join(sorted(unbounded))
