"""The route class of every route: the request's unit of work learns how the request ended.

A route's connection (``hpf.web.deps``) is function-scoped: FastAPI ends it after the endpoint
returns and *before* the response is sent, so a client never sees success for a change that is
not committed. To end it right, the unit of work needs the answer's status, which only the route
handler sees: ``HpfRoute`` puts it on ``request.state.status`` before the dependencies are
closed. A status of 400 or more rolls the transaction back even when the endpoint returned a
page rather than raising (a form shown again with its errors changes nothing).

``PageRoute`` (``hpf.web.pages_common``) turns refusals into Chinese pages in ``answer_refusals``, inside
this wrapper, so the status it records is the page's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from hpf.web import unit_of_work

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class HpfRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
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
