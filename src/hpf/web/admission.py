"""Admission: at most ``max_requests`` requests are handled at once; the rest wait a little, then
get a fast 503 with ``Retry-After`` instead of piling up.

Without it, a burst of clients each took a worker thread and a pooled connection and waited on
SQLite's one writer; past the pool's size they waited 30 s for a connection and everybody's
answers stopped. With a bound, the pool and the thread pool are sized from one number
(``hpf.app``), a request admitted always finds a connection, and a client beyond capacity
learns it at once and when to come back. Static files are not counted: they touch no database.
"""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from hpf.kernel.errors import HpfError

RETRY_AFTER_SECONDS = 1


def busy_problem(path: str) -> bytes:
    problem = HpfError(
        "server.busy",
        "系统繁忙，请稍后再试",
        "the server is at capacity; retry after the time in Retry-After",
        status=503,
    ).to_problem(path)
    return json.dumps(problem, ensure_ascii=False).encode()


class Admission:
    def __init__(self, app: ASGIApp, *, max_requests: int, queue_seconds: float) -> None:
        self.app = app
        self.queue_seconds = queue_seconds
        self.slots = anyio.Semaphore(max_requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        admitted = False
        with anyio.move_on_after(self.queue_seconds):  # bounds the wait for a turn, not the request
            await self.slots.acquire()
            admitted = True
        if not admitted:
            await _refuse(scope, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release()


async def _refuse(scope: Scope, send: Send) -> None:
    body = busy_problem(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
