"""The request lifecycle (issue 11): a change commits before its answer leaves, a refusal is
audited without waiting on the refusing request's own transaction, reads do not need a second
connection for their audit rows, and a request that cannot get the database in time is told so
at once (503 with Retry-After) instead of being held.
"""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from starlette.types import Message, Receive, Scope, Send

from auth_center import AuthCenter, build_auth_center
from hpf.access.permissions import Role
from hpf.app import create_app, server_engine
from hpf.audit import trail as audit
from hpf.db.engine import write_transaction
from hpf.services.tables import application
from hpf.web import unit_of_work
from signing_in import FAST_PASSWORDS, bearer


@pytest.fixture
def center(engine: Engine) -> AuthCenter:
    return build_auth_center(engine)


class CountAtAnswer:
    """Outermost ASGI wrapper: when a POST's answer starts, count applications from another
    connection, i.e. what a client reading right after the answer would find."""

    def __init__(self, app: FastAPI, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self.seen: list[tuple[int, int]] = []  # (status, applications committed at that moment)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get("method") == "POST":
                with self.engine.connect() as conn:
                    count = conn.scalar(select(func.count()).select_from(application))
                self.seen.append((int(message["status"]), int(count or 0)))
            await send(message)

        await self.app(scope, receive, watch)


def _ask_phone_change(client: TestClient, phone: str) -> Any:
    """A member's application to change their phone, filed (201)."""
    answer = client.post(
        "/api/v1/applications", json={"item_code": "AC-CHANGE", "payload": {"field": "phone", "value": phone}}
    )
    assert answer.status_code == 201, answer.text
    return answer


def test_a_change_is_committed_before_its_answer_leaves(center: AuthCenter) -> None:
    with center.engine.connect() as conn:
        before = int(conn.scalar(select(func.count()).select_from(application)) or 0)
    watched = CountAtAnswer(center.app, center.engine)
    client = TestClient(watched)  # type: ignore[arg-type]
    client.headers.update(bearer(center.app, center.principals[Role.MEMBER]))
    for n in range(5):
        answer = _ask_phone_change(client, f"1390013{n:04d}")
        assert client.get(f"/api/v1/applications/{answer.json()['id']}").status_code == 200
    # Before: the transaction ended after the answer was sent, so the count at the answer lagged.
    assert watched.seen == [(201, before + n + 1) for n in range(5)]


def test_a_finished_request_leaves_nothing_behind(center: AuthCenter) -> None:
    """A write request's connection, request and unit of work are freed once it is answered.

    Before: the registry of open units (weak keys) kept each unit, and the unit kept its key
    alive, so every write request lived for ever (the server grew by ~100 objects a request and
    the collector's full passes grew with it)."""
    client = center.client()
    client.headers.update(bearer(center.app, center.principals[Role.MEMBER]))
    for n in range(3):
        _ask_phone_change(client, f"1390014{n:04d}")
    refused = client.post("/api/v1/applications", json={"item_code": "NO-SUCH-ITEM", "payload": {}})
    assert refused.status_code >= 400
    gc.collect()
    assert len(unit_of_work._open) == 0
    assert not [o for o in gc.get_objects() if isinstance(o, unit_of_work.UnitOfWork)]


def test_a_refused_change_rolls_back_and_its_row_is_committed_before_the_answer(center: AuthCenter) -> None:
    """A refusal answered as a page or problem changes nothing, and its audit row is there."""
    client = center.client()
    client.headers.update(bearer(center.app, center.principals[Role.TELLER]))
    answer = client.patch(
        f"/api/v1/members/{center.member.account_no}",
        json={"changes": {"base_fen": -5}, "reason": "测试"},
    )
    assert answer.status_code == 422
    with center.engine.connect() as conn:
        last = conn.execute(select(audit.audit_log).order_by(audit.audit_log.c.id.desc())).mappings().first()
    assert last is not None and last["action"] == "change_member" and last["outcome"] == "denied"


def test_a_refused_unmask_inside_a_write_answers_at_once(center: AuthCenter) -> None:
    """The refused unmask's audit row used to wait 30 s for the refusing request's own write
    lock and then answer 500; now it is queued and the refusal answers at once."""
    client = center.client()
    client.headers.update(bearer(center.app, center.principals[Role.TELLER]))  # no member:unmask
    started = time.monotonic()
    answer = client.patch(
        f"/api/v1/members/{center.member.account_no}?unmask=true&purpose=核对",
        json={"changes": {"phone": "13900139111"}, "reason": "更正"},
    )
    took = time.monotonic() - started
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "auth.unmask_forbidden"
    assert took < 5, f"took {took:.1f} s"
    with center.engine.connect() as conn:
        rows = conn.execute(
            select(audit.audit_log.c.action, audit.audit_log.c.outcome).order_by(audit.audit_log.c.id)
        ).all()
        phone_changed = conn.scalar(select(func.count()).select_from(audit.audit_log))
    assert ("unmask", "denied") in [tuple(r) for r in rows]
    assert ("change_member", "denied") in [tuple(r) for r in rows]
    assert phone_changed  # the log is there; the member itself was not changed:
    me = client.get(f"/api/v1/members/{center.member.account_no}").json()
    assert me["phone"].endswith("9001")


def _serve(center: AuthCenter, **capacity: Any) -> FastAPI:
    settings = replace(center.app.state.settings, **capacity)
    return create_app(settings, engine=server_engine(settings), clock=center.clock, passwords=FAST_PASSWORDS)


def test_reads_under_a_small_pool_all_answer(center: AuthCenter) -> None:
    """Forty readers of members at once on a pool of four: each read's audit row goes through
    the sink, not a second pooled connection, so none waits for a connection nobody returns."""
    app = _serve(center, max_requests=4, queue_seconds=20.0, db_wait_seconds=20.0)
    headers = bearer(app, center.principals[Role.TELLER])
    account = center.member.account_no
    with TestClient(app) as client:

        def read(_: int) -> int:
            return client.get(f"/api/v1/members/{account}", headers=headers).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(read, range(40)))
        took = time.monotonic() - started
    assert statuses == [200] * 40
    assert took < 20
    with center.engine.connect() as conn:
        reads = conn.scalar(
            select(func.count()).select_from(audit.audit_log).where(audit.audit_log.c.action == "member.read")
        )
    assert reads == 40


