"""The bare baseline of the HTTP benchmarks: the same clients, back to back, fetching a static
file through the same server in the same run — what a request costs before any business work."""

from __future__ import annotations

import threading
import time

import httpx


def bare_round_trips(base: str, clients: int, each: int) -> list[float]:
    """The baseline of the same run: the same clients, back to back, fetching a static file
    through the same server (admission, headers, limits, routing; no sign-in, no database)."""
    times: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(each):
                t0 = time.perf_counter()
                http.get("/static/favicon.svg").raise_for_status()
                with lock:
                    times.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times
