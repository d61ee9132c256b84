"""The month-end job for the whole center: allocate every funded list, then mark arrears.

Restartable and idempotent per (job, month): lists are allocated in chunks, each chunk in its
own transaction, each list under the ledger key ``alloc:<id>``; a run killed midway is run
again and carries on where the committed chunks end; a finished month is not run twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from hpf.contributions import service
from hpf.contributions.rules import month_end, parse_month
from hpf.db.engine import read_transaction, write_transaction
from hpf.db.jobs import finish_job, job_summary, start_job
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict

JOB = "month_end"
Progress = Callable[[str, int, int], None]


def run_month_end(
    engine: Engine,
    ctx: Context,
    month: str,
    *,
    chunk_size: int = 10_000,
    throttle_seconds: float = 0.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run (or finish) month-end for ``month``; returns the job summary."""
    month = parse_month(month)
    value_date = month_end(month)
    if ctx.clock.today() < value_date:
        raise Conflict("month_end.too_early", "月末尚未到达，不能月结",
                       f"month-end of {month} runs on or after {value_date}")  # fmt: skip
    with write_transaction(engine) as conn:
        if not start_job(conn, JOB, month, ctx.clock):
            return job_summary(conn, JOB, month) or {}
    with read_transaction(engine) as conn:
        funded = service.funded_remittances(conn, through_month=month)
    posted = 0
    for start in range(0, len(funded), chunk_size):
        with write_transaction(engine) as conn:
            posted += service.allocate_set(conn, ctx, funded[start : start + chunk_size], value_date)
        if progress:
            progress("allocation", min(start + chunk_size, len(funded)), len(funded))
        if throttle_seconds:
            time.sleep(throttle_seconds)  # operators may slow a daytime run; tests use it to interrupt
    with write_transaction(engine) as conn:
        marked = service.mark_arrears(conn, ctx, month)
        summary = {
            "month": month,
            "lists_allocated": posted,
            "lists_funded": len(funded),
            "arrears_marked": marked,
        }
        finish_job(conn, JOB, month, ctx.clock, summary)
    if progress:
        progress("arrears", 1, 1)
    return summary
