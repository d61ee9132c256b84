"""Engines: the embedded SQLite default (WAL, foreign keys on) and PostgreSQL by URL."""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

WRITER_WAIT_SECONDS = 30.0  # as SQLite's busy timeout

# A Core statement found in the compiled cache had its result's key map rebuilt for the new
# statement's column objects on every execution (~50 µs for a row of 30 columns, a third of the
# statement's cost), so that ``row._mapping[column]`` finds columns of the new statement. We read
# rows by name or position only (as the ORM does, which sets this option too).
_EXECUTION_OPTIONS = {"_result_disable_adapt_to_context": True}


def _sqlite_pragmas(lock_wait_seconds: float) -> Any:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_wait_seconds * 1000)}")
        # 64 MiB of page cache (the default is 2 MiB): batch jobs touch indexes of millions of rows.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    return pragmas


def make_engine(url: str, *, lock_wait_seconds: float | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files get their directory created and the pragmas set.

    ``lock_wait_seconds`` bounds how long a SQLite writer waits for the write lock (its turn in
    this process, then SQLite's busy timeout for other processes): 30 s for jobs by default; the
    server gives less and answers 503 rather than hold a request (``hpf.app``).
    """
    parsed = make_url(url)
    kwargs["execution_options"] = {**_EXECUTION_OPTIONS, **kwargs.get("execution_options", {})}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # pysqlite keeps 128 prepared statements per connection; a withdrawal alone runs ~60
        # distinct ones and a server several hundred, so the least recently used were prepared
        # again and again. A prepared statement costs a few kilobytes: keep four times as many.
        kwargs["connect_args"] = {"cached_statements": 512, **kwargs.get("connect_args", {})}
        engine = create_engine(url, **kwargs)
        wait = WRITER_WAIT_SECONDS if lock_wait_seconds is None else lock_wait_seconds
        event.listen(engine, "connect", _sqlite_pragmas(wait))
        # pysqlite's own transaction handling defers BEGIN; take it over so that a write
        # use case (SELECT ... then UPDATE) is one transaction begun IMMEDIATE: two writers
        # then queue on the lock instead of failing to upgrade a read snapshot.
        event.listen(engine, "connect", _disable_pysqlite_begin)
        _begin_as_we_write(engine)
        event.listen(engine, "checkin", _release_on_checkin)
        on_file = bool(parsed.database) and parsed.database != ":memory:"
        files = FileTurn(f"{parsed.database}.writer-lock") if on_file else None
        _writers[engine] = _Turn(WriterTurn(), lock_wait_seconds, files)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, **kwargs)


def companion_engine(engine: Engine) -> Engine:
    """A one-connection engine on ``engine``'s database for a background writer of the process.

    It never takes a connection from ``engine``'s pool (a writer that needs one while every
    request holds one would wait for ever), and on SQLite it queues on the same writer turn:
    both are writers of one process.
    """
    turn = _writers.get(engine)
    wait = turn.wait if turn is not None else None
    companion = make_engine(
        engine.url.render_as_string(hide_password=False), lock_wait_seconds=wait, pool_size=1, max_overflow=0
    )
    if turn is not None:
        _writers[companion] = turn
    return companion


# SQLite has one writer at a time. Writers of this process queue on a turn of their engine
# rather than in SQLite's busy handler, which polls with sleeps of up to 100 ms: under load the
# turn hands over at once. Not owned by a thread (like a semaphore): FastAPI may end a request's
# transaction on another thread than the one that began it. (A write transaction inside another
# on one engine never worked on SQLite: the inner one waited for the outer's turn.) Other
# processes (a CLI job beside the server) still meet SQLite's busy timeout.
class WriterTurn:
    """One writer at a time, served in arrival order.

    ``threading.Semaphore`` is not first come, first served: a release wakes the longest waiter,
    but a thread that arrives meanwhile may take the permit before the woken one gets to run (it
    still has to get the GIL), and the woken one waits again at the back of the queue. Under load
    some writers were overtaken again and again: the slowest answers took twice the median.
    Here a release hands the turn straight to the first waiter, and nobody takes it past them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        with self._lock:
            if not self._held:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True  # handed over by release(): the turn is ours
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return False
        return True  # handed over just as the wait ended

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()  # stays held: it is the first waiter's now
            else:
                self._held = False

    def waiting(self) -> int:
        """How many writers wait for the turn (tests)."""
        with self._lock:
            return len(self._waiters)


# Between processes (``hpf serve --workers N``, a CLI job beside the server) SQLite's busy handler
# was the only queue: a writer of one process retried with sleeps of 1, 2, 5 … 100 ms while the
# other process's writers handed their turn from one to the next at once, so it was overtaken
# again and again (with two workers the slowest withdrawals took ten times the median). The
# holder of a process's turn therefore also takes an advisory lock on a file beside the
# database, blocking in the kernel, which wakes it as soon as the lock is let go. It only
# orders writers: SQLite's own lock still decides (a lock taken late, or a process that does
# not take it, is met by BEGIN IMMEDIATE and the busy timeout as before).
class FileTurn:
    """The writer turn between the processes of one SQLite database: ``flock`` on a lock file."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1
        self._pid = 0
        self._waiter: ThreadPoolExecutor | None = None
        self._guard = threading.Lock()

    def _file(self) -> int:
        # A process made by fork shares the parent's open file (and its lock): open our own.
        if self._pid != os.getpid():
            with self._guard:
                if self._pid != os.getpid():
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                    self._waiter = ThreadPoolExecutor(1, thread_name_prefix="hpf-writer-file")
                    self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float) -> bool:
        """Only the holder of the process's turn calls this, so one thread at a time."""
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        assert self._waiter is not None
        # flock has no timeout: a thread of our own blocks in it, and we wait for that.
        taken: Future[None] = self._waiter.submit(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            taken.result(timeout=timeout)
            return True
        except FutureTimeout:
            if not taken.cancel():  # it will get the lock later: give it back then
                taken.add_done_callback(lambda _f: fcntl.flock(fd, fcntl.LOCK_UN))
            return False

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def __del__(self) -> None:  # an engine disposed of and forgotten: its lock file closed
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)


@dataclass(frozen=True)
class _Turn:
    queue: WriterTurn
    wait: float | None  # None: WRITER_WAIT_SECONDS, read when waiting
    files: FileTurn | None = None  # between processes, for a database in a file

    def acquire(self, timeout: float) -> bool:
        began = time.monotonic()
        if not self.queue.acquire(timeout=timeout):
            return False
        if self.files is None or self.files.acquire(max(0.0, timeout - (time.monotonic() - began))):
            return True
        self.queue.release()
        return False

    def release(self) -> None:
        if self.files is not None:
            self.files.release()
        self.queue.release()


_writers: weakref.WeakKeyDictionary[Engine, _Turn] = weakref.WeakKeyDictionary()


def _disable_pysqlite_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


_WRITES = "hpf_writes"  # on a connection's info: its transactions write (``writer_connection``)


def _begin_as_we_write(engine: Engine) -> None:
    """A transaction on a write connection begins ``IMMEDIATE``, in this process's writer turn;
    any other ``DEFERRED``.

    Done as the engine's dialect's own ``do_begin``, not as a ``begin`` event: a connection event
    makes SQLAlchemy dispatch four (empty) events around every statement the engine runs, a
    tenth of all the Python calls of a request (decision 0047).
    """
    ours = weakref.ref(engine)

    def do_begin(dbapi_connection: Any) -> None:  # the pooled connection (its ``info`` is ours)
        info = dbapi_connection.info
        if not info.get(_WRITES):
            dbapi_connection.execute("BEGIN DEFERRED")
            return
        owner = ours()
        if owner is not None:
            _take_turn(info, owner)  # from the first statement to release_turn
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            _give_back(info)
            raise

    engine.dialect.do_begin = do_begin  # type: ignore[method-assign]


def is_sqlite(engine_or_conn: Any) -> bool:
    return bool(engine_or_conn.dialect.name == "sqlite")


_HELD = "hpf_writer_turn"


def _take_turn(info: dict[str, Any], engine: Engine) -> None:
    """This process's turn to write on a SQLite engine, taken when a write connection begins.

    Taken at the first statement rather than when the connection is handed out, so that the
    time a request spends between getting its connection and running its first statement (a
    thread hand-off, other dependencies) does not keep every other writer waiting. Held by the
    connection (``conn.info``) until ``release_turn``. A bounded wait: a write transaction
    opened inside another on one thread fails like the busy timeout did, instead of waiting
    forever on itself.
    """
    turn = _writers.get(engine)
    if turn is None or info.get(_HELD) is not None:
        return
    wait = WRITER_WAIT_SECONDS if turn.wait is None else turn.wait
    if not turn.acquire(timeout=wait):
        raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("database is locked (writer queue)"))
    info[_HELD] = turn


def release_turn(conn: Connection) -> None:
    """Give the writer turn back, once the connection's transaction has ended."""
    _give_back(conn.info)


def _give_back(info: dict[str, Any]) -> None:
    turn = info.pop(_HELD, None)
    if turn is not None:
        turn.release()


def _release_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    # A connection that goes back to the pool never keeps the turn (an error path that skipped
    # release_turn would otherwise stop every writer of the process).
    record.info.pop(_WRITES, None)
    _give_back(record.info)


@contextmanager
def writer_connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose transactions write (``BEGIN IMMEDIATE`` on SQLite, in this process's
    writer turn); the caller begins and ends the transaction (or the first statement begins it)."""
    with engine.connect() as conn:
        conn.info[_WRITES] = True  # for this checkout only (the pooled connection's info lasts)
        try:
            yield conn
        finally:
            if not conn.in_transaction():  # else the rollback on closing comes first (checkin)
                release_turn(conn)
            conn.info.pop(_WRITES, None)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction for a use case that writes (``BEGIN IMMEDIATE`` on SQLite)."""
    with writer_connection(engine) as conn, conn.begin():
        yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def read_phase(conn: Connection) -> Iterator[Connection]:
    """A read transaction on a write connection before its write transaction begins: what must
    be known before writing (the questions a rule will ask the network) is read without taking
    the writer turn or SQLite's write lock (``BEGIN DEFERRED``). Ended when the block ends; the
    connection's next statement begins its write transaction as usual. Refused inside a
    transaction (it would end the caller's)."""
    if conn.in_transaction():
        raise RuntimeError("read_phase on a connection already in a transaction")
    writes = bool(conn.info.get(_WRITES))
    if writes:
        conn.info[_WRITES] = False
    try:
        with conn.begin():
            yield conn
    finally:
        if writes:
            conn.info[_WRITES] = True


@contextmanager
def short_write(conn: Connection) -> Iterator[Connection]:
    """A write transaction of its own on ``conn`` (not in one), committed when the block ends and
    the writer turn given back at once: a log row kept whatever the request's change becomes."""
    if conn.in_transaction():
        raise RuntimeError("short_write on a connection already in a transaction")
    try:
        with conn.begin():
            yield conn
    finally:
        if not conn.in_transaction():
            release_turn(conn)
