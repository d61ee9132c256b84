"""Web hardening: security headers on every answer, no inline script in any template, the API
documentation served from this site, and the refusals in the OpenAPI description."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from hpf.app import STATIC_DIR, create_app
from hpf.db.engine import make_engine
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.web.auth import declarations
from hpf.web.headers import CSP, allow_own_styles
from signing_in import sign_in

SRC = Path(__file__).resolve().parents[2] / "src" / "hpf"


def make(tmp_path: Any, clock: Any, env: str = "development") -> FastAPI:
    engine = make_engine(f"sqlite:///{tmp_path}/headers-{env}.sqlite3")
    upgrade(engine)
    keys = {} if env == "development" else {"token_secret": "t" * 40, "keys": "k1:" + "QUJD" * 11}
    return create_app(Settings(env=env, database_url=str(engine.url), **keys), engine=engine, clock=clock)


@pytest.fixture
def client(tmp_path: Any, clock: Any) -> Iterator[TestClient]:
    with TestClient(make(tmp_path, clock), follow_redirects=False) as c:
        yield c


def assert_secured(r: Any, *, static: bool = False) -> None:
    where = f"{r.request.method} {r.request.url.path} ({r.status_code})"
    assert r.headers["x-content-type-options"] == "nosniff", where
    assert r.headers["x-frame-options"] == "DENY", where
    assert r.headers["referrer-policy"] in ("same-origin", "no-referrer"), where
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, where
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0], where
    if static:
        assert "no-store" not in r.headers.get("cache-control", ""), where
    else:
        assert r.headers["cache-control"] == "no-store", where


def test_every_page_and_api_answer_has_the_security_headers(client: TestClient) -> None:
    assert_secured(client.get("/login"))
    assert_secured(client.get("/"))  # the redirect to the sign-in page
    assert_secured(client.get("/api/v1/members"))  # 401
    assert_secured(client.post("/api/v1/auth/token", content=b"x" * (2 << 20)))  # 413 at the door
    assert_secured(client.get("/nowhere"))  # 404
    assert_secured(client.get("/static/hpf.css"), static=True)
    assert "strict-transport-security" not in client.get("/login").headers  # development
    sign_in(client, "teller01", session=True)
    pages = [
        r.path for r in client.app.routes  # type: ignore[attr-defined]
        if isinstance(r, APIRoute) and "GET" in r.methods and "{" not in r.path and declarations(r)
    ]  # fmt: skip
    assert len(pages) > 20
    for path in pages:
        r = client.get(path)
        assert r.status_code < 500, (path, r.status_code)
        assert_secured(r)
        if r.headers.get("content-type", "").startswith("text/html"):
            assert r.headers["content-security-policy"] == CSP


def test_even_a_crash_answers_with_the_security_headers(tmp_path: Any, clock: Any) -> None:
    app = make(tmp_path, clock)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    assert_secured(r)


def test_strict_transport_security_outside_development(tmp_path: Any, clock: Any) -> None:
    with TestClient(make(tmp_path, clock, env="production")) as client:
        r = client.get("/login")
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert_secured(r)


TEMPLATE_DIRS = sorted({p.parent for p in SRC.rglob("*.html")})
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]*\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.I)
STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)


# Downloaded and opened as a file: its styles travel inside, allowed by their hash.
SELF_CONTAINED = {"application_receipt.html"}


def test_a_self_contained_page_allows_exactly_its_own_style_blocks() -> None:
    page = HTMLResponse("<html><head><style>p { color: red; }</style></head><body><p>x</p></body></html>")
    csp = allow_own_styles(page).headers["content-security-policy"]
    digest = base64.b64encode(hashlib.sha256(b"p { color: red; }").digest()).decode()
    assert f"style-src 'self' 'sha256-{digest}';" in csp and "script-src 'self';" in csp
    assert "unsafe-inline" not in csp


def test_no_template_has_inline_script_handlers_or_styles() -> None:
    files = [p for d in TEMPLATE_DIRS for p in d.glob("*.html")]
    assert len(files) > 30
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not INLINE_SCRIPT.search(text), f"{path}: inline <script>"
        assert not HANDLER.search(text), f"{path}: an on* handler attribute"
        if path.name not in SELF_CONTAINED:
            assert not STYLE.search(text), f"{path}: inline style"
        assert not re.search(r"\sstyle\s*=", text, re.I), f"{path}: a style attribute"
        assert "javascript:" not in text.lower(), f"{path}: a javascript: URL"


def test_the_base_template_configures_htmx_for_the_policy() -> None:
    base = (SRC / "web" / "templates" / "base.html").read_text(encoding="utf-8")
    assert '"includeIndicatorStyles": false' in base and '"allowEval": false' in base


def test_api_documentation_is_served_from_this_site(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        urls = re.findall(r'\b(?:src|href)="([^"]*)"', html)
        assert urls and all(u.startswith("/static/") for u in urls), urls
        assert not INLINE_SCRIPT.search(html), path
        assert "cdn" not in html.lower()
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200 and len(asset.content) > 50, url
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert (STATIC_DIR / "vendor" / "swagger-ui-5.35.0" / "LICENSE").exists()
    assert (STATIC_DIR / "vendor" / "redoc-2.5.2" / "LICENSE").exists()


def test_every_operation_documents_its_refusals_as_problem_json(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["schemas"]["Problem"]["required"]) >= {"code", "title", "status"}
    protected = 0
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            answers = op["responses"]
            four = {int(s) for s in answers if s.startswith("4")}
            assert 422 in four, (method, path)
            for status in four:
                content = answers[str(status)]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
            if op.get("security"):  # a bearer token: a route that needs sign-in
                protected += 1
                assert {401, 403} <= four, (method, path)
            if method in ("post", "put", "patch") and "requestBody" in op:
                assert 413 in four, (method, path)
            if "{" in path:
                assert 404 in four, (method, path)
    assert protected > 50
    token = schema["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert {"401", "429"} <= set(token) and "Retry-After" in token["429"]["headers"]
