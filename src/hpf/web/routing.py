"""The route class of every route: the request's unit of work learns how the request ended, and
a sync endpoint's request makes one thread hand-off.

A route's connection (``hpf.web.deps``) ends before the response is sent, so a client never sees
success for a change that is not committed. To end it right, the unit of work needs the answer's
status: a sync endpoint's is known in its own thread, right after it returns or raises
(``_ending_units``); otherwise ``HpfRoute`` puts it on ``request.state.status`` before the
dependencies are closed. A status of 400 or more rolls the transaction back even when the
endpoint returned a page rather than raising (a form shown again with its errors changes nothing).

A sync endpoint's ``ReadDb``/``WriteDb`` are not FastAPI dependencies at run time: one worker
thread opens the connection, runs the endpoint, ends the unit of work and closes the connection
(``_one_hop``, decision 0026). Async endpoints keep the dependencies.

``PageRoute`` (``hpf.web.pages_common``) turns refusals into Chinese pages in ``answer_refusals``, inside
this wrapper, so the status it records is the page's.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Annotated, Any, get_args, get_origin

from fastapi import Request, Response, params
from fastapi.dependencies.utils import get_typed_return_annotation, get_typed_signature
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette.concurrency import run_in_threadpool

from hpf.web import unit_of_work

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
Opener = Callable[[Request], AbstractContextManager[Any]]
REQUEST = "hpf_request"  # the parameter a one-hop endpoint adds when it has no Request of its own

# FastAPI's OpenTelemetry hooks asked on every request whether a provider was configured (four
# lookups and a middleware, ~4 % of a request's CPU); we configure none, so they are off.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class HpfRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        one_hop = _one_hop(endpoint, int(kwargs.get("status_code") or 200))
        super().__init__(path, one_hop or endpoint, **kwargs)
        if one_hop is not None:
            _refuse_shared_connections(self)
        else:
            call = self.dependant.call
            if call is not None and not inspect.iscoroutinefunction(call):
                # FastAPI calls ``dependant.call`` on a worker thread: end the unit of work there.
                self.dependant.call = _ending_units(call, self.status_code or 200)

    def get_route_handler(self) -> Handler:
        handler = self.answer_refusals(super().get_route_handler())

        async def route_handler(request: Request) -> Response:
            response = await handler(request)
            request.state.status = response.status_code
            return response

        return route_handler

    def answer_refusals(self, handler: Handler) -> Handler:
        """A hook for subclasses that answer some exceptions themselves."""
        return handler


def _ending_units(call: Callable[..., Any], status: int) -> Callable[..., Any]:
    """``call``, then the end of the units of work it was given, in the same thread: commit below
    400 (the status of the Response it returned, else the route's), roll back on a refusal or an
    exception."""

    @functools.wraps(call)
    def run(**values: Any) -> Any:
        units = unit_of_work.units_in(values)
        try:
            result = call(**values)
        except BaseException:
            for unit in units:
                unit.end(None, failed=True)
            raise
        answered = result.status_code if isinstance(result, Response) else status
        for unit in units:
            unit.end(answered)
        return result

    return run


# ---------------------------------------------------------------------------- one hand-off


def _opener(annotation: Any) -> Opener | None:
    """The context manager that opens a ``ReadDb``/``WriteDb`` parameter in the endpoint's
    thread (``hpf_open`` of its dependency, ``hpf.web.deps``); None for any other parameter."""
    if get_origin(annotation) is not Annotated:
        return None
    for meta in get_args(annotation)[1:]:
        if isinstance(meta, params.Depends):
            opener = getattr(meta.dependency, "hpf_open", None)
            if opener is not None:
                return opener  # type: ignore[no-any-return]
    return None


def _one_hop(call: Callable[..., Any], status: int) -> Callable[..., Any] | None:
    """A sync endpoint as an async one that makes a single thread hand-off for the whole request.

    FastAPI would run a sync endpoint's request in up to four worker-thread hops, each a wake-up
    of a thread and then of the event loop: the connection's dependency entered, the endpoint,
    the answer's validation, the dependency's exit. Here the endpoint's ``ReadDb``/``WriteDb``
    parameters are not dependencies: one worker thread opens them (the same context managers:
    ``hpf.web.deps.open_read``/``open_write``), runs the endpoint, ends its unit of work —
    commit or rollback, as ``_ending_units`` decides — and closes the connection, all before the
    answer is built; the validation of the returned value then runs on the event loop. The
    order of a request's guarantees is unchanged: nothing answers before its commit.
    None (left to FastAPI) for async and generator endpoints and for unusual signatures.
    """
    if not inspect.isfunction(call) or inspect.iscoroutinefunction(call):
        return None
    if inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call):
        return None
    signature = get_typed_signature(call)
    openers: dict[str, Opener] = {}
    kept: list[inspect.Parameter] = []
    request_name: str | None = None
    for parameter in signature.parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            return None
        opener = _opener(parameter.annotation)
        if opener is not None:
            openers[parameter.name] = opener
            continue
        if inspect.isclass(parameter.annotation) and issubclass(parameter.annotation, Request):
            request_name = parameter.name
        kept.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    added = request_name is None
    if request_name is None:
        request_name = REQUEST
        kept.append(inspect.Parameter(REQUEST, inspect.Parameter.KEYWORD_ONLY, annotation=Request))
    run = _ending_units(call, status)
    name = request_name

    def in_thread(request: Request, values: dict[str, Any]) -> Any:
        with ExitStack() as opened:
            for param, open_ in openers.items():
                values[param] = opened.enter_context(open_(request))
            return run(**values)

    @functools.wraps(call)
    async def endpoint(**values: Any) -> Any:
        request = values.pop(name) if added else values[name]
        return await _hand_off(request, in_thread, request, values)

    returns = inspect.signature(call).return_annotation
    if returns is not inspect.Signature.empty:
        returns = get_typed_return_annotation(call)
    endpoint.__signature__ = inspect.Signature(kept, return_annotation=returns)  # type: ignore[attr-defined]
    return endpoint


REQUEST_THREADS = "request_threads"  # on ``app.state``: the executor of the one hand-off


async def _hand_off(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a worker thread of the application's executor (``REQUEST_THREADS``), in a
    copy of this context; starlette's ``run_in_threadpool`` for an application without one.

    anyio's hand-off took ~100 Python calls and an extra turn of the event loop (a checkpoint,
    the capacity limiter, a cancel scope) for each request; the event loop's executor takes a
    tenth of that. Its size is the server's (``hpf.app.threads_for``), as anyio's limiter was.
    As with anyio, the thread runs to its end even if the request is cancelled meanwhile (its
    unit of work ends there)."""
    pool = getattr(request.app.state, REQUEST_THREADS, None)
    if pool is None:
        return await run_in_threadpool(fn, *args)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, contextvars.copy_context().run, fn, *args)


def _walk(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


def _refuse_shared_connections(route: APIRoute) -> None:
    """A one-hop endpoint's connection is its own: a dependency that also asked for ``ReadDb`` or
    ``WriteDb`` would get another one (FastAPI's per-request cache shared them). None does; a
    route that would is refused when it is declared rather than run with two connections."""
    shared = [sub.call for sub in _walk(route.dependant) if getattr(sub.call, "hpf_open", None) is not None]
    if shared:
        raise TypeError(f"{route.path}: a dependency of a sync endpoint takes the request's connection")
