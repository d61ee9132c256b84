"""The center's side of the hub: the centers it knows, and every message it sent or received.

``peer_center``: the other centers as the hub's BDC909 lookup described them (code, name,
province, state, public keys), refreshed by each answer. ``exchanged_message``: one row per
message, both directions — ``out`` rows are the outbox's payload (the sealed, signed envelope
written in the business change's transaction, with its ``hub_message.queued`` event; the delivery
consumer makes it due, the worker sends it), ``in`` rows the inbox (one per message id:
de-duplication). Bodies stay sealed as they travelled: an ``out`` body to its recipient, an ``in``
body to this center.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table

from hpf.db.metadata import UtcDateTime, metadata

peer_center = Table(
    "peer_center",
    metadata,
    Column("code", String(6), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("province", String(20), nullable=False),
    Column("state", String(10), nullable=False),  # active | suspended (as the hub said)
    Column("sign_key", String(128), nullable=False),
    Column("encrypt_key", String(128), nullable=False),
    Column("looked_up_at", UtcDateTime(), nullable=False),
)

exchanged_message = Table(
    "exchanged_message",
    metadata,
    Column("message_id", String(36), primary_key=True),
    Column("direction", String(3), nullable=False),  # out | in
    Column("type", String(6), nullable=False),
    Column("peer", String(6), nullable=False),  # the recipient (out) or the originator (in)
    Column("reply_to", String(36)),
    Column("created_at", UtcDateTime(), nullable=False),  # the envelope's
    Column("digest", String(64), nullable=False),
    Column("envelope", JSON, nullable=False),
    # out: recorded → queued → delivered | refused; in: handled
    Column("state", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_error", String(300)),
    Column("delivered_at", UtcDateTime()),  # out: accepted by the hub; in: received
    Column("answered_by", String(36)),  # out: the answer that came back
    Index(None, "state", "next_attempt_at"),
    Index(None, "reply_to"),
)
