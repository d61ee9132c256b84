"""Key management for a database: which keys it was written with, and rotation of every
protected column (``hpf keys check`` / ``hpf keys rotate``).

``key_check`` stores the public check value of every key id the database has seen. At start the
application compares its ring with it (``verify_ring``): the same key id with other material —
a mistyped or swapped key — is refused before a blind-index lookup silently finds nothing or a
value is written that no one can read. New key ids are recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, Connection, Engine, String, Table, insert, inspect, select

from hpf.db.metadata import UtcDateTime, metadata
from hpf.kernel.errors import HpfError
from hpf.protection.classification import context_of, encrypted_fields
from hpf.protection.crypto import KeyRing, rotate_column

key_check = Table(
    "key_check",
    metadata,
    Column("key_id", String(40), primary_key=True),  # a data key id, or "bidx:{id}"
    Column("check_value", String(16), nullable=False),
    Column("first_seen_at", UtcDateTime(), nullable=False),
)


def verify_ring(conn: Connection, ring: KeyRing) -> list[str]:
    """Refuse a ring whose keys differ from those the database knows; record new ids (returned)."""
    stored = dict(conn.execute(select(key_check.c.key_id, key_check.c.check_value)).all())
    blind = f"bidx:{ring.blind_key_id}"
    known_blind = sorted(k for k in stored if k.startswith("bidx:"))
    if known_blind and blind not in known_blind:
        # Every lookup by ID number or phone would silently find nothing.
        raise HpfError(
            "security.blind_index_changed",
            "检索密钥与数据库记录不符",
            f"this database's blind indexes were written under {known_blind[0][5:]!r}, the ring "
            f"has {ring.blind_key_id!r}; configure the original HPF_BLIND_INDEX_KEY",
            status=500,
        )
    new = []
    for key_id, value in ring.key_check_values().items():
        known = stored.get(key_id)
        if known is None:
            new.append(key_id)
        elif known != value:
            raise HpfError(
                "security.key_mismatch",
                "密钥与数据库记录不符",
                f"key {key_id!r} is not the key this database was written with (check value "
                f"{value} ≠ stored {known}); restore the right key material",
                status=500,
            )
    if new:
        now = datetime.now(UTC)
        conn.execute(
            insert(key_check),
            [{"key_id": k, "check_value": ring.key_check_values()[k], "first_seen_at": now} for k in new],
        )
    return new


def verify_engine(engine: Engine, ring: KeyRing) -> list[str]:
    """``verify_ring`` in its own transaction; nothing to check before the first migration."""
    if not inspect(engine).has_table("key_check"):
        return []
    with engine.begin() as conn:
        return verify_ring(conn, ring)


@dataclass(frozen=True)
class Rotated:
    column: str  # "table.column"
    rows: int


def rotate_all(conn: Connection, ring: KeyRing, *, batch: int = 10_000) -> list[Rotated]:
    """Re-encrypt every protected column under the ring's active key, committing each batch.

    ``conn`` must be in commit-as-you-go mode (not inside ``begin()``): an interrupted rotation
    loses at most one batch, and running it again finishes the job.
    """
    done = []
    for field in encrypted_fields():
        rows = rotate_column(
            conn, field.table, "id", field.column, context_of(field), ring, batch, commit=True
        )
        done.append(Rotated(f"{field.table}.{field.column}", rows))
    return done


def stale_tokens(conn: Connection, ring: KeyRing) -> dict[str, int]:
    """Per protected column, how many values are not under the active key."""
    from sqlalchemy import column, func, table

    prefix = ring.active_key_id + ":"
    out = {}
    for field in encrypted_fields():
        target = table(field.table, column(field.column))
        token = target.c[field.column]
        out[f"{field.table}.{field.column}"] = int(
            conn.scalar(
                select(func.count())
                .select_from(target)
                .where(token.is_not(None), func.substr(token, 1, len(prefix)) != prefix)
            )
            or 0
        )
    return out
