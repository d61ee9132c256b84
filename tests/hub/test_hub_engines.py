"""The hub's own migrations describe its tables, and taking, de-duplicating and delivering work the
same on SQLite and PostgreSQL; a center's outbox and inbox too (the ``hub.delivery`` consumer on
PostgreSQL reads up to the settled horizon)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from hpf import bootstrap
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.db.testing import PgCluster
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
_numbers = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = f"hub{os.getpid()}_{next(_numbers)}"
    admin = make_engine(cluster.url())
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine = make_engine(cluster.url(name))
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


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
    found = compose(HUB_KEYS, HUB_CODE, "330100", A, "BDC909", CenterCodeAnswer(centers=[b_info], unknown=[]), reply_to=asked)
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
