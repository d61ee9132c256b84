"""The API documentation pages, served from this site alone (no CDN: they work offline).

Swagger UI (``/docs``) and ReDoc (``/redoc``) are vendored under ``static/vendor/``
(swagger-ui-dist 5.35.0, redoc 2.5.2, with their licences). FastAPI's own pages are turned off
(``docs_url=None, redoc_url=None``): their HTML starts the viewer with an inline script, which
the Content-Security-Policy forbids. These pages load the viewer and a small init script
(``static/docs/*.js``) that reads its settings from ``data-`` attributes.

Both viewers style their elements at run time (ReDoc inserts ``<style>`` elements), so these
two pages — and only they — allow inline *styles*; scripts stay ``'self'`` only.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

SWAGGER = "/static/vendor/swagger-ui-5.35.0"
REDOC = "/static/vendor/redoc-2.5.2"
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)


def swagger_ui_html(title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Swagger UI</title>
<link rel="stylesheet" href="{SWAGGER}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{SWAGGER}/swagger-ui-bundle.js"></script>
<script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""


def redoc_html(title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · ReDoc</title>
<link rel="stylesheet" href="/static/docs/redoc.css">
</head>
<body>
<div id="redoc" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{REDOC}/redoc.standalone.js"></script>
<script src="/static/docs/redoc-init.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` (the application is made with ``docs_url=None, redoc_url=None``)."""
    openapi_url = app.openapi_url or "/openapi.json"
    headers = {"Content-Security-Policy": DOCS_CSP}

    async def swagger_ui(_request: Request) -> HTMLResponse:
        return HTMLResponse(swagger_ui_html(app.title, openapi_url), headers=headers)

    async def redoc(_request: Request) -> HTMLResponse:
        return HTMLResponse(redoc_html(app.title, openapi_url), headers=headers)

    # Plain routes, like FastAPI's own documentation pages: public, outside the schema.
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
