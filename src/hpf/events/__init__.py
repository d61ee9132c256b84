"""Business events: every state change of a business object, as one row in its transaction.

A use case that changes a business object — a member opened, a remittance allocated, a payment
order paid, a loan activated, an approval decided — calls :func:`record` once, in its own
transaction: the row (type, object, payload, business date, wall time, actor) commits or rolls
back with the change. Set-based writers record the events of a chunk of objects in one
``INSERT … SELECT`` (:func:`record_set`); batch jobs record one summary event per run
(``batch_job.finished``, from ``hpf.jobs.finish_job``).

Two kinds of readers:

- **listeners** (``listeners.py``) run in the writer's transaction for the types they hear;
  they replace the registries of callbacks a lower package used to call up into. The set is
  declared once, in ``hpf.bootstrap``;
- **consumers** (``consumers.py``) read the stream after the fact, in order, exactly once each,
  committing their cursor with their effect: the outbox of messages that leave the process.

This package is low level: it imports only ``hpf.db`` and ``hpf.kernel``.
"""

from hpf.events.consumers import consume, consume_batch, cursor_of, settled_horizon
from hpf.events.listeners import Event, Listener, hears, install, installed, listening
from hpf.events.service import events_of, events_since, json_of, jsonable, record, record_many, record_set

__all__ = [
    "Event",
    "Listener",
    "consume",
    "consume_batch",
    "cursor_of",
    "events_of",
    "events_since",
    "hears",
    "install",
    "installed",
    "json_of",
    "jsonable",
    "listening",
    "record",
    "record_many",
    "record_set",
    "settled_horizon",
]
