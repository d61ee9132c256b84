"""Limits at the door (hpf.web.limits): body sizes while streaming, no anonymous bodies.

The app is driven at the ASGI level with a ``receive`` that hands out a body chunk by chunk and
counts what the server took: "refused before the body was read" is then a number.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hpf.app import create_app
from hpf.db.engine import make_engine
from hpf.schema import upgrade
from hpf.settings import Settings
from signing_in import add_staff, bearer

CHUNK = 64 * 1024
MIB = 1024 * 1024


@pytest.fixture
def app(tmp_path: Any, clock: Any) -> Iterator[FastAPI]:
    engine = make_engine(f"sqlite:///{tmp_path}/limits.sqlite3")
    upgrade(engine)
    yield create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    engine.dispose()


class Sent:
    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""


def drive(
    app: FastAPI, method: str, path: str, headers: dict[str, str], total: int, prefix: bytes = b""
) -> tuple[Sent, int]:
    """Send ``total`` bytes of body (``prefix`` then spaces) in 64 KiB chunks; (the answer, the
    bytes the app received)."""
    taken = 0
    sent = Sent()

    async def receive() -> dict[str, Any]:
        nonlocal taken
        if taken >= total:
            return {"type": "http.disconnect"}
        size = min(CHUNK, total - taken)
        chunk = (prefix[taken:] + b" " * size)[:size] if taken < len(prefix) else b" " * size
        taken += size
        return {"type": "http.request", "body": chunk, "more_body": taken < total}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
            sent.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            sent.body += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)
    return sent, taken


def test_a_2_mib_json_body_is_refused_413_up_front(app: FastAPI) -> None:
    with TestClient(app) as client:
        started = time.monotonic()
        r = client.post(
            "/api/v1/auth/token",
            content=b'{"login": "' + b"a" * (2 * MIB) + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert time.monotonic() - started < 2
    assert r.status_code == 413, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "request.too_large" and problem["limit"] == MIB
    assert "请求内容过大" in problem["title"] and "larger than" in problem["detail"]


def test_a_declared_length_over_the_limit_is_refused_before_reading(app: FastAPI) -> None:
    headers = {"content-type": "application/json", "content-length": str(2 * MIB)}
    sent, taken = drive(app, "POST", "/api/v1/auth/token", headers, 2 * MIB)
    assert sent.status == 413 and taken == 0
    assert json.loads(sent.body)["code"] == "request.too_large"


def test_a_chunked_body_is_counted_while_it_streams(app: FastAPI) -> None:
    headers = {"content-type": "application/json", "transfer-encoding": "chunked"}
    sent, taken = drive(app, "POST", "/api/v1/auth/token", headers, 500 * MIB)
    assert sent.status == 413
    assert json.loads(sent.body)["code"] == "request.too_large"
    assert MIB < taken <= MIB + CHUNK  # stopped at the first chunk past the limit


def test_an_anonymous_upload_is_refused_before_its_body_is_read(app: FastAPI) -> None:
    multipart = {"content-type": "multipart/form-data; boundary=x"}
    # 2 GB announced: too large for any route, refused at once
    sent, taken = drive(app, "POST", "/api/v1/applications/1/materials",
                        {**multipart, "content-length": str(2 * 1024 * MIB)}, 2 * 1024 * MIB)  # fmt: skip
    assert sent.status == 413 and taken == 0
    # streamed without a length: nobody signed in, so 401 before a byte is read
    chunked = {**multipart, "transfer-encoding": "chunked"}
    sent, taken = drive(app, "POST", "/api/v1/applications/1/materials", chunked, 2 * 1024 * MIB)
    assert sent.status == 401 and taken == 0
    assert json.loads(sent.body)["code"] == "auth.required"
    assert sent.headers["www-authenticate"].startswith("Bearer")
    sent, taken = drive(app, "POST", "/api/v1/employers/000000001/remittances/upload",
                        {**multipart, "content-length": str(10 * MIB)}, 10 * MIB)  # fmt: skip
    assert sent.status == 401 and taken == 0
    # a forged or expired token is no better: refused on its signature, nothing read
    forged = {**chunked, "authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}
    sent, taken = drive(app, "POST", "/api/v1/applications/1/materials", forged, 2 * 1024 * MIB)
    assert sent.status == 401 and taken == 0
    assert json.loads(sent.body)["code"] == "auth.invalid_token"
    assert 'error="invalid_token"' in sent.headers["www-authenticate"]
    # a page's form: the sign-in page, still without reading the body
    sent, taken = drive(app, "POST", "/applications/1/materials", chunked, 2 * 1024 * MIB)
    assert sent.status == 303 and sent.headers["location"].startswith("/login?next=") and taken == 0


def test_uploads_may_be_larger_than_other_bodies_but_not_unbounded(app: FastAPI) -> None:
    who = add_staff(app, "teller01")
    signed_in = {**bearer(app, who), "content-type": "multipart/form-data; boundary=x"}
    path = "/api/v1/applications/1/materials"
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n'
    chunked = {**signed_in, "transfer-encoding": "chunked"}
    sent, taken = drive(app, "POST", path, chunked, 100 * MIB, prefix=part)
    assert sent.status == 413 and 20 * MIB < taken <= 20 * MIB + CHUNK
    sent, _ = drive(app, "POST", path, {**signed_in, "content-length": str(3 * MIB)}, 3 * MIB)
    assert sent.status != 413  # within the upload limit: the route answers (a bad multipart)


def test_open_routes_and_bodiless_requests_are_not_refused(app: FastAPI) -> None:
    with TestClient(app) as client:
        r = client.post("/api/v1/auth/token", json={"login": "nobody", "password": "x"})
        assert r.status_code == 401 and r.json()["code"] == "auth.failed"
        r = client.get("/api/v1/members")
        assert r.status_code == 401 and r.json()["code"] == "auth.required"
        r = client.post("/nowhere", json={})
        assert r.status_code == 404


def test_a_real_server_refuses_an_anonymous_2_gb_upload_without_taking_it(app: FastAPI) -> None:
    """Over a socket (uvicorn): the answer comes while the client is still sending, and the client
    stops long before 2 GB; the server neither spools nor parses it."""
    import httpx

    from live_server import serving

    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"\0" * (1024 * 1024)
        while sent < 2 * 1024 * MIB:
            sent += len(chunk)
            yield chunk

    with serving(app) as base:
        started = time.monotonic()
        headers = {"Content-Type": "multipart/form-data; boundary=x"}
        try:
            r = httpx.post(
                f"{base}/api/v1/applications/1/materials", content=body(), headers=headers, timeout=30
            )
            status = r.status_code
        except httpx.TransportError:  # the server closed the connection on the unread body
            status = 0
        assert time.monotonic() - started < 20
    assert status in (0, 401), status
    assert sent < 64 * MIB, sent  # what the socket buffers took (a few MiB), not 2 GB
