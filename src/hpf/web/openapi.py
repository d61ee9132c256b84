"""The refusals in the OpenAPI description: every operation lists its 4xx (and 503) answers as
``application/problem+json`` with the :data:`PROBLEM_SCHEMA` (``hpf.web.problems``).

Done once, on the generated schema, from what each route declares (``hpf.web.auth``):

- every operation: 422 ``request.invalid`` (instead of FastAPI's ``HTTPValidationError``: our
  validation errors are problems too) and 503 (a busy or unreachable dependency, ``Retry-After``);
- a route that needs sign-in: 401 ``auth.required`` / ``auth.invalid_token`` and 403
  ``auth.forbidden`` (``auth.staff_only``, ``auth.csrf``, ``auth.wrong_center``); the bank's
  notices: 401 ``auth.bank_signature``;
- a path with an identifier: 404; a change (POST, PUT, PATCH, DELETE): 409 and 400;
- a request with a body: 413 ``request.too_large`` (``hpf.web.limits``);
- the sign-in routes: 423 ``auth.locked`` and 429 ``auth.throttled`` with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from hpf.access.permissions import Perm
from hpf.web.auth import declarations
from hpf.web.problems import PROBLEM

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; ``code`` is stable, ``title`` Chinese, ``detail`` English",
    "type": "object",
    "required": ["type", "code", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri", "example": "https://openhpf.org/problems/auth.required"},
        "code": {"type": "string", "description": "the stable machine code", "example": "auth.required"},
        "title": {"type": "string", "description": "Chinese, for people", "example": "请先登录"},
        "detail": {"type": "string", "description": "English, for developers"},
        "status": {"type": "integer", "example": 401},
        "instance": {"type": "string", "description": "the path of the request"},
        "field": {"type": "string", "description": "the offending field, when there is one"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "422: what did not match"},
        "retry_after": {"type": "integer", "description": "seconds (423, 429)"},
    },
    "additionalProperties": True,
}

_REF = {"$ref": "#/components/schemas/Problem"}
_RETRY = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}

DESCRIPTIONS: dict[int, tuple[str, str]] = {
    400: ("Bad request (a malformed body or header)", "request.bad_length"),
    401: ("Not signed in, or the token is invalid or expired", "auth.required"),
    403: ("Signed in, but not allowed (permission, staff only, CSRF, another center)", "auth.forbidden"),
    404: ("No such object, or not one the caller may see", "member.not_found"),
    409: ("The current state does not allow it", "member.state"),
    413: ("The request body is larger than the limit", "request.too_large"),
    422: ("The request does not match the schema or the rules", "request.invalid"),
    423: ("Too many failed sign-ins for this login from this address: locked for a while", "auth.locked"),
    429: ("Too many attempts: wait (Retry-After)", "auth.throttled"),
    503: ("Busy or the database not had in time: try again later (Retry-After)", "server.busy"),
}

SIGN_IN_PATHS = ("/api/v1/auth/",)
_CHANGES = frozenset({"post", "put", "patch", "delete"})


def _response(status: int) -> dict[str, Any]:
    description, code = DESCRIPTIONS[status]
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": _REF, "example": {"code": code, "status": status}}},
    }
    if status in (423, 429, 503):
        answer["headers"] = _RETRY
    return answer


def statuses(path: str, method: str, permissions: set[Perm], has_body: bool) -> set[int]:
    """The refusals an operation may answer (see the module docstring)."""
    found = {422, 503}
    if permissions and not permissions & {Perm.PUBLIC}:
        found |= {401} if Perm.BANK_NOTIFY in permissions else {401, 403}
    if "{" in path:
        found.add(404)
    if method in _CHANGES:
        found |= {400, 409}
    if has_body or method in _CHANGES:
        found.add(413)
    if path.startswith(SIGN_IN_PATHS):
        found |= {401, 423, 429}
    return found


def add_problems(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """``schema`` with the Problem component and the refusals of every operation."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    declared: dict[tuple[str, str], set[Perm]] = {}
    for route in routes:
        if isinstance(route, APIRoute):
            perms = {d.permission for d in declarations(route)}
            for method in route.methods or ():
                declared[(route.path_format, method.lower())] = perms
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            perms = declared.get((path, method), set())
            has_body = "requestBody" in operation
            for status in sorted(statuses(path, method, perms, has_body)):
                operation["responses"][str(status)] = _response(status)
    return schema


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problems(generate(), app.routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
