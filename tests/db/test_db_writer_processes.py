"""SQLite writers of two processes take turns (``hpf.db.engine.FileTurn``): a writer of one
process is not overtaken again and again by a busy other process (``hpf serve --workers 2``,
or a job beside the server), and a writer that cannot get the turn in time fails after its
bounded wait."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from hpf.db import engine as db

# Two threads of another process write back to back for ``seconds``, each transaction held
# 20 ms: that process always has a writer waiting for its own next turn.
BUSY_PROCESS = textwrap.dedent(
    """
    import sys, threading, time
    from hpf.db.engine import make_engine, write_transaction
    url, seconds = sys.argv[1], float(sys.argv[2])
    engine = make_engine(url)
    end = time.monotonic() + seconds
    print("ready", flush=True)
    def loop():
        while time.monotonic() < end:
            with write_transaction(engine) as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                time.sleep(0.02)
    threads = [threading.Thread(target=loop) for _ in range(2)]
    for t in threads: t.start()
    for t in threads: t.join()
    """
)


def _busy_process(url: str, seconds: float) -> subprocess.Popen[str]:
    other = subprocess.Popen(
        [sys.executable, "-c", BUSY_PROCESS, url, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert other.stdout is not None
    assert other.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # its writers are at it
    return other


def test_a_writer_is_not_overtaken_by_a_busy_other_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/p.sqlite3"
    engine = db.make_engine(url)
    with db.write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    other = _busy_process(url, 3.0)
    try:
        waits = []
        for _ in range(5):
            began = time.monotonic()
            with db.write_transaction(engine) as conn:
                waits.append(time.monotonic() - began)
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            time.sleep(0.05)
    finally:
        other.wait(timeout=30)
    # A fair turn waits for the transaction under way and perhaps one more (20 ms each); SQLite's
    # busy handler alone, sleeping up to 100 ms between tries while the other process hands its
    # turn from thread to thread, let this writer wait for most of the other's three seconds.
    assert max(waits) < 0.5, waits
    with db.read_transaction(engine) as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM t WHERE n = 2").scalar() == 5


def test_a_writer_that_cannot_get_the_turn_fails_after_its_wait(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.sqlite3"
    setup = db.make_engine(url)
    with db.write_transaction(setup) as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    holder = db.make_engine(url)  # another engine's lock file is another process's, to the turn
    waiter = db.make_engine(url, lock_wait_seconds=0.3)
    with db.write_transaction(holder):
        began = time.monotonic()
        with pytest.raises(OperationalError), db.write_transaction(waiter):
            pass
        assert time.monotonic() - began < 2.0
    with db.write_transaction(waiter) as conn:  # the abandoned wait left nothing held
        conn.exec_driver_sql("INSERT INTO t VALUES (3)")
    with db.read_transaction(waiter) as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 1