def test_a_write_that_cannot_get_the_lock_in_time_is_answered_503(center: AuthCenter) -> None:
    if center.engine.dialect.name != "sqlite":
        pytest.skip("the process's write lock is SQLite's")
    app = _serve(center, db_wait_seconds=0.5)
    with TestClient(app) as client:
        client.headers.update(bearer(app, center.principals[Role.TELLER]))
        with write_transaction(app.state.engine):  # someone else holds the write lock
            started = time.monotonic()
            answer = client.patch(
                f"/api/v1/members/{center.member.account_no}",
                json={"changes": {"phone": "13900139222"}, "reason": "更正"},
            )
            took = time.monotonic() - started
        assert answer.status_code == 503
        assert answer.headers["Retry-After"].isdigit()
        assert answer.json()["code"] == "db.unavailable"
        assert took < 3
        me = client.get(f"/api/v1/members/{center.member.account_no}").json()
        assert me["phone"].endswith("9001")  # nothing changed


def test_beyond_capacity_the_answer_is_a_fast_503(center: AuthCenter) -> None:
    """One request may run at once; while it waits for a lock, the next is refused quickly."""
    if center.engine.dialect.name != "sqlite":
        pytest.skip("the held lock is SQLite's")
    app = _serve(center, max_requests=1, queue_seconds=0.2, db_wait_seconds=3.0)
    headers = bearer(app, center.principals[Role.TELLER])
    account = center.member.account_no
    with TestClient(app) as client:
        hold = write_transaction(app.state.engine)
        hold.__enter__()
        slow: dict[str, int] = {}

        def occupy() -> None:
            answer = client.patch(
                f"/api/v1/members/{account}",
                json={"changes": {"phone": "13900139333"}, "reason": "更正"},
                headers=headers,
            )
            slow["status"] = answer.status_code

        first = threading.Thread(target=occupy)
        first.start()
        time.sleep(0.3)  # the first request is in, waiting for the lock
        started = time.monotonic()
        refused = client.get(f"/api/v1/members/{account}", headers=headers)
        took = time.monotonic() - started
        hold.__exit__(None, None, None)
        first.join()
    assert refused.status_code == 503
    assert refused.json()["code"] == "server.busy"
    assert refused.headers["Retry-After"] == "1"
    assert took < 1.5
    assert slow["status"] == 200  # the admitted request finished once the lock was free


def test_every_route_tells_its_unit_of_work_how_it_ended(tmp_path: Any) -> None:
    """A route of another class would leave ``request.state.status`` unset: its refusals
    answered as pages would commit. Every route of the app is an ``HpfRoute``."""
    from fastapi.routing import APIRoute

    from hpf.settings import Settings
    from hpf.web.routing import HpfRoute

    app = create_app(Settings(env="development", database_url=f"sqlite:///{tmp_path}/r.sqlite3"))
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert routes
    assert [r.path for r in routes if not isinstance(r, HpfRoute)] == []
