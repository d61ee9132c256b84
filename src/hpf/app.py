"""The application factory: the web application of a process started through ``hpf.bootstrap``.

``create_app`` starts the process (``bootstrap.start``: the key ring — refused without real keys
outside development —, the SMS sender — in development a :class:`FakeSms` that records messages,
tests read the codes from ``app.state.sms``; elsewhere no fake: sending refuses until a gateway
adapter is configured —, the bank adapter of settlement — ``HttpBank`` when ``HPF_BANK_URL`` and
``HPF_BANK_SECRET`` are set; otherwise every bank call refuses with 503
``settlement.bank_unavailable`` —, the item handlers and the event listeners), then wires what is
the web's own: the engine, the clock, the token signing key (``HPF_TOKEN_SECRET``; the
development key is refused outside development), the password hasher, middleware and routers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from hpf import bootstrap
from hpf.db.calendar import StoredClock
from hpf.db.engine import companion_engine, make_engine
from hpf.identity.passwords import Passwords
from hpf.identity.sms import SmsSender
from hpf.identity.tokens import TokenConfig
from hpf.kernel.clock import Clock, FixedClock
from hpf.kernel.context import Context
from hpf.messages.transport import Poster, Worker, http_poster
from hpf.protection import keys
from hpf.settings import Settings
from hpf.settlement.adapter import BankAdapter
from hpf.web import audit_trail, docs, headers, heap, limits, openapi, problems
from hpf.web.admission import Admission
from hpf.web.audit_sink import AuditSink
from hpf.web.auth import Owners
from hpf.web.route_index import RouteIndex
from hpf.web.routing import NO_TELEMETRY, REQUEST_THREADS

STATIC_DIR = Path(__file__).parent / "web" / "static"


def make_clock(settings: Settings, engine: Engine) -> Clock:
    """A fixed date from settings (HPF_BUSINESS_DATE), else the date stored in the database."""
    return FixedClock(settings.business_date) if settings.business_date else StoredClock(engine)


def server_engine(settings: Settings) -> Engine:
    """The server's engine, sized with its admission bound (``hpf.web.admission``).

    An admitted request holds at most one pooled connection at a time (audit rows go through the
    sink's own connection), so a pool of ``max_requests`` (and a little overflow for the
    session's sliding write) never runs dry; if the database is slow all the same, a request
    waits ``db_wait_seconds`` for a connection or the write lock and is answered 503.
    ``pool_pre_ping`` replaces connections a restarted database closed, so the server recovers
    without a restart.
    """
    return make_engine(
        settings.database_url,
        lock_wait_seconds=settings.db_wait_seconds,
        pool_size=settings.max_requests,
        max_overflow=8,
        pool_timeout=settings.db_wait_seconds,
        # a server that restarts under us; an embedded SQLite file never goes away
        pool_pre_ping=not settings.database_url.startswith("sqlite"),
    )


def threads_for(settings: Settings) -> int:
    """Worker threads: sync dependencies and routes of every admitted request, twice over (a
    request's dependencies and its endpoint may each be on a thread), and some to spare."""
    return 2 * settings.max_requests + 16


def _request_threads(settings: Settings) -> ThreadPoolExecutor:
    """The worker threads of the routes' one hand-off (``hpf.web.routing``)."""
    return ThreadPoolExecutor(threads_for(settings), thread_name_prefix="hpf-request")


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes straight onto the application, not through ``include_router``.

    Since FastAPI 0.137 ``include_router`` keeps each router as a node that is resolved again on
    every request: with our twenty-odd routers that was ~6 ms of CPU per request, more than most
    routes' own work. Flat, each route is one regex test. Our routers bake everything into their
    routes when they are declared (prefix, tags, dependencies, route class, schema visibility),
    so nothing is lost; ``tests/security/test_security_routes.py`` still sees every route.
    """
    app.router.routes.extend(router.routes)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, threads_for(app.state.settings))
    threads = _request_threads(app.state.settings)  # a fresh one each time the app is started
    setattr(app.state, REQUEST_THREADS, threads)
    worker = _message_worker(app)
    yield
    if worker is not None:
        await anyio.to_thread.run_sync(worker.stop)
    threads.shutdown(wait=False)  # the requests in flight end first
    await anyio.to_thread.run_sync(app.state.audit_sink.close)  # what is queued is written


def _message_worker(app: FastAPI) -> Worker | None:
    """The hub delivery worker (``hpf.transfers.service.deliver_due``) of a center linked to a hub,
    on its own connection (``companion_engine``): sends the outbox with retries and backoff."""
    from hpf.transfers import service as transfers

    if app.state.hub_link is None or app.state.hub_post is None:
        return None
    engine = companion_engine(app.state.engine)
    ctx = Context(
        actor="hub.delivery",
        clock=app.state.clock,
        center_code=app.state.settings.center_code,
        source="worker",
    )
    post = app.state.hub_post

    def round_() -> int:
        return transfers.deliver_due(
            engine, ctx, post, backoff_base=app.state.settings.deliver_backoff_seconds
        ).attempted

    return Worker("hub.delivery", round_, app.state.settings.deliver_every_seconds).start()


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    sms: SmsSender | None = None,
    passwords: Passwords | None = None,
    bank: BankAdapter | None = None,
    hub_post: Poster | None = None,
    deliver_messages: bool = True,
) -> FastAPI:
    """The center's application. ``hub_post`` replaces the HTTP client of the hub delivery worker;
    ``deliver_messages=False`` runs no worker (tests run its rounds themselves)."""
    from hpf import check
    from hpf.accounts import api as accounts_api
    from hpf.accounts import pages as accounts_pages
    from hpf.accounts import service as accounts
    from hpf.console import api as security_api
    from hpf.console import pages as security_pages
    from hpf.contributions import api as contributions_api
    from hpf.contributions import charts as contribution_charts
    from hpf.contributions import pages as contributions_pages
    from hpf.contributions import service as contributions
    from hpf.data import api as data_api
    from hpf.data import pages as data_pages
    from hpf.identity.identity import DEFAULT_PASSWORDS
    from hpf.inspection import api as inspection_api
    from hpf.inspection import pages as inspection_pages
    from hpf.ledger import api as ledger_api
    from hpf.loans import api as loans_api
    from hpf.loans import pages as loans_pages
    from hpf.loans.book import service as loans
    from hpf.loans.scorecard import pages as scorecard_pages
    from hpf.oversight import incentive as good_credit
    from hpf.oversight import pages as oversight_pages
    from hpf.planning import api as planning_api
    from hpf.planning import pages as planning_pages
    from hpf.policy import api as policy_api
    from hpf.policy import pages as policy_pages
    from hpf.quality import api as quality_api
    from hpf.quality import pages as quality_pages
    from hpf.services import api as services_api
    from hpf.services import pages as services_pages
    from hpf.services import service as applications
    from hpf.settlement import adapter as bank_adapter
    from hpf.settlement import api as settlement_api
    from hpf.settlement import pages as settlement_pages
    from hpf.supervision import pages as supervision_pages
    from hpf.transfers import api as transfers_api
    from hpf.transfers import inquiry_pages
    from hpf.transfers import pages as transfers_pages
    from hpf.transfers import process as transfer_process
    from hpf.warehouse import pages as warehouse_pages
    from hpf.withdrawals import api as withdrawals_api
    from hpf.withdrawals import pages as withdrawals_pages

    app = FastAPI(
        lifespan=_lifespan,
        title="OpenHPF center",
        version="0.1.0",
        description=f"{settings.center_name} — 住房公积金业务系统 API",
        docs_url=None,  # served from /static by hpf.web.docs, without inline script
        redoc_url=None,
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    # refuses the development key outside development
    deps = bootstrap.start(settings, sms=sms, bank=bank, hub_post=hub_post)
    app.state.engine = engine or server_engine(settings)
    keys.verify_engine(app.state.engine, deps.ring)  # refuses keys other than the database's
    app.state.clock = clock or make_clock(settings, app.state.engine)
    app.state.token_config = TokenConfig.from_settings(settings.token_secret, settings.env)
    app.state.sms = deps.sms
    app.state.passwords = passwords or DEFAULT_PASSWORDS
    app.state.bank = deps.bank
    app.state.entry_groups = deps.entry_groups  # reconciliation's credits posted under another entry
    app.state.hub_link = deps.hub_link
    app.state.hub_post = (hub_post or http_poster()) if deliver_messages and deps.hub_link else None
    app.state.bank_signed = bank_adapter.bank_signature_check(settings.bank_secret)
    app.state.member_page_facts = lambda conn, member_id: {
        "has_loans": loans.has_loans(conn, member_id),
        # the history transfers carried in from other centers (decision 0043)
        "carried_in": transfer_process.carried_in(conn, member_id),
    }
    app.state.employer_page_facts = lambda conn, employer_id: {
        "remittance_chart": contribution_charts.employer_remittance_chart(conn, employer_id),
        # the good-credit incentive's marker (诚信单位, decision 0042), or None
        "good_credit": good_credit.marker_of(conn, employer_id, app.state.clock.today()),
    }
    app.state.owners = Owners(
        application=applications.application_owner,
        member=accounts.member_owner,
        employer=accounts.employer_owner,
        remittance=contributions.remittance_owner,
    )
    problems.install(app)
    audit_trail.install(app, AuditSink(app.state.engine))
    setattr(app.state, REQUEST_THREADS, _request_threads(settings))
    # The body limits see the request before anything reads it (hpf.web.limits).
    app.add_middleware(
        limits.BodyLimit, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    # Added last, so outermost: a request beyond capacity is refused before any other work.
    app.add_middleware(Admission, max_requests=settings.max_requests, queue_seconds=settings.queue_seconds)
    _add_routes(app, security_api.auth_router)
    _add_routes(app, security_api.approvals_router)
    _add_routes(app, security_api.alerts_router)
    _add_routes(app, accounts_api.router)
    _add_routes(app, ledger_api.router)
    _add_routes(app, check.router)
    _add_routes(app, contributions_api.router)
    _add_routes(app, policy_api.router)
    # The scorecard's fixed paths (/loans/scorecard) before the loan book's /loans/{loan_id}.
    _add_routes(app, scorecard_pages.api_router)
    _add_routes(app, scorecard_pages.router)
    _add_routes(app, loans_api.router)
    _add_routes(app, settlement_api.router)
    _add_routes(app, accounts_pages.router)
    _add_routes(app, policy_pages.router)
    _add_routes(app, contributions_pages.router)
    _add_routes(app, security_pages.router)
    _add_routes(app, withdrawals_api.router)
    _add_routes(app, withdrawals_pages.router)
    _add_routes(app, loans_pages.router)
    _add_routes(app, settlement_pages.router)
    _add_routes(app, services_api.router)
    _add_routes(app, services_pages.router)
    _add_routes(app, transfers_api.router)
    _add_routes(app, inquiry_pages.router)  # before /transfers/{id}: "inquiries" is no transfer's id
    _add_routes(app, transfers_pages.router)
    _add_routes(app, data_api.router)
    _add_routes(app, data_pages.router)
    _add_routes(app, quality_api.router)
    _add_routes(app, quality_pages.router)
    _add_routes(app, inspection_api.router)
    _add_routes(app, inspection_pages.router)
    _add_routes(app, warehouse_pages.router)
    _add_routes(app, supervision_pages.router)
    _add_routes(app, planning_api.router)
    _add_routes(app, planning_pages.router)
    _add_routes(app, oversight_pages.router)  # decision 0040
    docs.install(app)
    openapi.install(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.router.middleware_stack = RouteIndex(app.router)
    _secure_every_answer(app, hsts=settings.env != "development")
    return app


def _secure_every_answer(app: FastAPI, *, hsts: bool) -> None:
    """The security headers around the whole stack, Starlette's own 500 answer included
    (``add_middleware`` would put them inside its ``ServerErrorMiddleware``)."""
    build = app.build_middleware_stack

    def build_with_headers() -> Any:
        return headers.SecurityHeaders(build(), hsts=hsts)

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]


def served_app() -> FastAPI:
    """The application ``hpf serve`` serves, from the environment (a factory: with several worker
    processes each builds its own). In development SMS codes are printed on the console."""
    from hpf.identity.sms import ConsoleSms

    settings = Settings.from_env()
    app = create_app(settings, sms=ConsoleSms() if settings.env == "development" else None)
    heap.settle()
    return app


def business_date_of(app: FastAPI) -> date:
    return app.state.clock.today()  # type: ignore[no-any-return]
