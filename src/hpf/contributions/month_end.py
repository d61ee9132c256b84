"""The month-end job for the whole center: allocate every funded list, then mark arrears.

Restartable and idempotent per (job, month): lists are allocated in chunks, each chunk in its
own transaction, each list under the ledger key ``alloc:<id>``; a run killed midway is run
again and carries on where the committed chunks end; a finished month is not run twice.

On PostgreSQL two chunks are allocated at a time, each by its own connection and transaction:
the work is in the database, and one transaction keeps one core busy. Chunks hold different
lists; rows they share wait for each other's commit (the subject balances, updated last for
that reason; an employer or member in lists of both), and a deadlock between two chunks —
PostgreSQL aborts one of them — only means that chunk is allocated again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from hpf.contributions import service
from hpf.contributions.rules import month_end, parse_month
from hpf.db.engine import read_transaction, write_transaction
from hpf.jobs import finish_job, job_summary, start_job
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict
from hpf.kernel.records import fields_of

JOB = "month_end"
Progress = Callable[[str, int, int], None]
POSTGRES_WORKERS = 2  # concurrent chunk transactions on PostgreSQL (SQLite has one writer)
_DEADLOCK = "40P01"  # SQLSTATE deadlock_detected
_DEADLOCK_RETRIES = 3


@dataclass(frozen=True, slots=True)
class MonthEndSummary:
    """What a month-end run did (stored as the job's summary)."""

    month: str  # YYYY-MM
    lists_allocated: int
    lists_funded: int
    arrears_marked: int

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> MonthEndSummary:
        """The summary a finished run stored."""
        return cls(
            str(stored["month"]),
            int(stored["lists_allocated"]),
            int(stored["lists_funded"]),
            int(stored["arrears_marked"]),
        )


def run_month_end(
    engine: Engine,
    ctx: Context,
    month: str,
    *,
    chunk_size: int = 10_000,
    workers: int | None = None,
    throttle_seconds: float = 0.0,
    progress: Progress | None = None,
) -> MonthEndSummary:
    """Run (or finish) month-end for ``month``; returns the job summary.

    ``workers``: chunks allocated at a time (default: ``POSTGRES_WORKERS`` on PostgreSQL, 1 on
    SQLite, where writers queue anyway).
    """
    month = parse_month(month)
    value_date = month_end(month)
    if ctx.clock.today() < value_date:
        raise Conflict("month_end.too_early", "月末尚未到达，不能月结",
                       f"month-end of {month} runs on or after {value_date}")  # fmt: skip
    with write_transaction(engine) as conn:
        if not start_job(conn, JOB, month, ctx.clock):
            stored = job_summary(conn, JOB, month)
            assert stored is not None, "a done job has its summary (finish_job)"
            return MonthEndSummary.of(stored)
    with read_transaction(engine) as conn:
        funded = service.funded_remittances(conn, through_month=month)
    chunks = [funded[start : start + chunk_size] for start in range(0, len(funded), chunk_size)]
    if workers is None:
        workers = POSTGRES_WORKERS if engine.dialect.name == "postgresql" else 1

    def allocate(ids: Sequence[int]) -> int:
        posted = _allocate_chunk(engine, ctx, ids, value_date)
        if throttle_seconds:
            time.sleep(throttle_seconds)  # operators may slow a daytime run; tests use it to interrupt
        return posted

    posted = done = 0
    if workers <= 1 or len(chunks) <= 1:
        for ids in chunks:
            posted += allocate(ids)
            done += len(ids)
            if progress:
                progress("allocation", done, len(funded))
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="month-end") as pool:
            pending: set[Future[int]] = set()
            sizes: dict[Future[int], int] = {}
            for ids in chunks:
                future = pool.submit(allocate, ids)
                pending.add(future)
                sizes[future] = len(ids)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    error = future.exception()
                    if error is not None:
                        for other in pending:  # chunks not started stay pending for the rerun
                            other.cancel()
                        raise error
                    posted += future.result()
                    done += sizes[future]
                    if progress:
                        progress("allocation", done, len(funded))
    with write_transaction(engine) as conn:
        marked = service.mark_arrears(conn, ctx, month)
        summary = MonthEndSummary(
            month, lists_allocated=posted, lists_funded=len(funded), arrears_marked=marked
        )
        finish_job(conn, JOB, month, ctx, fields_of(summary))
    if progress:
        progress("arrears", 1, 1)
    return summary


def _allocate_chunk(engine: Engine, ctx: Context, ids: Sequence[int], value_date: date) -> int:
    """One chunk in one transaction; a chunk chosen as a deadlock victim is simply run again."""
    attempt = 0
    while True:
        try:
            with write_transaction(engine) as conn:
                return service.allocate_set(conn, ctx, ids, value_date)
        except OperationalError as exc:
            attempt += 1
            if getattr(exc.orig, "sqlstate", None) != _DEADLOCK or attempt > _DEADLOCK_RETRIES:
                raise
