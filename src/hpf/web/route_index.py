"""Which of the application's routes a request's path can match, found without trying them all.

Starlette and FastAPI find a request's route by testing every route's regex in order: with the
center's ~170 flat routes (see ``hpf.app._add_routes``) that loop was 10–14 % of a request's CPU
in the withdrawal benchmark (issue 11). A route can only match a path that begins with the
literal segments of its template, those before its first ``{parameter}``; so the routes are put
in a tree by those segments, and a request is matched against the routes found along its own
path's segments only — the routes that can match it, in their declared order.

Order is what makes this exact: the router takes the first route, in declaration order, that
fully matches; every route that can fully (or partially, for 405) match the path is among the
candidates, in that same order, so the candidates' first match is the whole list's. A path that
none of its candidates takes — a 404, a redirect to the path with or without its trailing slash —
falls back to the router's own loop over every route, so those answers are the router's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.routing import APIRouter
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send


def literal_segments(path_format: str) -> tuple[str, ...]:
    """The path's segments before the first one holding a parameter, empty ones left out (a
    route declared with a trailing slash must stay a candidate for the path without it)."""
    literal: list[str] = []
    for segment in path_format.split("/"):
        if "{" in segment:
            break
        if segment:
            literal.append(segment)
    return tuple(literal)


@dataclass(slots=True)
class _Node:
    """A literal segment's node: the routes whose literal segments end here, and its children."""

    own: list[int] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)
    candidates: list[BaseRoute] = field(default_factory=list)
    dispatch: ASGIApp | None = None


class RouteIndex:
    """The router's dispatch by path, in place of its loop over every route.

    Installed as the router's innermost app (``router.middleware_stack``); rebuilt when the
    router's list of routes changes (a test may add a route after the app is made)."""

    def __init__(self, router: APIRouter) -> None:
        self._router = router
        self._built_for: tuple[int, int] = (-1, 0)
        self._root = _Node()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self._router.app(scope, receive, send)
            return
        node = self._node_for(get_route_path(scope))
        if "router" not in scope:
            scope["router"] = self._router  # url_for resolves names over every route
        assert node.dispatch is not None
        await node.dispatch(scope, receive, send)

    def full_match(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The route routing gives ``scope`` — the first that fully matches — and its child scope."""
        for route in self._node_for(get_route_path(scope)).candidates:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, child
        return None

    def _node_for(self, path: str) -> _Node:
        routes = self._router.routes
        if self._built_for != _signature(routes):
            self._build(routes)
        node = self._root
        for segment in path.split("/"):
            if not segment:
                continue
            child = node.children.get(segment)
            if child is None:
                break
            node = child
        return node

    def _build(self, routes: list[BaseRoute]) -> None:
        root = _Node()
        for position, route in enumerate(routes):
            template = getattr(route, "path_format", None)
            node = root
            if isinstance(template, str):
                for segment in literal_segments(template):
                    node = node.children.setdefault(segment, _Node())
            node.own.append(position)  # a route without a path template is a candidate everywhere
        self._attach(root, routes, [])
        self._root = root
        self._built_for = _signature(routes)

    def _attach(self, node: _Node, routes: list[BaseRoute], inherited: list[int]) -> None:
        """Each node's dispatch: a router over the node's candidates (its ancestors' routes and
        its own, in declared order) that falls back to the whole router for what none of them
        takes. Its own slash redirect is off: the fallback does it over every route."""
        positions = sorted(inherited + node.own)
        node.candidates = [routes[i] for i in positions]
        node.dispatch = APIRouter(
            routes=node.candidates,
            redirect_slashes=False,
            default=self._router.app,
        ).app
        for child in node.children.values():
            self._attach(child, routes, positions)


def _signature(routes: list[BaseRoute]) -> tuple[int, int]:
    """What tells that the router's list changed: routes are only ever appended (or the last
    taken away again, as a test does)."""
    return len(routes), id(routes[-1]) if routes else 0


def full_match(router: object, scope: Scope) -> tuple[BaseRoute, Scope] | None:
    """The route a request (or a probe of one) reaches on ``router`` — through its index when it has
    one, else by trying its routes in order — and the child scope; None when none fully matches."""
    index = getattr(router, "middleware_stack", None)
    if isinstance(index, RouteIndex):
        return index.full_match(scope)
    for route in getattr(router, "routes", ()):
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child
    return None
