"""The business event stream and the cursors of its consumers.

``business_event``: one row per state change of a business object, written in the transaction
that made the change. ``event_cursor``: for each consumer, the last event it has processed
(advanced in the transaction of the consumer's effect, so each event has its effect once).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, Index, String, Table

from hpf.db.metadata import Id, UtcDateTime, metadata

business_event = Table(
    "business_event",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),  # the stream's order
    Column("type", String(60), nullable=False),  # "<object kind>.<what happened>": payment_order.paid
    Column("object_kind", String(30), nullable=False),  # member, loan, payment_order, batch_job …
    Column("object_id", String(40), nullable=False),
    Column("payload", JSON, nullable=False),  # ids, codes, states, amounts, dates: no personal data in clear
    Column("business_date", Date, nullable=False),  # the business date of the change
    Column("recorded_at", UtcDateTime(), nullable=False),  # wall time, audit only
    Column("actor", String(64), nullable=False),
    Column("source", String(10), nullable=False),  # api, page, cli, sim, test …
    Index(None, "type", "id"),
    Index(None, "object_kind", "object_id", "id"),
)

event_cursor = Table(
    "event_cursor",
    metadata,
    Column("consumer", String(60), primary_key=True),  # hub.delivery, supervision.report …
    Column("last_event_id", BigInteger, nullable=False),  # every event up to it is processed
    Column("updated_at", UtcDateTime(), nullable=False),
)
