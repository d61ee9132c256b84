"""An app served for real (uvicorn in a background thread, a free port of 127.0.0.1): what the
browser tests drive."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

# Debian's Chromium, driven by Playwright (never `playwright install`), as every browser test runs it.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# What a browser test module sets as ``pytestmark``: marked, and skipped without Chromium.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium"),
]
VIEWPORTS = {"phone": (375, 800), "laptop": (1366, 768)}  # every page works at both widths


def screenshot_dir() -> Path:
    """Where screenshots go: ``HPF_SCREENSHOT_DIR``, else ``test-artifacts/screenshots``."""
    chosen = os.environ.get("HPF_SCREENSHOT_DIR")
    where = Path(chosen) if chosen else Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
    where.mkdir(parents=True, exist_ok=True)
    return where


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` on http://127.0.0.1:PORT for the ``with`` block; yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive():
            pytest.fail("uvicorn stopped before it started")
        if time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("uvicorn did not start within 15 s")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
