"""The audit log (G3): every read of personal data and every change, hash-chained with SM3.

Each row says who (actor, role), for which center, when (``recorded_at`` aware UTC and the
business date), from where (source IP, channel), what (action, object type and id), why
(purpose) and with what outcome (``ok``/``denied``/``error``), plus a small JSON detail.

**Chain.** Row ids are a dense sequence 1, 2, 3, … assigned here, not by the database (a
PostgreSQL sequence leaves gaps on rollback, which would look like deleted rows). Each row
stores ``prev_hash`` (the previous row's hash; 64 zeros for row 1) and
``hash = SM3(prev_hash || "\\n" || canonical JSON of the row's fields)``. The one-row table
``audit_head`` holds the last id and hash. ``append`` locks that row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite serialises writers anyway), chains the new rows from it and moves it
forward in the caller's transaction, so the chain is strictly ordered on both engines and a
rolled-back transaction takes its audit rows and the head move with it. The process remembers
the head it last moved to; the next append chains from it and moves the head only *from* it
(one UPDATE whose WHERE names the old id and hash, which takes the same row lock). If another
process appended meanwhile, or that transaction rolled back, no row matches and the head is
read and locked as above: the remembered head only saves the read (decision 0047).

``verify`` streams the log in id order and reports the first problem: a row whose hash does not
match its content (altered), an id gap (deleted), a row whose ``prev_hash`` is not its
predecessor's hash (altered and re-hashed, or forged), or a head that disagrees with the last
row (last rows deleted, rows appended behind the application's back).

An unkeyed hash chain proves integrity against anyone who cannot also rewrite every later row
*and* the head. Against a database administrator who can, anchor the head elsewhere: print
``head()`` in the daily report, send it to the hub, or sign it with SM2.

**Bulk reads.** ``append_many`` writes one row per object read (a search showing 50 members is
50 rows, chained under one lock, written with one executemany). One row per member keeps
``object_id`` a scalar, indexed by (object_type, object_id), so "who has seen this member's
data" (PIPL art. 45 requests, internal investigations) is one indexed query, and the cost is
small (~30 µs a row on SQLite, hashing included; ``verify`` checks ~23 µs a row). An *export*
is the exception: one ``export`` row with the filter, row count and file digest in ``detail``,
not one row per exported member.

**Usage notes for callers.** Append in a write transaction (``write_transaction``; on SQLite a
deferred transaction that read first cannot take the write lock once another writer committed)
and make the append the transaction's last statement: the head lock is then held only for the
commit, and no lock-order cycle with business rows can form. Record ``denied`` and ``error``
outcomes in a transaction of their own, since the business transaction rolls back.

Append-only enforcement is in the database: ``append_only_ddl`` gives the trigger statements
for the migration (UPDATE/DELETE/TRUNCATE refused on ``audit_log``; ``audit_head`` only moves
forward and cannot be deleted).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Date,
    Engine,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.kernel.clock import Clock
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.findings import Finding

GENESIS_HASH = "0" * 64
OUTCOMES = ("ok", "denied", "error")
MAX_DETAIL_CHARS = 4000

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),  # dense chain position, from audit_head
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(40), nullable=False),
    Column("center_code", String(12), nullable=False),
    Column("source_ip", String(45)),  # IPv6 text at most 45 characters
    Column("channel", String(10), nullable=False),  # api, page, cli, sim (Context.source)
    Column("action", String(40), nullable=False),  # member.read, member.seal, member.unmask, export
    Column("object_type", String(40), nullable=False),
    Column("object_id", String(64)),
    Column("purpose", String(200), nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("detail", JSON(none_as_null=True)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("outcome IN ('ok', 'denied', 'error')", name="outcome"),
    Index(None, "object_type", "object_id", "id"),
    Index(None, "actor", "id"),
    Index(None, "actor", "recorded_at"),  # alert windows (hpf.disclosure.alerts)
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

INITIAL_HEAD = {"id": 1, "last_id": 0, "last_hash": GENESIS_HASH}

_HASHED = (
    "id",
    "recorded_at",
    "business_date",
    "actor",
    "role",
    "center_code",
    "source_ip",
    "channel",
    "action",
    "object_type",
    "object_id",
    "purpose",
    "outcome",
    "detail",
)
_LIMITS: dict[str, int] = {
    name: int(getattr(audit_log.c[name].type, "length", 0))
    for name in (
        "actor",
        "role",
        "center_code",
        "source_ip",
        "channel",
        "action",
        "object_type",
        "object_id",
        "purpose",
    )
}


class AuditContext(Protocol):
    """What ``append`` needs of a ``hpf.kernel.context.Context``."""

    @property
    def actor(self) -> str: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def center_code(self) -> str: ...
    @property
    def source(self) -> str: ...


# What ``verify`` can find (the findings' codes) — ``altered``: content does not match its hash;
# ``deleted``: rows missing (an id gap, or the head names rows that are gone); ``inserted``: rows
# the head does not know, or a forged id; ``chain_break``: ``prev_hash`` is not the previous
# row's hash (that row altered and re-hashed, or this one forged); ``head_missing``.
TITLES_ZH = {
    "altered": "审计记录被篡改",
    "deleted": "审计记录被删除",
    "inserted": "审计记录被插入",
    "chain_break": "审计哈希链断裂",
    "head_missing": "审计链头缺失",
}


def _finding(kind: str, row_id: int | None, detail: str) -> Finding:
    """The first problem ``verify`` found; subject ``row N`` (the first row concerned) or
    ``audit_head``, and ``details["row_id"]``."""
    subject = f"row {row_id}" if row_id is not None else "audit_head"
    return Finding(kind, TITLES_ZH[kind], detail, subject=subject, details={"row_id": row_id})


def _sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value (SQLite reads back) is UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _canonical(value: Any) -> str:
    return _CANONICAL.encode(value)


def row_hash(prev_hash: str, fields: Mapping[Any, Any]) -> str:
    """SM3(prev_hash || "\\n" || canonical JSON of the hashed fields) as 64 hex characters."""
    payload = {name: fields[name] for name in _HASHED}
    payload["recorded_at"] = _utc(fields["recorded_at"]).isoformat(timespec="microseconds")
    business_date = fields["business_date"]
    payload["business_date"] = (
        business_date.isoformat() if isinstance(business_date, date) else str(business_date)
    )
    return _sm3_hex(f"{prev_hash}\n{_canonical(payload)}".encode())


def _invalid(detail: str) -> InvalidInput:
    return InvalidInput("audit.invalid", "审计记录不合法", detail)


def _normalise_detail(detail: Mapping[str, Any] | None) -> Any:
    if detail is None:
        return None
    try:
        text = json.dumps(
            detail, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str
        )
    except ValueError as exc:
        raise _invalid(f"detail is not JSON: {exc}") from exc
    if len(text) > MAX_DETAIL_CHARS:
        raise _invalid(f"detail is {len(text)} characters; keep it under {MAX_DETAIL_CHARS}")
    return json.loads(text)


# Built once: every change made over HTTP appends a row, and building a Core statement and its
# cache key costs more than SQLite's own work for these.
_HEAD = select(audit_head.c.last_id, audit_head.c.last_hash).where(audit_head.c.id == 1).with_for_update()
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(last_id=bindparam("new_last_id"), last_hash=bindparam("new_last_hash"))
)
_MOVE_HEAD_FROM = (
    update(audit_head)
    .where(
        audit_head.c.id == 1,
        audit_head.c.last_id == bindparam("old_last_id"),
        audit_head.c.last_hash == bindparam("old_last_hash"),
    )
    .values(last_id=bindparam("new_last_id"), last_hash=bindparam("new_last_hash"))
)
_APPEND = insert(audit_log)
# The head each engine's appends last moved to (not necessarily committed): a guess that the
# conditional move checks, never trusted alone.
_last_moved: weakref.WeakKeyDictionary[Any, tuple[int, str]] = weakref.WeakKeyDictionary()


def _lock_head(conn: Connection) -> tuple[int, str]:
    query = _HEAD
    row = conn.execute(query).first()
    if row is None:
        # First append ever (the migration normally seeds the head). Concurrent first appenders
        # race here: ON CONFLICT lets one insert and the others wait for it, then lock its row.
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        seed = dialect.insert(audit_head).values(**INITIAL_HEAD).on_conflict_do_nothing()
        created = conn.execute(seed.returning(audit_head.c.id)).first() is not None
        if created and conn.scalar(select(func.max(audit_log.c.id))) is not None:
            raise HpfError(
                "security.audit_head_missing",
                "审计链头缺失",
                "audit_log has rows but audit_head is missing; run hpf audit verify",
                status=500,
            )
        row = conn.execute(query).one()
    return int(row.last_id), str(row.last_hash)


def append_many(
    conn: Connection,
    ctx: AuditContext,
    *,
    role: str,
    source_ip: str | None,
    action: str,
    object_type: str,
    object_ids: Sequence[str | int | None],
    purpose: str,
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
) -> list[int]:
    """One chained row per object id (same who/when/why), under one head lock; their ids."""
    if outcome not in OUTCOMES:
        raise _invalid(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    if not purpose.strip():
        raise _invalid("purpose is required: say why the data is read or changed")
    if not object_ids:
        return []
    common: dict[str, Any] = {
        "recorded_at": _utc(ctx.clock.now()),
        "business_date": ctx.clock.today(),
        "actor": ctx.actor,
        "role": role,
        "center_code": ctx.center_code,
        "source_ip": source_ip,
        "channel": ctx.source,
        "action": action,
        "object_type": object_type,
        "purpose": purpose,
        "outcome": outcome,
        "detail": _normalise_detail(detail),
    }
    ids = [None if object_id is None else str(object_id) for object_id in object_ids]
    for name, limit in _LIMITS.items():
        values = ids if name == "object_id" else [common[name]]
        for value in values:
            if value is not None and len(value) > limit:
                raise _invalid(f"{name} is longer than {limit} characters: {value[:40]!r}…")
    guess = _last_moved.get(conn.engine)
    rows: list[dict[str, Any]] = []
    if guess is not None:
        rows = _chained(common, ids, *guess)
        moved = conn.execute(_MOVE_HEAD_FROM, {
            "old_last_id": guess[0], "old_last_hash": guess[1],
            "new_last_id": rows[-1]["id"], "new_last_hash": rows[-1]["hash"],
        })  # fmt: skip
        if moved.rowcount != 1:
            rows = []
    if not rows:
        rows = _chained(common, ids, *_lock_head(conn))
        conn.execute(_MOVE_HEAD, {"new_last_id": rows[-1]["id"], "new_last_hash": rows[-1]["hash"]})
    conn.execute(_APPEND, rows)
    _last_moved[conn.engine] = (rows[-1]["id"], rows[-1]["hash"])
    return [row["id"] for row in rows]


def _chained(
    common: Mapping[str, Any], ids: Sequence[str | None], last_id: int, last_hash: str
) -> list[dict[str, Any]]:
    """The rows of ``ids`` chained after the row ``last_id`` whose hash is ``last_hash``."""
    rows = []
    for object_id in ids:
        last_id += 1
        row = {**common, "id": last_id, "object_id": object_id, "prev_hash": last_hash}
        last_hash = row_hash(last_hash, row)
        row["hash"] = last_hash
        rows.append(row)
    return rows


def append(
    conn: Connection,
    ctx: AuditContext,
    *,
    role: str,
    source_ip: str | None,
    action: str,
    object_type: str,
    object_id: str | int | None,
    purpose: str,
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one chained row in the caller's transaction; its id."""
    (row_id,) = append_many(
        conn,
        ctx,
        role=role,
        source_ip=source_ip,
        action=action,
        object_type=object_type,
        object_ids=[object_id],
        purpose=purpose,
        outcome=outcome,
        detail=detail,
    )
    return row_id


