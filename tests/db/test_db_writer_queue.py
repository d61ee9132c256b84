"""SQLite writers of one process queue on their engine's semaphore (decision 0015): concurrent
writers all get their turn, and a write transaction opened inside another on the same thread
fails after a bounded wait instead of waiting for itself forever."""

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
