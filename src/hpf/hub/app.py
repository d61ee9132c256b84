"""The hub's web application: the message endpoint, the BDC909 lookup API, the admin page.

``create_hub_app`` builds it from :class:`~hpf.hub.settings.HubSettings`: the hub's engine (its
own database), its key pair (``HPF_MESSAGE_KEY_FILE``; outside development a hub without its key
file refuses to start, in development a key pair is made for the process), and, in its lifespan,
the delivery worker (``hpf.messages.transport.Worker`` running :func:`hpf.hub.service.deliver_due`).

- ``POST /api/v1/hub/messages``: a center's delivery (``hpf.hub.service.receive``); 200 with the
  receipt, or problem+json with the refusal's code (nothing changed);
- ``GET /api/v1/hub/centers`` and ``/api/v1/hub/centers/{code}``: the center-code lookup
  (BDC909) as an API — code, name, province, state and public keys, never the endpoint;
- ``POST /api/v1/hub/inquiries``: co-investigation (``XC03``, decision 0031), answered in the
  same exchange (``hpf.hub.inquiry.answer``);
- ``/login``, ``/logout``, ``/``: hub staff sign in and see the registered centers, the
  latest messages, the national registry's counts and the inquiry log (Chinese, the center's
  stylesheet).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hpf.db.engine import companion_engine, make_engine, read_transaction, write_transaction
from hpf.hub import annual_files, inquiry, loan_registry, national, registry, service, staff, warehouse
from hpf.hub.settings import HubSettings
from hpf.identity.passwords import Passwords
from hpf.kernel.errors import HpfError, NotFound, TooLarge
from hpf.messages.envelope import MESSAGE_TYPES_ZH
from hpf.messages.keys import KeyPair
from hpf.messages.transport import PATH, Poster, Worker, http_poster
from hpf.web import headers, problems
from hpf.web.routing import NO_TELEMETRY

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC_DIR = Path(__file__).parents[1] / "web" / "static"
CHINA = timezone(timedelta(hours=8))
TEMPLATES.env.filters["cst"] = lambda value: (
    value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") if value else "—"
)


def hub_keys(settings: HubSettings) -> KeyPair:
    """The hub's key pair from its key file; a fresh one for a development process without one."""
    if settings.key_file:
        return KeyPair.from_file(settings.key_file)
    if settings.env == "development":
        return KeyPair.generate()
    raise HpfError(
        "hub.keys_missing",
        "平台未配置报文密钥，拒绝启动",
        "set HPF_MESSAGE_KEY_FILE to the hub's key file (hpf hub keygen)",
        status=500,
    )


def too_large(limit: int) -> TooLarge:
    return TooLarge("request.too_large", "报文过大", f"at most {limit} bytes")