def head(conn: Connection) -> tuple[int, str] | None:
    """(last id, last hash): the value to anchor outside the database."""
    row = conn.execute(
        select(audit_head.c.last_id, audit_head.c.last_hash).where(audit_head.c.id == 1)
    ).first()
    return None if row is None else (int(row.last_id), str(row.last_hash))


def verify(conn: Connection, *, batch: int = 10_000) -> list[Finding]:
    """The first problem in the chain (empty list when intact); streams ``batch`` rows at a time.

    Run it inside one transaction that sees a single snapshot (``verify_database`` does:
    REPEATABLE READ on PostgreSQL), or rows appended meanwhile look like insertions.
    """
    stored_head = head(conn)
    columns = [audit_log.c[name] for name in (*_HASHED, "prev_hash", "hash")]
    expected_id = 1
    prev = GENESIS_HASH
    after = 0
    while True:
        query = select(*columns).where(audit_log.c.id > after) if after else select(*columns)
        rows = conn.execute(query.order_by(audit_log.c.id).limit(batch)).mappings().all()
        if not rows:
            break
        for row in rows:
            row_id = int(row["id"])
            if row_id < expected_id:
                return [
                    _finding("inserted", row_id, f"row id {row_id} is outside the chain (ids start at 1)")
                ]
            if row_id > expected_id:
                missing = f"{expected_id}" if row_id == expected_id + 1 else f"{expected_id}–{row_id - 1}"
                return [_finding("deleted", expected_id, f"row(s) {missing} missing before row {row_id}")]
            if row_hash(row["prev_hash"], row) != row["hash"]:
                return [_finding("altered", row_id, f"row {row_id}'s content does not match its hash")]
            if row["prev_hash"] != prev:
                return [
                    _finding(
                        "chain_break",
                        row_id,
                        f"row {row_id}'s prev_hash is not row {row_id - 1}'s hash "
                        f"(row {row_id - 1} altered and re-hashed, or row {row_id} forged)",
                    )
                ]
            prev = row["hash"]
            expected_id += 1
        after = int(rows[-1]["id"])
    last = expected_id - 1
    if stored_head is None:
        if last:
            return [_finding("head_missing", None, f"audit_head is missing while the log has {last} rows")]
        return []
    head_id, head_hash = stored_head
    if head_id > last:
        return [
            _finding(
                "deleted", last + 1, f"audit_head says the last row is {head_id}; the log ends at {last}"
            )
        ]
    if head_id < last:
        return [
            _finding(
                "inserted", head_id + 1, f"rows {head_id + 1}–{last} were appended without moving audit_head"
            )
        ]
    if head_hash != prev:
        return [
            _finding(
                "altered", last or None, "the last row's hash differs from audit_head (replaced or re-hashed)"
            )
        ]
    return []


