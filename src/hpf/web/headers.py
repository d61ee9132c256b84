"""Security headers on every response (a pure ASGI middleware).

- ``Content-Security-Policy`` (:data:`CSP`): scripts and styles only from this site, no inline
  script, no framing, forms only to this site. Templates carry no ``<script>`` body and no
  ``on*=`` attribute (``tests/web/test_web_headers.py`` scans them); htmx runs with
  ``includeIndicatorStyles: false`` so it injects no ``<style>``. A response that sets its own
  policy keeps it: the API documentation pages (:mod:`hpf.web.docs`), and the receipt (回执),
  a downloaded file that must carry its styles, whose ``<style>`` is allowed by its hash
  (:func:`allow_own_styles`);
- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy:
  same-origin``;
- ``Strict-Transport-Security`` outside development;
- ``Cache-Control: no-store`` on everything but the static assets under ``/static/``: pages and
  API answers carry personal data, which no browser or proxy cache should keep.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
STATIC_PREFIX = "/static/"


_STYLE_BLOCK = re.compile(rb"<style>(.*?)</style>", re.S)


def allow_own_styles(response: Response) -> Response:
    """The policy of a self-contained page: its own ``<style>`` blocks allowed by their SHA-256."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(block).digest()).decode() + "'"
        for block in _STYLE_BLOCK.findall(bytes(response.body))
    ]
    if hashes:
        response.headers["Content-Security-Policy"] = CSP.replace(
            "style-src 'self'", "style-src 'self' " + " ".join(hashes)
        )
    return response


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CSP)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
