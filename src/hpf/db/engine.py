"""Engines: the embedded SQLite default (WAL, foreign keys on) and PostgreSQL by URL."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 64 MiB of page cache (the default is 2 MiB): batch jobs touch indexes of millions of rows.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and the pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so that a write
        # use case (SELECT ... then UPDATE) is one transaction begun IMMEDIATE: two writers
        # then queue on the lock instead of failing to upgrade a read snapshot.
        event.listen(engine, "connect", _disable_pysqlite_begin)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        _writers[engine] = threading.Semaphore(1)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, **kwargs)


# SQLite has one writer at a time. Writers of this process queue on a lock of their engine
# rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms: under load the
# lock hands over at once. A semaphore, not a lock: FastAPI may end a request's transaction on
# another thread than the one that began it. (A write transaction inside another on one engine
# never worked on SQLite: the inner one waited for the outer's lock.) Other processes (a CLI job beside the server) still meet SQLite's busy timeout.
_writers: weakref.WeakKeyDictionary[Engine, threading.Semaphore] = weakref.WeakKeyDictionary()


def _disable_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(conn: Any) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("hpf_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine_or_conn: Any) -> bool:
    return bool(engine_or_conn.dialect.name == "sqlite")


WRITER_WAIT_SECONDS = 30.0  # as SQLite's busy timeout


@contextmanager
def _writer_turn(engine: Engine) -> Iterator[None]:
    """This process's turn to write on a SQLite engine (nothing to wait for on PostgreSQL)."""
    turn = _writers.get(engine)
    if turn is None:
        yield
        return
    # A bounded wait: a write transaction opened inside another on one thread fails like the
    # busy timeout did, instead of waiting forever on itself.
    if not turn.acquire(timeout=WRITER_WAIT_SECONDS):
        raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("database is locked (writer queue)"))
    try:
        yield
    finally:
        turn.release()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction for a use case that writes (``BEGIN IMMEDIATE`` on SQLite)."""
    with _writer_turn(engine), engine.connect().execution_options(hpf_write=True) as conn, conn.begin():
        yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn
