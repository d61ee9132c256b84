"""The server's one writer of audit rows that are not part of a business transaction: group commit.

Reads of personal data, refusals and changes made outside the request's unit of work leave audit
rows too (G3). Written one transaction each, every read of a member took a second pooled
connection and a turn of SQLite's single writer while it still held its read connection: under
twenty clients the pool ran dry and reads waited 30 s for a connection nobody could give back.

Here a request hands its rows to the sink as a *work item* (a function of a connection: the
rows, and the alert checks that read them) and, where the data must not leave before its audit
row is committed, waits for the item's future. One thread takes every item waiting, runs each in
a savepoint of one write transaction on a connection of its own (``companion_engine``: never the
request pool's) and commits them together; a failing item fails alone. So a read costs a queue
hand-off and a share of one commit, never a connection of its own, and a refusal can be
recorded while the refusing request still holds its write transaction (it is queued, not
waited for: the request's own lock would be in the way).

Items are written in submission order, so a request that waits for its last item knows its
earlier, unwaited ones are committed too (``AuditSink.barrier``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from fastapi import Request
from sqlalchemy import Connection, Engine

from hpf.db.engine import companion_engine, write_transaction
from hpf.kernel.errors import HpfError

log = logging.getLogger(__name__)

Work = Callable[[Connection], None]

WAIT_SECONDS = 10.0  # a read whose audit row is not committed by then is refused (503)
MAX_BATCH = 500
IDLE_SECONDS = 5.0  # an idle sink gives its connection back and its thread ends (restarted on demand)


def unavailable() -> HpfError:
    return HpfError(
        "audit.unavailable",
        "审计记录暂时无法写入，请稍后再试",
        "the audit log could not be written in time; the data is not shown until it is",
        status=503,
        retry_after=2,
    )


class AuditSink:
    """A queue of audit work items and the thread that commits them in batches."""

    def __init__(self, engine: Engine) -> None:
        self._main = engine
        self._engine: Engine | None = None
        self._items: list[tuple[Work, Future[None]]] = []
        self._last: Future[None] | None = None
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def submit(self, work: Work) -> Future[None]:
        """Queue ``work``; its future is done once it is committed (or has failed)."""
        future: Future[None] = Future()
        with self._cond:
            self._items.append((work, future))
            self._last = future
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hpf-audit-sink", daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def write(self, work: Work, *, timeout: float = WAIT_SECONDS) -> None:
        """Queue ``work`` and wait until it is committed; 503 ``audit.unavailable`` otherwise."""
        wait(self.submit(work), timeout)

    def barrier(self) -> Future[None] | None:
        """The future of the last item queued so far: when it is done, so is every earlier one."""
        with self._cond:
            return self._last

    def close(self, timeout: float = WAIT_SECONDS) -> None:
        """Write what is queued, then stop the thread (a later ``submit`` starts it again: an
        application may be served more than once, as tests do)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._stopping = False

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._items and not self._stopping:
                    self._cond.wait(IDLE_SECONDS)
                if not self._items:
                    # Idle or stopping: end, holding no connection (an app built per test and
                    # never shut down must not keep one open).
                    self._thread = None
                    if self._engine is not None:
                        self._engine.dispose()
                        self._engine = None
                    return
                batch, self._items = self._items[:MAX_BATCH], self._items[MAX_BATCH:]
            self._commit(batch)

    def _commit(self, batch: list[tuple[Work, Future[None]]]) -> None:
        outcomes: list[BaseException | None] = []
        try:
            if self._engine is None:
                self._engine = companion_engine(self._main)
            with write_transaction(self._engine) as conn:
                for work, _future in batch:
                    outcomes.append(_run_in_savepoint(conn, work))
        except Exception as exc:  # the transaction itself failed: nothing of the batch is written
            log.exception("audit batch of %d items not written", len(batch))
            for _work, future in batch:
                future.set_exception(exc)
            return
        for (_work, future), failure in zip(batch, outcomes, strict=True):
            if failure is None:
                future.set_result(None)
            else:
                future.set_exception(failure)


def _run_in_savepoint(conn: Connection, work: Work) -> BaseException | None:
    try:
        with conn.begin_nested():
            work(conn)
    except Exception as exc:
        log.exception("audit item not written")
        return exc
    return None


def wait(future: Future[None], timeout: float = WAIT_SECONDS) -> None:
    """Block until ``future`` is committed; a failure or a timeout refuses with 503."""
    try:
        future.result(timeout)
    except FutureTimeout as exc:
        raise unavailable() from exc
    except HpfError:
        raise
    except Exception as exc:
        raise unavailable() from exc


def sink_of(request: Request) -> AuditSink:
    return request.app.state.audit_sink  # type: ignore[no-any-return]


def queue(request: Request, work: Work) -> Future[None]:
    """Queue audit ``work`` for this request without waiting (its transaction may hold the
    lock the sink needs); the answer still waits for it (``AuditTrail``)."""
    future = sink_of(request).submit(work)
    request.state.audit_last = future
    return future


def write(request: Request, work: Work) -> None:
    """Queue audit ``work`` and wait until it is committed (503 ``audit.unavailable`` if not)."""
    wait(queue(request, work))
