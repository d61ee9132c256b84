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


def server_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server process ``pid`` and its live
    children (the workers of ``hpf serve --workers N``); 0.0 where /proc is not there (not Linux).

    Beside the latencies, which depend on what else the machine is running, this is the figure
    to compare between two runs: the server's CPU per request."""
    import os

    def own(p: int) -> float:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    total = own(pid)
    try:
        entries = os.listdir("/proc")
    except OSError:
        return total
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            total += own(int(entry))
    return total
