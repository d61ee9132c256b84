"""What every server-rendered page shares: the Jinja2 environment, its filters, rendering,
the page route class (Chinese refusals, sign-in redirects) and who is signed in.

Pages are Chinese, server-rendered, and work without JavaScript; htmx (vendored under
``/static``) only swaps fragments in place. Templates autoescape; amounts always go through
``yuan`` (``format_yuan``), dates are ISO. Personal data reaches a template already masked for
its viewer (``hpf.disclosure.http``), never raw. Every template sees ``who`` (the
signed-in principal or None), ``may("perm")``, ``can_open("/path")`` (whether a link opens for
the viewer, ``hpf.web.links``: every link, button and breadcrumb goes through it) and ``csrf_token``, which every POST form carries
as the hidden field ``csrf_token``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import Connection, select
from starlette.responses import RedirectResponse, Response

import hpf.web
from hpf.access.permissions import Perm
from hpf.identity import identity
from hpf.kernel.clock import CHINA_TZ
from hpf.kernel.codes import code_table
from hpf.kernel.errors import HpfError
from hpf.kernel.money import format_yuan
from hpf.web.links import can_open, link
from hpf.web.routing import Handler, HpfRoute

TEMPLATES_DIR = Path(hpf.web.__file__).parent / "templates"


# ------------------------------------------------------------------------------------ filters


def yuan(fen: int | None) -> str:
    """An amount in fen as yuan, ``123456`` → ``1,234.56``; nothing → ``—``."""
    return "—" if fen is None else format_yuan(int(fen))


def iso(value: date | datetime | str | None) -> str:
    """A date as ``YYYY-MM-DD``; a timestamp in China time as ``YYYY-MM-DD HH:MM:SS``."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def percent(rate: Decimal | str | None) -> str:
    """A ratio as a percentage: ``0.12`` → ``12%``, ``0.075`` → ``7.5%``."""
    if rate is None or rate == "":
        return "—"
    try:
        value = Decimal(str(rate)) * 100
    except InvalidOperation:
        return str(rate)
    text = f"{value.normalize():f}"
    return f"{text}%"


def code_name(code: str | None, table: str) -> str:
    """The Chinese name of a code in a code table; an unknown code is shown as is."""
    if code is None or code == "":
        return "—"
    tab = code_table(table)
    return tab.get(code).name_zh if code in tab else str(code)


_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,}")


def latin_code(text: str | None) -> Markup:
    """Chinese text with its Latin abbreviations and identifiers (``AUC``, ``DKYWMXLX``) set as
    ``<code>``: on a Chinese page only identifiers may be Latin (the data catalog's names and notes)."""
    # Split first, escape each piece: escaping first would let the pattern cut into an entity
    # ("&amp;" → "&<code>amp</code>;").
    text = text or ""
    parts: list[str] = []
    end = 0
    for m in _LATIN_RUN.finditer(text):
        parts += [str(escape(text[end : m.start()])), f"<code>{escape(m.group(0))}</code>"]
        end = m.end()
    parts.append(str(escape(text[end:])))
    return Markup("".join(parts))  # noqa: S704 - every piece escaped above


def member_state(code: str | None) -> str:
    return code_name(code, "member_account_state")


def employer_state(code: str | None) -> str:
    return code_name(code, "employer_account_state")


ACTION_ZH = {
    "open": "开户",
    "reopen": "重新开户",
    "change": "变更",
    "seal": "封存",
    "unseal": "启封",
    "freeze": "冻结",
    "unfreeze": "解冻",
    "transfer": "内部转移",
    "close": "销户",
    "activate": "启用",
    "defer": "缓缴",
    "end_deferral": "结束缓缴",
}


def action_name(action: str) -> str:
    return ACTION_ZH.get(action, action)


# ------------------------------------------------------------------------------ history rows

FIELD_ZH = {
    "account_no": "账号",
    "uscc": "统一社会信用代码",
    "address": "单位地址",
    "legal_rep_name": "法定代表人",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "bank_name": "开户银行",
    "bank_account_no": "银行账号",
    "payday": "发薪日",
    "employer_rate": "单位缴存比例",
    "member_rate": "个人缴存比例",
    "economic_type": "单位经济类型",
    "state": "状态",
    "state_before_freeze": "冻结前状态",
    "opened_on": "开户日期",
    "closed_on": "销户日期",
    "deferral_from": "缓缴起始年月",
    "deferral_to": "缓缴终止年月",
    "paid_through": "缴至年月",
    "certificate_type": "证件类型",
    "resident_id": "身份证号",
    "name_pinyin": "姓名全拼",
    "gender": "性别",
    "birth_date": "出生日期",
    "phone": "手机号码",
    "employer_id": "单位",
    "base_fen": "缴存基数",
}
_HIDDEN_FIELDS = frozenset({"version", "id", "name_pinyin"})


def _shown(kind: str, key: str, value: Any, employers: Mapping[int, str]) -> str:
    if value is None or value == "":
        return "（空）"
    if key in ("state", "state_before_freeze"):
        return member_state(value) if kind == "member" else employer_state(value)
    if key.endswith("_fen"):
        return yuan(value)
    if key.endswith("_rate"):
        return percent(value)
    if key == "gender":
        return code_name(value, "gender")
    if key == "certificate_type":
        return code_name(value, "certificate_type")
    if key == "economic_type":
        return code_name(value, "employer_economic_type")
    if key == "payday":
        return f"{value}日"
    if key == "employer_id":
        return employers.get(value, str(value))
    return str(value)


SYSTEM_ACTORS_ZH = {
    "system": "系统",
    "setup": "系统",
    "job": "系统",
    "cli": "系统",
    "sim": "模拟业务",
    "demo": "演示数据",
    "bank": "银行",
    "anonymous": "未登录",
}
"""Actors that are not people (batch runs, the bank, the demo's set-up), as pages name them."""


def staff_names(conn: Connection, logins: Iterable[str]) -> dict[str, str]:
    """``{login: display name}`` of the staff among ``logins`` (one query): history rows name
    the clerk, not the sign-in."""
    wanted = sorted({x for x in logins if x and x not in SYSTEM_ACTORS_ZH})
    if not wanted:
        return {}
    principal = identity.principal
    rows = conn.execute(
        select(principal.c.login, principal.c.display_name).where(
            principal.c.login.in_(wanted), principal.c.kind == "staff"
        )
    )
    return {str(login): str(name) for login, name in rows}


@jinja2.pass_context
def actor_name(context: Any, actor: str | None, staff_view: bool = True) -> str:
    """The actor of a history row as the reader knows it: 系统 (or the bank…) for machine actors;
    to staff the staff member's name where the page looked it up (``actor_names`` in its
    context), else the login; members and employers see a staff login as 中心工作人员 (their own
    login, an account number, as is)."""
    if not actor:
        return "—"
    if actor in SYSTEM_ACTORS_ZH:
        return SYSTEM_ACTORS_ZH[actor]
    if not staff_view and any(c.isalpha() for c in actor):
        return "中心工作人员"
    names: Mapping[str, str] = context.get("actor_names") or {}
    return names.get(actor, actor)


def history_changes(
    kind: str, row: Mapping[str, Any], employers: Mapping[int, str] | None = None
) -> list[dict[str, str]]:
    """The fields a history row changed, labelled and formatted: ``[{field, before, after}]``.

    ``employers`` names employer ids (a member's history records the employer by id).
    """
    before: Mapping[str, Any] = row.get("before") or {}
    after: Mapping[str, Any] = row.get("after") or {}
    names = employers or {}
    out = []
    for key in [*before, *(k for k in after if k not in before)]:
        if key in _HIDDEN_FIELDS:
            continue
        label = ("姓名" if kind == "member" else "单位名称") if key == "name" else FIELD_ZH.get(key, key)
        out.append(
            {
                "field": label,
                "before": _shown(kind, key, before.get(key), names) if before else "",
                "after": _shown(kind, key, after.get(key), names) if after else "",
            }
        )
    return out