def verify_database(engine: Engine, *, batch: int = 10_000) -> list[Finding]:
    """``verify`` in one consistent snapshot (what ``hpf audit verify`` runs)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            return verify(conn, batch=batch)
    with engine.connect() as conn, conn.begin():
        return verify(conn, batch=batch)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A row of the audit log: who did what to which object, when, why, and its place in the chain."""

    id: int
    recorded_at: datetime
    business_date: date
    actor: str
    role: str
    center_code: str
    source_ip: str | None
    channel: str  # api, page, cli, sim
    action: str  # member.read, member.seal, member.unmask, export …
    object_type: str
    object_id: str | None
    purpose: str
    outcome: str  # ok | denied | error
    detail: Mapping[str, Any] | None
    prev_hash: str
    hash: str


def accesses_of(
    conn: Connection, object_type: str, object_id: str | int, *, limit: int = 200
) -> list[AuditEntry]:
    """The latest audit rows about one object (who read or changed this member), newest first."""
    query = (
        select(audit_log)
        .where(audit_log.c.object_type == object_type, audit_log.c.object_id == str(object_id))
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    )
    return [_entry_of(r) for r in conn.execute(query).mappings()]


def _entry_of(r: Mapping[Any, Any]) -> AuditEntry:
    return AuditEntry(
        id=r["id"], recorded_at=r["recorded_at"], business_date=r["business_date"], actor=r["actor"],
        role=r["role"], center_code=r["center_code"], source_ip=r["source_ip"], channel=r["channel"],
        action=r["action"], object_type=r["object_type"], object_id=r["object_id"], purpose=r["purpose"],
        outcome=r["outcome"], detail=r["detail"], prev_hash=r["prev_hash"], hash=r["hash"],
    )  # fmt: skip


