"""``db.bulk.insert_with_ids`` (decision 0044): many rows in one statement, and each row's new id
in the order of the rows — on SQLite one executemany with the ids given after the largest, on
PostgreSQL a RETURNING sorted by parameter order."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, event, insert, select

from hpf.db.bulk import insert_with_ids
from hpf.db.engine import write_transaction
from hpf.events.tables import business_event


def _row(n: int) -> dict[str, object]:
    return {
        "type": "test.row", "object_kind": "thing", "object_id": str(n), "payload": {"n": n},
        "business_date": date(2025, 4, 15), "recorded_at": datetime(2025, 4, 15, tzinfo=UTC),
        "actor": "test", "source": "test",
    }  # fmt: skip


def test_ids_follow_the_rows_and_continue_after_the_largest(engine: Engine) -> None:
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(str(a[2]).split()[0]))
    with write_transaction(engine) as conn:
        before = conn.execute(
            insert(business_event).values(**_row(0)).returning(business_event.c.id)
        ).scalar_one()
        statements.clear()
        ids = insert_with_ids(conn, business_event, [_row(n) for n in range(1, 251)])
        inserts = statements.count("INSERT")
        later = conn.execute(
            insert(business_event).values(**_row(251)).returning(business_event.c.id)
        ).scalar_one()
        stored = dict(conn.execute(select(business_event.c.id, business_event.c.object_id)).all())
    assert (
        ids == list(range(before + 1, before + 251))
        if engine.dialect.name == "sqlite"
        else len(set(ids)) == 250
    )
    assert [stored[i] for i in ids] == [str(n) for n in range(1, 251)]  # each id is its row's
    assert later > max(ids)  # the engine's own next id comes after them
    assert inserts == 1  # one statement (executemany / one batch), not one per row
    with engine.connect() as conn:
        assert insert_with_ids(conn, business_event, []) == []
