"""The hub's own migrations describe its tables, and taking, de-duplicating and delivering work the
same on SQLite and PostgreSQL; a center's outbox and inbox too (the ``hub.delivery`` consumer on
PostgreSQL reads up to the settled horizon)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from databases import fresh_database
from hpf import bootstrap
from hpf.db.engine import read_transaction, write_transaction
from hpf.hub import registry, service
from hpf.hub.schema import upgrade
from hpf.hub.tables import hub_metadata
from hpf.kernel.clock import SystemClock
from hpf.kernel.context import Context
from hpf.messages import protocol
from hpf.messages.bodies import CenterCodeAnswer, CenterCodeQuery, StatusAnswer, StatusQuery
from hpf.messages.envelope import CenterInfo
from hpf.messages.keys import KeyPair
from hpf.settings import Settings
from hpf.transfers import service as transfers
from hub_support import HUB_CODE, HUB_KEYS, compose, delivery, now

A, B = KeyPair.generate(), KeyPair.generate()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from fresh_database(request, tmp_path, stem="hub", migrate=upgrade)


def test_the_hub_migrations_and_tables_agree(hub_engine):
    with hub_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": "hub_alembic_version"}
        )
        assert compare_metadata(context, hub_metadata) == []


def test_take_once_and_deliver_on_both_engines(hub_engine):
    with write_transaction(hub_engine) as conn:
        for code, keys in (("330100", A), ("440300", B)):
            registry.register(
                conn, code=code, name="中心", province="浙江", endpoint=f"http://{code}.test",
                keys=keys.public(), actor="t", now=now(), hub_code=HUB_CODE,
            )  # fmt: skip
    hub = service.Hub(HUB_CODE, HUB_KEYS)
    envelope = compose(A, "330100", "440300", B, "BDC904", StatusQuery(letter_no="4403002612060001"))
    for expected in ("accepted", "duplicate"):
        with write_transaction(hub_engine) as conn:
            assert service.receive(conn, hub, delivery(A, "330100", envelope), now()).status == expected
    sent: list[str] = []
    done = service.deliver_due(hub_engine, hub, lambda url, payload: (sent.append(url), (200, {}))[1], now)
    assert done.delivered == 1 and sent == ["http://440300.test/api/v1/hub/messages"]
    with read_transaction(hub_engine) as conn:
        assert service.message_state(conn, envelope.message_id) == "delivered"
        assert service.message_counts(conn) == {"delivered": 1}


def test_a_centers_outbox_and_inbox_on_both_engines(engine, tmp_path):
    """``engine``: a migrated center database (conftest), SQLite and PostgreSQL."""
    A.write(tmp_path / "a.json")
    public = HUB_KEYS.public()
    settings = Settings(
        database_url="unused", env="development", center_code="330100", hub_url="http://hub.test",
        hub_public_keys=f"{public.sign}:{public.encrypt}", message_key_file=str(tmp_path / "a.json"),
    )  # fmt: skip
    bootstrap.install(bootstrap.build(settings))  # (conftest puts the session's wiring back)
    ctx = Context(actor="t", clock=SystemClock(), center_code="330100", source="test")
    with write_transaction(engine) as conn:
        asked = transfers.send(conn, ctx, HUB_CODE, "BDC909", CenterCodeQuery(codes=["440300"]))
    posted: list[dict[str, Any]] = []
    answers = iter([(503, {"code": "db.unavailable"}), (200, {"status": "accepted"})])
    post = lambda url, payload: (posted.append(payload), next(answers))[1]  # noqa: E731
    first = transfers.deliver_due(engine, ctx, post)
    assert (first.scheduled, first.retried) == (1, 1)
    again = transfers.deliver_due(engine, ctx, post, now=lambda: now() + timedelta(seconds=2))
    assert (again.scheduled, again.delivered) == (0, 1)
    assert posted[0]["envelope"] == posted[1]["envelope"]  # the same envelope, a new hop
    # The hub's BDC909 answer comes in (A learns B), then a forwarded BDC904 answer from B to
    # A's question, once.
    b_info = CenterInfo(
        code="440300",
        name="深圳",
        province="广东",
        state="active",
        sign_key=B.public().sign,
        encrypt_key=B.public().encrypt,
    )
    found = compose(
        HUB_KEYS,
        HUB_CODE,
        "330100",
        A,
        "BDC909",
        CenterCodeAnswer(centers=[b_info], unknown=[]),
        reply_to=asked,
    )
    with write_transaction(engine) as conn:
        hop = protocol.hop(HUB_KEYS, HUB_CODE, found, now()).model_dump(mode="json")
        assert transfers.receive(conn, ctx, hop, now()).status == "accepted"
        status_asked = transfers.ask_status(conn, ctx, "440300", "4403002612060001")
    answer = compose(
        B,
        "440300",
        "330100",
        A,
        "BDC904",
        StatusAnswer(letter_no="4403002612060001", feedback_code="0", feedback="已完成", status="00"),
        reply_to=status_asked,
    )
    for expected in ("accepted", "duplicate"):
        with write_transaction(engine) as conn:
            got = transfers.receive(
                conn,
                ctx,
                protocol.hop(HUB_KEYS, HUB_CODE, answer, now(), sender=b_info).model_dump(mode="json"),
                now(),
            )
        assert got.status == expected
    with read_transaction(engine) as conn:
        assert transfers.message_of(conn, asked).answered_by == str(found.message_id)
        assert transfers.message_of(conn, status_asked).answered_by == str(answer.message_id)
        assert transfers.peers(conn) == {"440300": "active"}


def _at_the_same_moment(engine: Engine, take: Any) -> tuple[Any, Any]:
    """``take(conn)`` in two write transactions at once: the second starts while the first has
    written and not committed (on PostgreSQL: waits on the first's row), then the first commits."""
    import threading
    import time

    second: list[Any] = []

    def other() -> None:
        try:
            with write_transaction(engine) as conn:
                second.append(take(conn))
        except Exception as exc:  # reported by the assertion below
            second.append(exc)

    with write_transaction(engine) as conn:
        first = take(conn)
        thread = threading.Thread(target=other)
        thread.start()
        if engine.dialect.name == "postgresql":
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            deadline = time.monotonic() + 10
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watch:
                while not watch.scalar(text(waiting)) and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert watch.scalar(text(waiting)), "the second transaction never waited on the first"
        else:
            time.sleep(0.2)
    thread.join(30)
    return first, second[0]


def test_the_hub_takes_one_message_sent_twice_at_the_same_moment(hub_engine):
    """Review fix 3: the second of two concurrent deliveries is a duplicate, not an error."""
    with write_transaction(hub_engine) as conn:
        for code, keys in (("330100", A), ("440300", B)):
            registry.register(
                conn, code=code, name="中心", province="浙江", endpoint=f"http://{code}.test",
                keys=keys.public(), actor="t", now=now(), hub_code=HUB_CODE,
            )  # fmt: skip
    hub = service.Hub(HUB_CODE, HUB_KEYS)
    envelope = compose(A, "330100", "440300", B, "BDC904", StatusQuery(letter_no="4403002612060001"))
    first, second = _at_the_same_moment(
        hub_engine, lambda conn: service.receive(conn, hub, delivery(A, "330100", envelope), now()).status
    )
    assert (first, second) == ("accepted", "duplicate")
    with read_transaction(hub_engine) as conn:
        assert service.message_counts(conn) == {"queued": 1}


def _center(tmp_path: Any) -> Context:
    A.write(tmp_path / "a.json")
    public = HUB_KEYS.public()
    settings = Settings(
        database_url="unused", env="development", center_code="330100", hub_url="http://hub.test",
        hub_public_keys=f"{public.sign}:{public.encrypt}", message_key_file=str(tmp_path / "a.json"),
    )  # fmt: skip
    bootstrap.install(bootstrap.build(settings))  # (conftest puts the session's wiring back)
    return Context(actor="t", clock=SystemClock(), center_code="330100", source="test")


B_INFO = CenterInfo(
    code="440300", name="深圳", province="广东", state="active",
    sign_key=B.public().sign, encrypt_key=B.public().encrypt,
)  # fmt: skip


def test_a_center_takes_one_message_delivered_twice_at_the_same_moment(engine, tmp_path):
    """Review fix 3: the center's inbox, the same (a BDC904 query from B: one answer queued)."""
    ctx = _center(tmp_path)
    query = compose(B, "440300", "330100", A, "BDC904", StatusQuery(letter_no="3301002612060001"))

    def take(conn: Any) -> str:
        hop = protocol.hop(HUB_KEYS, HUB_CODE, query, now(), sender=B_INFO).model_dump(mode="json")
        return transfers.receive(conn, ctx, hop, now()).status

    assert _at_the_same_moment(engine, take) == ("accepted", "duplicate")
    with read_transaction(engine) as conn:
        assert len(transfers.messages(conn, direction="in")) == 1
        assert len(transfers.messages(conn, direction="out")) == 1  # one answer
        assert transfers.peers(conn) == {"440300": "active"}


def test_an_idle_round_does_not_run_the_consumer_and_a_refusal_is_an_event(engine, tmp_path, monkeypatch):
    """Review fixes 5 and 7: no ``recorded`` message, no consume round (on PostgreSQL it locks
    the event stream); a final refusal of our message records ``hub_message.refused``."""
    from hpf import events

    ctx = _center(tmp_path)
    consumed: list[str] = []
    real = events.consume
    monkeypatch.setattr(events, "consume", lambda *a, **kw: (consumed.append(a[2]), real(*a, **kw))[1])
    nothing = lambda url, payload: pytest.fail("nothing to send")  # noqa: E731
    assert transfers.deliver_due(engine, ctx, nothing).attempted == 0
    assert consumed == []
    with write_transaction(engine) as conn:
        asked = transfers.send(conn, ctx, HUB_CODE, "BDC909", CenterCodeQuery(codes=["440300"]))
    refused = lambda url, payload: (422, {"code": "message.recipient_unknown", "detail": "x"})  # noqa: E731
    done = transfers.deliver_due(engine, ctx, refused)
    assert (done.scheduled, done.refused) == (1, 1) and consumed
    consumed.clear()
    assert transfers.deliver_due(engine, ctx, nothing).attempted == 0 and consumed == []
    with read_transaction(engine) as conn:
        told = [e for e in events.events_of(conn, "hub_message", asked) if e.type == "hub_message.refused"]
    assert [(e.payload["type"], e.payload["to"], e.payload["code"]) for e in told] == [
        ("BDC909", HUB_CODE, "message.recipient_unknown")
    ]
