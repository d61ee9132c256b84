"""RFC 9457 problem+json for every error the API returns."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hpf.kernel.errors import HpfError

PROBLEM = "application/problem+json"


def install(app: FastAPI) -> None:
    @app.exception_handler(HpfError)
    async def _hpf(request: Request, exc: HpfError) -> JSONResponse:
        return JSONResponse(exc.to_problem(request.url.path), exc.status, media_type=PROBLEM)

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