_PG_REFUSE = (
    "CREATE OR REPLACE FUNCTION hpf_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION USING MESSAGE = 'the audit log is append-only (' || TG_OP || ' on ' "
    "|| TG_TABLE_NAME || ')'; END $$"
)
_PG_HEAD = (
    "CREATE OR REPLACE FUNCTION hpf_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.last_id <= OLD.last_id THEN "
    "RAISE EXCEPTION 'audit_head only moves forward'; END IF; RETURN NEW; END $$"
)


def append_only_ddl(dialect_name: str) -> list[str]:
    """Trigger DDL making ``audit_log`` append-only and ``audit_head`` forward-only (idempotent).

    The statements hold no ``%`` and no ``:name``, so they run unchanged through Alembic's
    ``op.execute``, ``text()`` or ``exec_driver_sql``.
    """
    if dialect_name == "postgresql":
        return [
            _PG_REFUSE,
            _PG_HEAD,
            "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION hpf_audit_refuse_change()",
            "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION hpf_audit_refuse_change()",
            "CREATE OR REPLACE TRIGGER audit_head_forward BEFORE UPDATE OR DELETE ON audit_head "
            "FOR EACH ROW EXECUTE FUNCTION hpf_audit_head_forward()",
            "CREATE OR REPLACE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION hpf_audit_refuse_change()",
        ]
    if dialect_name == "sqlite":
        return [
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only (UPDATE on audit_log)'); END",
            "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only (DELETE on audit_log)'); END",
            "CREATE TRIGGER IF NOT EXISTS audit_head_forward BEFORE UPDATE ON audit_head "
            "WHEN NEW.id <> OLD.id OR NEW.last_id <= OLD.last_id "
            "BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END",
            "CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head "
            "BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END",
        ]
    raise ValueError(f"no append-only DDL for dialect {dialect_name!r}")


def drop_append_only_ddl(dialect_name: str) -> list[str]:
    """The inverse of ``append_only_ddl`` (migration downgrade)."""
    if dialect_name == "postgresql":
        return [
            "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
            "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
            "DROP TRIGGER IF EXISTS audit_head_forward ON audit_head",
            "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
            "DROP FUNCTION IF EXISTS hpf_audit_head_forward()",
            "DROP FUNCTION IF EXISTS hpf_audit_refuse_change()",
        ]
    if dialect_name == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {name}"
            for name in (
                "audit_log_no_update",
                "audit_log_no_delete",
                "audit_head_forward",
                "audit_head_no_delete",
            )
        ]
    raise ValueError(f"no append-only DDL for dialect {dialect_name!r}")
