"""Batch job runs: one row per (job, period), so a job is restartable and idempotent per period.

A job marks itself ``running`` when it starts and ``done`` when it finishes; each of its steps
is idempotent on its own (ledger idempotency keys), so a run killed midway is simply run again.
Finishing records the run's one business event, ``batch_job.finished`` with the job's summary:
batch jobs summarise the many rows they move in one event rather than one per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from sqlalchemy import JSON, Column, Connection, Integer, String, Table, insert, select, update

from hpf import events
from hpf.db.metadata import UtcDateTime, metadata
from hpf.kernel.clock import Clock
from hpf.kernel.context import Context

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"
"""A value of a JSON document."""

JobSummary: TypeAlias = dict[str, JSONValue]
"""What a run did, as its job writes it (``batch_job.summary``, the ``batch_job.finished`` event):
a JSON document whose keys each job documents; a job asked again for a finished period answers
the stored summary with ``already_done``."""

batch_job = Table(
    "batch_job",
    metadata,
    Column("job", String(40), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("state", String(10), nullable=False),  # running | done
    Column("runs", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("summary", JSON),
)


def job_state(conn: Connection, job: str, period: str) -> str | None:
    return conn.scalar(select(batch_job.c.state).where(batch_job.c.job == job, batch_job.c.period == period))


def start_job(conn: Connection, job: str, period: str, clock: Clock) -> bool:
    """Record a run; False when the (job, period) is already done (nothing to do)."""
    state = job_state(conn, job, period)
    if state == "done":
        return False
    if state is None:
        conn.execute(
            insert(batch_job).values(job=job, period=period, state="running", runs=1, started_at=clock.now())
        )
    else:
        conn.execute(
            update(batch_job)
            .where(batch_job.c.job == job, batch_job.c.period == period)
            .values(runs=batch_job.c.runs + 1, started_at=clock.now())
        )
    return True


def finish_job(conn: Connection, job: str, period: str, ctx: Context, summary: Mapping[str, Any]) -> None:
    """Mark the run done with its summary, and record it as the run's business event."""
    conn.execute(
        update(batch_job)
        .where(batch_job.c.job == job, batch_job.c.period == period)
        .values(state="done", finished_at=ctx.clock.now(), summary=dict(summary))
    )
    events.record(
        conn,
        ctx,
        "batch_job.finished",
        "batch_job",
        f"{job}/{period}",
        {"job": job, "period": period, "summary": dict(summary)},
    )


def job_summary(conn: Connection, job: str, period: str) -> JobSummary | None:
    row = conn.execute(
        select(batch_job.c.summary).where(batch_job.c.job == job, batch_job.c.period == period)
    ).first()
    return None if row is None else row[0]