# ---------------------------------------------------------------------------------- rendering


def _page_globals(request: Request) -> dict[str, Any]:
    found = getattr(request.state, "auth", None)
    who = getattr(found, "principal", None)
    session = getattr(found, "session", None)

    def may(permission: str) -> bool:
        return who is not None and who.may(Perm(permission))

    def opens(target: str, /, **params: Any) -> bool:
        return can_open(request, target, **params)

    def link_to(href: str, text: Any, /, **attrs: Any) -> Markup:
        return link(request, href, text, **attrs)

    return {
        "center_name": request.app.state.settings.center_name,
        "business_date": request.app.state.clock.today(),
        "who": who,
        "who_name": session.display_name if session is not None else (who.login if who else ""),
        "csrf_token": session.csrf_token if session is not None else "",
        "may": may,
        "can_open": opens,
        "link": link_to,
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        yuan=yuan,
        iso=iso,
        percent=percent,
        code_name=code_name,
        latin_code=latin_code,
        member_state=member_state,
        employer_state=employer_state,
        action_name=action_name,
        actor=actor_name,
    )
    return env


templates = Jinja2Templates(env=_environment(), context_processors=[_page_globals])


def is_htmx(request: Request) -> bool:
    """An htmx request that wants a fragment (a history restore wants the whole page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    varies: bool = False,
) -> Response:
    """Render a template; ``varies`` marks a URL that answers htmx with a fragment."""
    response = templates.TemplateResponse(
        request, name, {"nav": "", **(context or {})}, status_code=status_code
    )
    if varies:
        response.headers["Vary"] = "HX-Request"
    return response


# ------------------------------------------------------------------------- refusals, sign-in

SELF_PORTAL_COOKIE = "hpf_portal"  # "self" after a member or employer signed in


def safe_next(next_url: str, fallback: str) -> str:
    """Only a path on this site: starts with one "/", no scheme, host or control characters."""
    text = (next_url or "").strip()
    if (
        not text.startswith("/")
        or text.startswith(("//", "/\\"))
        or any(ord(c) < 32 or c == "\\" for c in text)
        or len(text) > 400
    ):
        return fallback
    parts = urlsplit(text)
    if parts.scheme or parts.netloc:
        return fallback
    return text


def sign_in_page_for(request: Request) -> str:
    """Members and employers sign in at /self/login, staff at /login."""
    path = request.url.path
    if path == "/self" or path.startswith("/self/") or request.cookies.get(SELF_PORTAL_COOKIE) == "self":
        return "/self/login"
    return "/login"


def sign_in_redirect(request: Request) -> Response:
    """Send someone who is not signed in to the sign-in page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = f"{sign_in_page_for(request)}?next={quote(here, safe='/')}"
    if is_htmx(request):  # htmx follows HX-Redirect with a full page load
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def error_page(request: Request, status: int, title: str, detail: str = "", *, code: str = "") -> Response:
    """A refusal as a Chinese page; the English ``detail`` of an ``HpfError`` is not shown.

    The stable ``code`` goes in the ``X-HPF-Error`` header, for scripts and tests.
    """
    heading = {403: "无权访问", 404: "未找到", 409: "无法办理", 422: "输入有误", 423: "暂时锁定"}.get(
        status, "出错了"
    )
    response = render(
        request,
        "error.html",
        {"status": status, "heading": heading, "title": title, "detail": detail},
        status_code=status,
    )
    if code:
        response.headers["X-HPF-Error"] = code
    return response


class PageRoute(HpfRoute):
    """Renders a refusal raised by a page as a Chinese HTML page; 401 goes to the sign-in page."""

    def answer_refusals(self, handler: Handler) -> Handler:
        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except HpfError as exc:
                if exc.status == 401:
                    return sign_in_redirect(request)
                return error_page(request, exc.status, exc.title, code=exc.code)
            except RequestValidationError:
                return error_page(
                    request, 422, "请求参数不合法", "请检查输入的查询条件或页码。", code="request.invalid"
                )

        return page_handler