async def _limited_body(request: Request, limit: int) -> bytes:
    """The request's body, refused 413 as soon as it passes ``limit`` bytes: up front when
    ``Content-Length`` says so, otherwise counted while it streams (a chunked body is never read
    past the limit)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def wall_clock() -> datetime:
    return datetime.now(UTC)


def create_hub_app(
    settings: HubSettings,
    *,
    engine: Engine | None = None,
    keys: KeyPair | None = None,
    post: Poster | None = None,
    now: Callable[[], datetime] = wall_clock,
    passwords: Passwords | None = None,
    deliver: bool = True,
) -> FastAPI:
    """The hub's application; ``deliver=False`` leaves delivery to explicit rounds (tests)."""
    hub = service.Hub(
        settings.hub_code,
        keys or hub_keys(settings),
        settings.window_seconds,
        warehouse_dir=settings.warehouse_dir,
    )
    engine = engine or make_engine(settings.database_url, lock_wait_seconds=5.0)
    poster = post or http_poster()

    def deliver_round() -> service.Round:
        return service.deliver_due(
            app.state.delivery_engine, hub, poster, now, backoff_base=settings.deliver_backoff_seconds
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if deliver:
            worker = Worker(
                "hub.delivery", lambda: deliver_round().attempted, settings.deliver_every_seconds
            ).start()
        yield
        if worker is not None:
            await run_in_threadpool(worker.stop)

    app = FastAPI(
        lifespan=lifespan,
        title="OpenHPF hub",
        version="0.1.0",
        description=f"{settings.hub_name} — 报文接收、转发与中心代码查询",
        docs_url=None,
        redoc_url=None,
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.hub = hub
    app.state.engine = engine
    app.state.delivery_engine = companion_engine(engine)
    app.state.deliver_round = deliver_round
    app.state.passwords = passwords or Passwords()
    problems.install(app)

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        base = {"hub_name": settings.hub_name, "hub_code": settings.hub_code}
        return TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status)

    def signed_in(request: Request) -> staff.StaffSession | None:
        with read_transaction(engine) as conn:
            return staff.session_of(conn, request.cookies.get(staff.COOKIE_NAME), now())

    @app.post(PATH, summary="接收中心报文（签名、去重、转发或应答）")
    async def take_message(request: Request) -> JSONResponse:
        raw = await _limited_body(request, settings.max_body_bytes)

        def take() -> service.Receipt:
            with write_transaction(engine) as conn:  # a concurrent duplicate: hpf.db.upsert
                return service.receive(conn, hub, raw, now())

        receipt = await run_in_threadpool(take)
        return JSONResponse(receipt.as_json())

    @app.post(inquiry.PATH, summary="信息协查（XC03）：中心提问，平台即时应答")
    async def take_inquiry(request: Request) -> JSONResponse:
        raw = await _limited_body(request, settings.max_body_bytes)

        def ask() -> dict[str, Any]:
            with write_transaction(engine) as conn:
                return inquiry.answer(conn, hub, raw, now()).model_dump(mode="json")

        return JSONResponse(await run_in_threadpool(ask))

    @app.get("/api/v1/hub/centers", summary="公积金中心代码查询（BDC909）：全部")
    def list_centers() -> list[dict[str, Any]]:
        with read_transaction(engine) as conn:
            return [c.info().model_dump() for c in registry.centers(conn)]

    @app.get("/api/v1/hub/centers/{code}", summary="公积金中心代码查询（BDC909）")
    def center(code: str) -> dict[str, Any]:
        with read_transaction(engine) as conn:
            found = registry.center_of(conn, code) if len(code) == 6 else None
        if found is None:
            raise NotFound("hub.center_unknown", "中心代码未登记", f"no center {code[:6]} is registered")
        return found.info().model_dump()

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> Response:
        return page(request, "hub_login.html", {"error": None, "login": ""})

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        login_name, password = str(form.get("login") or "")[:64], str(form.get("password") or "")[:1024]

        def attempt() -> tuple[str, staff.StaffSession] | None:
            with write_transaction(engine) as conn:
                return staff.sign_in(conn, login_name, password, app.state.passwords, now())

        started = await run_in_threadpool(attempt)
        if started is None:
            return page(request, "hub_login.html", {"error": "登录名或密码不正确", "login": login_name}, 401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(value=started[0], **staff.cookie_settings(settings.env))
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await request.form()
        token = request.cookies.get(staff.COOKIE_NAME)

        def end() -> bool:
            with write_transaction(engine) as conn:
                session = staff.session_of(conn, token, now())
                if session is None or not staff.csrf_ok(session, form.get("csrf_token")):
                    return False
                staff.sign_out(conn, token)
                return True

        if not await run_in_threadpool(end):  # a browser's form: the refusal as a Chinese page
            refused = page(
                request,
                "hub_error.html",
                {"status": 403, "heading": "无法退出", "title": "页面已过期，请刷新后重试"},
                403,
            )
            refused.headers["X-HPF-Error"] = "auth.csrf"
            return refused
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(**staff.cookie_settings(settings.env))
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        session = signed_in(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        with read_transaction(engine) as conn:
            context = {
                "staff": session,
                "centers": registry.centers(conn),
                "messages": service.recent_messages(conn),
                "counts": service.message_counts(conn),
                "inquiries": inquiry.recent_inquiries(conn),
                "registry": loan_registry.registry_counts(conn),
            }
        return page(
            request,
            "hub_home.html",
            {
                **context,
                "state_zh": service.STATE_ZH,
                "route_zh": service.ROUTE_ZH,
                "center_state_zh": registry.STATE_ZH,
                "type_zh": MESSAGE_TYPES_ZH,
            },
        )

    # -- the national warehouse's pages (decision 0039) -----------------------------------

    def signed_in_or_login(request: Request) -> staff.StaffSession | Response:
        session = signed_in(request)
        return RedirectResponse("/login", status_code=303) if session is None else session

    @app.get("/reports", response_class=HTMLResponse, include_in_schema=False)
    def reports_page(request: Request, month: str | None = None) -> Response:
        session = signed_in_or_login(request)
        if isinstance(session, Response):
            return session
        with read_transaction(engine) as conn:
            taken = warehouse.reports(conn)
            months = sorted({r.month for r in taken if r.state == "current"}, reverse=True)
            chosen = month if month in months else (months[0] if months else None)
            files = warehouse.current_files(conn, settings.warehouse_dir, months=[chosen]) if chosen else None
        figures: dict[str, int] = {}
        provinces: list[tuple[str, int, int]] = []
        if files is not None and chosen is not None:
            wh = open_warehouse(settings, files)
            try:
                figures = national.member_figures(wh, chosen)
                totals = national.province_totals(wh, chosen)
            finally:
                wh.close()
            names = sorted({p for p, _, _ in totals})
            provinces = [
                (
                    p,
                    int(totals.get((p, national.DEPOSIT_BALANCE, ""), 0)),
                    int(totals.get((p, national.LOAN_BALANCE, ""), 0)),
                )
                for p in names
            ]
        return page(
            request,
            "hub_reports.html",
            {
                "staff": session, "nav": "reports", "reports": taken, "months": months, "month": chosen,
                "figures": figures, "figure_zh": national.MEMBER_FIGURES,
                "provinces": provinces, "state_zh": warehouse.STATE_ZH,
            },
        )  # fmt: skip

    def annual(year: int) -> national.AnnualReport:
        with read_transaction(engine) as conn:
            months = [f"{year:04d}-{m:02d}" for m in range(1, 13)]
            files = warehouse.current_files(conn, settings.warehouse_dir, months=months)
        wh = open_warehouse(settings, files)
        try:
            return national.annual_report(wh, year)
        finally:
            wh.close()

    @app.get("/annual-report", response_class=HTMLResponse, include_in_schema=False)
    def annual_page(request: Request, year: int | None = None) -> Response:
        session = signed_in_or_login(request)
        if isinstance(session, Response):
            return session
        chosen = year if year is not None and 1990 <= year <= 2100 else now().year
        report = annual(chosen)
        return page(
            request,
            "hub_annual.html",
            {"staff": session, "nav": "annual", "report": report, "columns": national.COLUMNS,
             "cell": national.cell, "title": annual_files.title(report)},
        )  # fmt: skip

    @app.get("/annual-report.{kind}", include_in_schema=False)
    def annual_file(request: Request, kind: str, year: int) -> Response:
        session = signed_in_or_login(request)
        if isinstance(session, Response):
            return session
        if kind not in ("xlsx", "pdf") or not 1990 <= year <= 2100:
            raise NotFound("hub.not_found", "页面不存在", f"no annual-report.{kind[:8]}")
        report = annual(year)
        if kind == "xlsx":
            body, media = (
                annual_files.xlsx_bytes(report),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        else:
            body, media = annual_files.pdf_bytes(report), "application/pdf"
        return Response(
            body, media_type=media,
            headers={"Content-Disposition": f'attachment; filename="annual-report-{year}.{kind}"'},
        )  # fmt: skip

    from hpf.hub.supervision import pages as supervision_pages  # decision 0040

    supervision_pages.install(app, engine=engine, hub=hub, now=now, page=page)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: headers.SecurityHeaders(build(), hsts=settings.env != "development")  # type: ignore[method-assign]
    return app


def open_warehouse(settings: HubSettings, files: warehouse.CurrentFiles) -> warehouse.Warehouse:
    """The warehouse over ``files`` on the engine the settings name (DuckDB unless ``spark``)."""
    return warehouse.Warehouse(files, engine=settings.warehouse_engine, spark_master=settings.spark_master)


def served_hub() -> FastAPI:
    """The application ``hpf hub serve`` serves, from the environment."""
    return create_hub_app(HubSettings.from_env())
