"""The business event stream: a row per change in the change's transaction, its listeners there.

Integration tier: SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Connection, func, literal, select

from factories import employer_payload
from hpf import events
from hpf.accounts import service as accounts
from hpf.db.engine import read_transaction, write_transaction
from hpf.events.tables import business_event
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError


class Boom(Exception):
    pass


def _rolled_back(engine, work) -> None:
    """``work(conn)`` in a write transaction that then fails."""
    with write_transaction(engine) as conn:
        work(conn)
        raise Boom


def _count(engine) -> int:
    with read_transaction(engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(business_event)) or 0)


def test_an_event_is_written_with_its_object_time_and_actor(engine, ctx):
    with write_transaction(engine) as conn:
        event = events.record(conn, ctx, "thing.done", "thing", 42, {"amount_fen": 1, "on": date(2025, 3, 1)})
    with read_transaction(engine) as conn:
        (stored,) = events.events_of(conn, "thing", 42)
    assert stored == event
    assert (stored.type, stored.object_kind, stored.object_id) == ("thing.done", "thing", "42")
    assert stored.payload == {"amount_fen": 1, "on": "2025-03-01"}  # JSON-safe
    assert stored.business_date == date(2025, 3, 15) and stored.recorded_at.tzinfo is not None
    assert (stored.actor, stored.source) == ("tester", "test")


def test_a_change_rolled_back_leaves_no_event(engine, ctx):
    before = _count(engine)
    seen: list[events.Event] = []

    def open_employer(conn: Connection) -> None:
        accounts.register_employer(conn, ctx, employer_payload(7))
        seen.extend(events.events_since(conn, 0, ["employer.opened"]))  # written, in the transaction

    with pytest.raises(Boom):
        _rolled_back(engine, open_employer)
    assert len(seen) == 1 and _count(engine) == before


def test_listeners_hear_their_events_in_the_writers_transaction(engine, ctx):
    heard: list[tuple[str, str]] = []

    def note(conn: Connection, _ctx: Context, event: events.Event) -> None:
        heard.append((event.type, event.object_id))
        events.record(conn, _ctx, "thing.noted", "thing", event.object_id)  # and it writes in it

    only_red = events.Listener("note red things", ("thing.done",), note, where={"colour": "red"})
    with events.listening(only_red):
        with write_transaction(engine) as conn:
            events.record(conn, ctx, "thing.done", "thing", 1, {"colour": "red"})
            events.record(conn, ctx, "thing.done", "thing", 2, {"colour": "blue"})
            events.record(conn, ctx, "thing.other", "thing", 3, {"colour": "red"})
        with pytest.raises(Boom):
            _rolled_back(
                engine, lambda conn: events.record(conn, ctx, "thing.done", "thing", 4, {"colour": "red"})
            )
    assert heard == [("thing.done", "1"), ("thing.done", "4")]
    with read_transaction(engine) as conn:
        assert [(e.type, e.object_id) for e in events.events_since(conn, 0, ["thing.done", "thing.noted"])] == [
            ("thing.done", "1"), ("thing.noted", "1"), ("thing.done", "2"),
        ]  # fmt: skip


def test_a_listener_that_refuses_rolls_the_change_back(engine, ctx):
    def refuse(_conn: Connection, _ctx: Context, _event: events.Event) -> None:
        raise HpfError("thing.refused", "拒绝", "the listener refuses")

    before = _count(engine)
    with (
        events.listening(events.Listener("refuse", ("thing.done",), refuse)),
        pytest.raises(HpfError),
        write_transaction(engine) as conn,
    ):
        events.record(conn, ctx, "thing.done", "thing", 1)
    assert _count(engine) == before


def test_a_set_of_events_is_one_statement_and_each_is_heard(engine, ctx):
    heard: list[str] = []
    listener = events.Listener("hear", ("thing.counted",), lambda _c, _x, e: heard.append(e.object_id))
    with events.listening(listener), write_transaction(engine) as conn:
        rows = select(business_event.c.id, events.json_of(conn, n=business_event.c.id, tag=literal("x")))
        events.record(conn, ctx, "thing.done", "thing", 1)
        events.record(conn, ctx, "thing.done", "thing", 2)
        written = events.record_set(
            conn, ctx, "thing.counted", "thing", rows.where(business_event.c.type == "thing.done")
        )
        assert written == 2
        counted = events.events_since(conn, 0, ["thing.counted"])
    first, second = (e.payload["n"] for e in counted)
    assert heard == [str(first), str(second)] and first < second
    assert all(e.payload["tag"] == "x" and e.actor == "tester" for e in counted)


def test_a_listener_with_a_set_form_hears_events_recorded_together_at_once(engine, ctx):
    """Decision 0045: ``record_many`` calls a listener's ``call_many`` once with every event it
    hears (after the one-event listeners of each); ``record`` still calls its ``call``."""
    calls: list[tuple[str, list[str]]] = []

    def one(_conn: Connection, _ctx: Context, event: events.Event) -> None:
        calls.append(("one", [event.object_id]))

    def many(_conn: Connection, _ctx: Context, heard: list[events.Event]) -> None:
        calls.append(("many", [e.object_id for e in heard]))

    grouped = events.Listener("grouped", ("thing.paid",), one, where={"colour": "red"}, call_many=many)
    each = events.Listener("each", ("thing.paid",), lambda _c, _x, e: calls.append(("each", [e.object_id])))
    with events.listening(grouped, each), write_transaction(engine) as conn:
        events.record_many(conn, ctx, [
            ("thing.paid", "thing", 1, {"colour": "red"}), ("thing.paid", "thing", 2, {"colour": "blue"}),
            ("thing.paid", "thing", 3, {"colour": "red"}),
        ])  # fmt: skip
        events.record(conn, ctx, "thing.paid", "thing", 4, {"colour": "red"})
    assert calls == [
        ("each", ["1"]), ("each", ["2"]), ("each", ["3"]), ("many", ["1", "3"]),
        ("one", ["4"]), ("each", ["4"]),
    ]  # fmt: skip


def test_a_process_not_started_through_bootstrap_records_nothing(engine, ctx, monkeypatch):
    monkeypatch.setattr(events.listeners, "_installed", None)
    with pytest.raises(HpfError) as refused, write_transaction(engine) as conn:
        events.record(conn, ctx, "thing.done", "thing", 1)
    assert refused.value.code == "wiring.missing"
