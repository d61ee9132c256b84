"""The route index (``hpf.web.route_index``) sends every request where the router's own loop over
every route would: the same route for every path a route declares, the same 404, 405 and
trailing-slash redirect, and a route added after the application was made."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Match

from auth_center import AuthCenter, build_auth_center
from hpf.db.engine import make_engine
from hpf.schema import upgrade
from hpf.web.route_index import RouteIndex, full_match, literal_segments


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthCenter]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('route_index')}/hpf.sqlite3")
    upgrade(engine)
    yield build_auth_center(engine)
    engine.dispose()


def _first_of_all(routes: list[BaseRoute], scope: dict[str, object]) -> BaseRoute | None:
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def _sample(template: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, template)


def test_literal_segments_stop_at_the_first_parameter() -> None:
    assert literal_segments("/api/v1/members/{account_no}/statement") == ("api", "v1", "members")
    assert literal_segments("/files/report-{id}.pdf") == ("files",)
    assert literal_segments("/members/") == ("members",)
    assert literal_segments("/") == ()


def test_the_index_is_installed_on_the_center(center: AuthCenter) -> None:
    assert isinstance(center.app.router.middleware_stack, RouteIndex)


@pytest.mark.parametrize("value", ["1", "search", "999999999999", "x.pdf"])
def test_every_declared_path_reaches_the_route_the_whole_loop_finds(center: AuthCenter, value: str) -> None:
    app: FastAPI = center.app
    routes = app.router.routes
    checked = 0
    for route in routes:
        template = getattr(route, "path_format", None)
        if not isinstance(template, str):
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            path = _sample(template, value)
            scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": []}
            expected = _first_of_all(routes, scope)
            found = full_match(app.router, scope)
            assert (found[0] if found else None) is expected, (method, path)
            checked += 1
    assert checked > 150  # every route of the center, not a handful


def test_unknown_paths_wrong_methods_and_slashes_answer_as_the_router_does(center: AuthCenter) -> None:
    client: TestClient = center.client(follow_redirects=False)
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/api/v1/no-such-thing").status_code == 404
    assert client.delete("/api/v1/services").status_code == 405  # the path exists for GET
    slash = client.get("/api/v1/services/")
    assert slash.status_code in (307, 308)
    assert slash.headers["location"].endswith("/api/v1/services")
    assert client.get("/api/v1/services").status_code == 200


def test_a_route_added_later_is_found(center: AuthCenter) -> None:
    app: FastAPI = center.app

    @app.get("/api/v1/route-index-probe/{n}")
    def probe(n: int) -> dict[str, int]:
        return {"n": n}

    try:
        scope = {"type": "http", "path": "/api/v1/route-index-probe/7", "method": "GET", "root_path": ""}
        found = full_match(app.router, scope)
        assert found is not None and getattr(found[0], "path_format", "") == "/api/v1/route-index-probe/{n}"
    finally:
        app.router.routes.pop()
