"""Whether a link opens for whoever looks at the page: a link is shown only to whom it opens.

``can_open(request, "/ledger")`` (templates: ``can_open("/ledger")``, or a route name with its
path parameters, ``can_open("member_page", account_no=no)``) finds the route a GET of the path
reaches and decides from the same declaration ``requires`` enforces (``hpf.web.auth``): its
permission against the viewer's roles, then its object scope — staff pass every scope, a member
or employer only their own objects (the owner read once per object and request), nobody but
staff the center's routes. A path no route answers is not shown either (it would be a 404).
There is no second table of who may open what.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from markupsafe import Markup, escape
from starlette.routing import Mount

from hpf.access.permissions import Perm, Principal
from hpf.web.auth import Resolution, declarations, scope_allows
from hpf.web.route_index import full_match

_CACHE = "links_opened"


def _principal(request: Request) -> Principal | None:
    found = getattr(request.state, "auth", None)
    return found.principal if isinstance(found, Resolution) else None


def _route_of(request: Request, path: str) -> tuple[Any, dict[str, Any]] | None:
    """The route a GET of ``path`` reaches and its path parameters; None when nothing answers."""
    probe = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    found = full_match(request.app.router, probe)
    if found is None:
        return None
    route, child = found
    return route, dict(child.get("path_params", {}))


def can_open(request: Request, target: str, /, **params: Any) -> bool:
    """Whether the signed-in viewer (or an anonymous one) may open ``target`` with a GET."""
    if not target.startswith("/"):
        target = str(request.app.url_path_for(target, **params))
    path = urlsplit(target).path
    cache: dict[str, bool] = request.state.__dict__.setdefault(_CACHE, {})  # per request
    if path not in cache:
        cache[path] = _opens(request, path)
    return cache[path]


def _opens(request: Request, path: str) -> bool:
    found = _route_of(request, path)
    if found is None:
        return False
    route, params = found
    if isinstance(route, Mount):  # static files, the vendored API docs: public
        return True
    declared = declarations(route)
    if not declared:
        return False
    permission, scope = declared[0].permission, declared[0].scope
    if permission is Perm.PUBLIC:
        return True
    if permission is Perm.BANK_NOTIFY:
        return False
    who = _principal(request)
    if who is None or who.center_code != request.app.state.settings.center_code:
        return False
    if not who.may(permission):
        return False
    return scope_allows(request, who, scope, params)


def link(request: Request, href: str, text: Any, /, *, plain: bool = True, **attrs: Any) -> Markup:
    """``<a href=…>text</a>`` when ``href`` opens for the viewer; else the text alone (a
    breadcrumb, a name in a table), or nothing with ``plain=False`` (a button).

    ``class_`` gives the ``class`` attribute; other keyword arguments are attributes as named.
    """
    if not can_open(request, href):
        return escape(text) if plain else Markup("")
    extra = Markup("").join(
        Markup(' {}="{}"').format(name.rstrip("_"), value)
        for name, value in attrs.items()
        if value is not None
    )
    return Markup('<a href="{}"{}>{}</a>').format(href, extra, text)
