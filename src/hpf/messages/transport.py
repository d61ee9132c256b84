"""Sending a delivery over HTTP, and the background worker that sends what is due.

A :data:`Poster` posts a delivery's JSON to a URL and gives back the status and the answer's
JSON (``0`` and the error when nothing answered): the real one is :func:`http_poster` (httpx);
tests hand in one that routes to in-process applications. The :class:`Worker` runs a round
function (the hub's or the center's delivery round) on a thread of the server's process until it
is stopped; a round that found work is followed at once by another, an idle one by a pause.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx

PATH = "/api/v1/hub/messages"  # where every party takes messages
Poster = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
log = logging.getLogger("hpf.messages")


def http_poster(timeout: float = 10.0) -> Poster:
    """POST with httpx; a connection failure or timeout is status 0 (retried by the caller)."""
    client = httpx.Client(timeout=timeout)

    def post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            response = client.post(url, json=payload)
        except httpx.HTTPError as exc:
            return 0, {"code": "transport.unreachable", "detail": f"{type(exc).__name__}: {exc}"[:300]}
        try:
            answer = response.json()
        except ValueError:
            answer = {"detail": response.text[:300]}
        return response.status_code, answer if isinstance(answer, dict) else {"answer": answer}

    return post


def endpoint_url(base: str) -> str:
    return base.rstrip("/") + PATH


class Worker:
    """``round()`` again and again on a daemon thread until :meth:`stop` (pausing when idle)."""

    def __init__(self, name: str, round_: Callable[[], int], idle_seconds: float = 1.0) -> None:
        self.name = name
        self._round = round_
        self._idle = idle_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Worker:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = self._round()
            except Exception:  # a round that failed (database busy …) is tried again later
                log.exception("%s: round failed", self.name)
                done = 0
            if not done:
                self._stop.wait(self._idle)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
