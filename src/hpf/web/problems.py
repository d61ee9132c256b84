"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import exc as db_errors
from starlette.exceptions import HTTPException

from hpf.kernel.errors import HpfError

PROBLEM = "application/problem+json"


def install(app: FastAPI) -> None:
    @app.exception_handler(HpfError)
    async def _hpf(request: Request, exc: HpfError) -> JSONResponse:
        headers = {}
        if exc.status == 401:  # RFC 6750: say how to authenticate
            error = ', error="invalid_token"' if exc.code == "auth.invalid_token" else ""
            headers["WWW-Authenticate"] = f'Bearer realm="openhpf"{error}'
        retry = exc.extra.get("retry_after")
        if exc.status in (423, 429, 503) and isinstance(retry, int):
            headers["Retry-After"] = str(retry)
        return JSONResponse(exc.to_problem(request.url.path), exc.status, media_type=PROBLEM, headers=headers)

    @app.exception_handler(db_errors.TimeoutError)
    @app.exception_handler(db_errors.OperationalError)
    @app.exception_handler(db_errors.DisconnectionError)
    async def _database_unavailable(request: Request, _exc: Exception) -> Response:
        # No connection in time, the write lock not free in time, or the database unreachable:
        # nothing was committed (a commit that fails raises before the answer), so the client
        # may retry. Said at once, with when, instead of holding the request.
        return unavailable(request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        problem = HpfError(
            "request.invalid",
            "请求参数不合法",
            "the request does not match the schema",
            status=422,
            errors=errors,
        ).to_problem(request.url.path)
        return JSONResponse(problem, 422, media_type=PROBLEM)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        titles = {404: "资源不存在", 405: "不支持的请求方法"}
        problem = HpfError(
            f"http.{exc.status_code}",
            titles.get(exc.status_code, "请求错误"),
            str(exc.detail),
            status=exc.status_code,
        ).to_problem(request.url.path)
        return JSONResponse(problem, exc.status_code, media_type=PROBLEM)


RETRY_AFTER_SECONDS = 2
_BUSY_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>系统繁忙</title></head>
<body><h1>系统繁忙</h1><p>系统暂时无法处理您的请求，本次操作未生效，请稍后再试。</p></body></html>"""


def unavailable(request: Request) -> Response:
    """503 with Retry-After: problem+json on the API, a short Chinese page elsewhere."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if not request.url.path.startswith("/api/"):
        return HTMLResponse(_BUSY_PAGE, 503, headers=headers)
    problem = HpfError(
        "db.unavailable",
        "系统繁忙，请稍后再试",
        "the database did not answer in time; nothing was changed, retry after the time in Retry-After",
        status=503,
    ).to_problem(request.url.path)
    return JSONResponse(problem, 503, media_type=PROBLEM, headers=headers)
