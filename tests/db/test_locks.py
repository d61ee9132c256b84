"""Named locks (``hpf.db.locks``): many names in one statement, held until the transaction ends."""

from __future__ import annotations

from sqlalchemy import text

from hpf.db.engine import write_transaction
from hpf.db.locks import lock_name, lock_names


def test_many_names_are_locked_at_once_until_the_transaction_ends(engine) -> None:
    with write_transaction(engine) as conn:
        lock_names(conn, "transfer.credit", ["B-2", "A-1", "B-2"])
        lock_name(conn, "transfer.credit", "A-1")  # taken again by the same transaction: no wait
        lock_names(conn, "transfer.credit", [])
        if engine.dialect.name == "postgresql":
            held = conn.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            )
            assert held == 2  # two names, each once (A-1 held twice by one transaction: one lock)
    if engine.dialect.name == "postgresql":
        with write_transaction(engine) as conn:
            left = conn.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            )
        assert left == 0
