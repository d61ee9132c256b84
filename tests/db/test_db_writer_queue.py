"""SQLite writers of one process queue on their engine's writer turn (decisions 0015, 0026):
concurrent writers all get their turn, in arrival order, and a write transaction opened inside
another on the same thread fails after a bounded wait instead of waiting for itself forever."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from hpf.db import engine as db


def test_concurrent_writers_take_turns(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path}/w.sqlite3")
    with db.write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")

    def write(n: int) -> None:
        for _ in range(20):
            with db.write_transaction(engine) as conn:
                conn.exec_driver_sql(f"INSERT INTO t VALUES ({n})")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read_transaction(engine) as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 160


def test_a_nested_write_fails_after_the_bounded_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "WRITER_WAIT_SECONDS", 0.2)
    engine = db.make_engine(f"sqlite:///{tmp_path}/n.sqlite3")
    with pytest.raises(OperationalError), db.write_transaction(engine), db.write_transaction(engine):
        pass
    with db.write_transaction(engine) as conn:  # the turn was given back
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


def test_writers_get_the_turn_in_arrival_order(tmp_path: Path) -> None:
    """A writer that comes back at once after its turn does not overtake those already waiting
    (``threading.Semaphore`` let it: the woken waiter still had to get the GIL, and lost)."""
    engine = db.make_engine(f"sqlite:///{tmp_path}/o.sqlite3")
    turn = db._writers[engine].queue
    order: list[str] = []
    assert turn.acquire(timeout=5)

    def writer(name: str) -> None:
        assert turn.acquire(timeout=5)
        order.append(name)
        turn.release()

    threads = []
    for n, name in enumerate(("b", "c", "d")):
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        threads.append(t)
        for _ in range(500):  # each queued before the next arrives
            if turn.waiting() == n + 1:
                break
            threading.Event().wait(0.01)
        assert turn.waiting() == n + 1
    turn.release()
    assert turn.acquire(timeout=5)  # back at once: behind b, c and d
    order.append("a")
    turn.release()
    for t in threads:
        t.join()
    assert order == ["b", "c", "d", "a"]


def test_a_writer_that_gives_up_leaves_the_queue(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path}/g.sqlite3")
    turn = db._writers[engine].queue
    assert turn.acquire(timeout=5)
    assert not turn.acquire(timeout=0.05)  # waited, gave up
    assert turn.waiting() == 0
    turn.release()
    assert turn.acquire(timeout=0.05)  # free again: the one who gave up is not handed the turn
    turn.release()
