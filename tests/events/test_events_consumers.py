"""Consumers of the event stream (the outbox): exactly once, in order, resuming after a crash.

Integration tier: SQLite and PostgreSQL; the commit-order case only on PostgreSQL, where ids are
handed out before transactions commit.
"""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, Column, Connection, Integer, MetaData, String, Table, insert, select

from hpf import events
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.context import Context

_scratch = MetaData()
# What a consumer did: one row per event it handled (the primary key refuses a second time).
effect = Table(
    "test_consumer_effect",
    _scratch,
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("type", String(60), nullable=False),
)


class Crash(Exception):
    pass


def _record(engine, ctx, *types: str) -> list[int]:
    with write_transaction(engine) as conn:
        return [events.record(conn, ctx, t, "thing", n).id for n, t in enumerate(types)]


def _effects(engine) -> list[tuple[int, str]]:
    with read_transaction(engine) as conn:
        return [(r.event_id, r.type) for r in conn.execute(select(effect).order_by(effect.c.seq))]


def _writer(crash_after: int | None = None):
    """A handler that writes its effect; with ``crash_after``, crashes after that many."""
    done = [0]

    def handle(conn: Connection, _ctx: Context, event: events.Event) -> None:
        if crash_after is not None and done[0] == crash_after:
            raise Crash
        seq = (conn.scalar(select(effect.c.seq).order_by(effect.c.seq.desc()).limit(1)) or 0) + 1
        conn.execute(insert(effect).values(event_id=event.id, seq=seq, type=event.type))
        done[0] += 1

    return handle


@pytest.fixture
def sink(engine):
    _scratch.create_all(engine)
    return engine


def test_each_event_has_its_effect_once_in_order_and_a_crash_resumes(sink, ctx):
    engine = sink
    wanted = ("a.opened", "a.closed")
    first, second = ("a.opened", "b.ignored", "a.closed"), ("a.opened", "a.closed", "b.ignored", "a.opened")
    ids = [*_record(engine, ctx, *first), *_record(engine, ctx, *second)]
    ours = [i for i, t in zip(ids, (*first, *second), strict=True) if t in wanted]

    assert events.consume(engine, ctx, "test.sink", wanted, _writer(), limit=2) == 2
    with read_transaction(engine) as conn:
        assert events.cursor_of(conn, "test.sink") == ours[1]
    # The next round crashes after one effect: neither it nor the cursor commits.
    with pytest.raises(Crash):
        events.consume(engine, ctx, "test.sink", wanted, _writer(crash_after=1), limit=10)
    assert [i for i, _ in _effects(engine)] == ours[:2]
    with read_transaction(engine) as conn:
        assert events.cursor_of(conn, "test.sink") == ours[1]
    # Started again, it carries on from the last event it committed.
    assert events.consume(engine, ctx, "test.sink", wanted, _writer(), limit=10) == 3
    assert events.consume(engine, ctx, "test.sink", wanted, _writer(), limit=10) == 0
    assert [i for i, _ in _effects(engine)] == ours  # once each, in the stream's order
    with read_transaction(engine) as conn:
        assert events.cursor_of(conn, "test.sink") == ids[-1]  # past the last event it read


def test_consumers_keep_their_own_cursors(sink, ctx):
    engine = sink
    _record(engine, ctx, "a.opened", "b.ignored")
    seen: list[str] = []
    assert events.consume(engine, ctx, "test.one", None, lambda _c, _x, e: seen.append(e.type)) == 2
    assert events.consume(engine, ctx, "test.two", ["b.ignored"], lambda _c, _x, e: seen.append(e.type)) == 1
    assert events.consume(engine, ctx, "test.one", None, lambda _c, _x, e: seen.append(e.type)) == 0
    assert seen[:2] == ["a.opened", "b.ignored"] and seen[2:] == ["b.ignored"]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_an_event_that_commits_after_a_later_one_is_not_skipped(sink, ctx):
    """Ids are handed out at insert: event 1's transaction is still open when event 2 commits.
    A consumer that moved its cursor past 2 would never see 1; this one waits for it."""
    engine = sink
    slow = engine.connect()
    slow_tx = slow.begin()
    try:
        early = events.record(slow, ctx, "a.opened", "thing", 1).id
        (late,) = _record(engine, ctx, "a.opened")
        assert early < late
        handle = _writer()
        assert events.consume(engine, ctx, "test.sink", None, handle, lock_wait_seconds=0.2) == 0
        assert _effects(engine) == []
        slow_tx.commit()
    finally:
        slow.close()
    assert events.consume(engine, ctx, "test.sink", None, _writer()) == 2
    assert [i for i, _ in _effects(engine)] == [early, late]
