"""The SM3 hash-chained audit log: append, verify, and detection of every kind of tampering."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, delete, exc, insert, select, text, update

from hpf.audit.trail import (
    GENESIS_HASH,
    accesses_of,
    append,
    append_many,
    append_only_ddl,
    audit_head,
    audit_log,
    drop_append_only_ddl,
    head,
    row_hash,
    verify,
    verify_database,
)
from hpf.db.engine import make_engine, write_transaction, writer_connection
from hpf.kernel.errors import HpfError, InvalidInput


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The migrated engine: migration 0002 creates the audit tables, head row and triggers."""
    return engine


def read(conn, ctx, member_id, purpose="窗口业务办理", **overrides):
    kwargs = {
        "role": "clerk",
        "source_ip": "10.0.0.8",
        "action": "member.read",
        "object_type": "member",
        "object_id": member_id,
        "purpose": purpose,
        "detail": {"fields": ["resident_id", "phone"], "备注": "查询"},
    }
    kwargs.update(overrides)
    return append(conn, ctx, **kwargs)


def five(db, ctx) -> list[int]:
    with write_transaction(db) as conn:
        return [read(conn, ctx, member_id) for member_id in (11, 12, 13, 14, 15)]


def tamper(db, *statements):
    """A privileged hand (triggers dropped, as a DBA could) runs raw statements."""
    with db.begin() as conn:
        for ddl in drop_append_only_ddl(db.dialect.name):
            conn.execute(text(ddl))
        for statement in statements:
            conn.execute(statement)


def check(db, batch=10_000):
    with db.connect() as conn, conn.begin():
        return verify(conn, batch=batch)


def test_append_five_and_verify(db, ctx):
    assert five(db, ctx) == [1, 2, 3, 4, 5]
    assert check(db) == []
    assert check(db, batch=2) == []
    assert verify_database(db) == []
    with db.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings().all()
        assert head(conn) == (5, rows[-1]["hash"])
    assert rows[0]["prev_hash"] == GENESIS_HASH
    assert all(rows[i]["prev_hash"] == rows[i - 1]["hash"] for i in range(1, 5))
    first = rows[0]
    assert (first["actor"], first["role"], first["center_code"], first["channel"]) == (
        "tester",
        "clerk",
        "990001",
        "test",
    )
    assert (first["action"], first["object_type"], first["object_id"], first["outcome"]) == (
        "member.read",
        "member",
        "11",
        "ok",
    )
    assert first["business_date"] == date(2025, 3, 15)
    assert first["detail"] == {"fields": ["resident_id", "phone"], "备注": "查询"}
    assert row_hash(first["prev_hash"], first) == first["hash"]


def test_empty_log_verifies(db):
    assert check(db) == []


def test_altered_row_is_named(db, ctx):
    five(db, ctx)
    tamper(db, update(audit_log).where(audit_log.c.id == 3).values(purpose="无"))
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("altered", "row 3")
    assert finding.message_zh == "审计记录被篡改" and finding.details == {"row_id": 3}
    assert "row 3" in str(finding)


@pytest.mark.parametrize("column", ["recorded_at", "object_id", "outcome", "detail", "actor"])
def test_any_altered_field_is_detected(db, ctx, column):
    five(db, ctx)
    new = {
        "recorded_at": datetime(2020, 1, 1, tzinfo=UTC),
        "object_id": "99",
        "outcome": "denied",
        "detail": {"fields": []},
        "actor": "someone",
    }[column]
    tamper(db, update(audit_log).where(audit_log.c.id == 2).values({column: new}))
    (finding,) = check(db, batch=2)
    assert (finding.code, finding.subject) == ("altered", "row 2")


def test_altered_and_rehashed_row_breaks_the_chain(db, ctx):
    five(db, ctx)
    with db.connect() as conn:
        row = dict(conn.execute(select(audit_log).where(audit_log.c.id == 2)).mappings().one())
    row["purpose"] = "无"
    tamper(
        db,
        update(audit_log)
        .where(audit_log.c.id == 2)
        .values(purpose="无", hash=row_hash(row["prev_hash"], row)),
    )
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("chain_break", "row 3")


def test_deleted_middle_row_is_detected(db, ctx):
    five(db, ctx)
    tamper(db, delete(audit_log).where(audit_log.c.id == 3))
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("deleted", "row 3")


def test_deleted_last_row_is_detected_by_the_head(db, ctx):
    five(db, ctx)
    tamper(db, delete(audit_log).where(audit_log.c.id == 5))
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("deleted", "row 5")


def test_deleted_everything_is_detected_by_the_head(db, ctx):
    five(db, ctx)
    tamper(db, delete(audit_log))
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("deleted", "row 1")


def forged(db, prev_hash: str, row_id: int) -> dict:
    with db.connect() as conn:
        row = dict(conn.execute(select(audit_log).where(audit_log.c.id == 1)).mappings().one())
    row.update(id=row_id, object_id="42", purpose="伪造", prev_hash=prev_hash)
    row["hash"] = row_hash(prev_hash, row)
    return row


def test_forged_row_with_a_valid_hash_is_detected_by_the_head(db, ctx):
    five(db, ctx)
    with db.connect() as conn:
        last_hash = head(conn)[1]
    tamper(db, insert(audit_log).values(forged(db, last_hash, 6)))
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("inserted", "row 6")


def test_forged_row_out_of_chain_is_detected(db, ctx):
    five(db, ctx)
    tamper(db, insert(audit_log).values(forged(db, "f" * 64, 6)))
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("chain_break", "row 6")


def test_forged_row_with_a_skipped_id_is_detected(db, ctx):
    five(db, ctx)
    tamper(db, insert(audit_log).values(forged(db, "f" * 64, 9)))
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("deleted", "row 6")


def test_forged_row_before_the_chain_is_detected(db, ctx):
    five(db, ctx)
    tamper(db, insert(audit_log).values(forged(db, GENESIS_HASH, 0)))
    (finding,) = check(db)
    assert (finding.code, finding.subject) == ("inserted", "row 0")


def test_missing_head_is_detected_and_blocks_appending(db, ctx):
    five(db, ctx)
    tamper(db, delete(audit_head))
    (finding,) = check(db)
    assert finding.code == "head_missing" and finding.subject == "audit_head"
    with write_transaction(db) as conn, pytest.raises(HpfError) as refused:
        read(conn, ctx, 16)
    assert refused.value.code == "security.audit_head_missing"


def test_rolled_back_append_leaves_no_gap(db, ctx):
    five(db, ctx)
    with writer_connection(db) as conn:
        transaction = conn.begin()
        assert read(conn, ctx, 16) == 6
        transaction.rollback()  # the business change failed
    with write_transaction(db) as conn:
        assert read(conn, ctx, 17) == 6
    assert check(db) == []


def test_the_remembered_head_is_checked_not_trusted(db, ctx):
    """An engine remembers the head it moved to and moves it only from there. Another process
    (another engine on the same database) appending meanwhile, or a transaction rolled back,
    makes that guess wrong: the head is then read, and the chain stays whole and dense."""
    assert five(db, ctx) == [1, 2, 3, 4, 5]  # this engine now remembers row 5
    other = make_engine(db.url.render_as_string(hide_password=False))
    try:
        with write_transaction(other) as conn:
            assert read(conn, ctx, 21) == 6  # behind this engine's back
    finally:
        other.dispose()
    with write_transaction(db) as conn:
        assert read(conn, ctx, 16) == 7  # not 6 again: the guess (row 5) no longer matches
    with writer_connection(db) as conn:
        transaction = conn.begin()
        assert read(conn, ctx, 17) == 8  # remembered, then rolled back
        transaction.rollback()
    with write_transaction(db) as conn:
        assert read(conn, ctx, 18) == 8
    assert check(db) == []
    with db.connect() as conn:
        assert head(conn) == (8, conn.scalar(select(audit_log.c.hash).where(audit_log.c.id == 8)))


def test_append_many_one_row_per_object(db, ctx):
    with write_transaction(db) as conn:
        ids = append_many(
            conn,
            ctx,
            role="clerk",
            source_ip=None,
            action="member.read",
            object_type="member",
            object_ids=list(range(100, 150)),
            purpose="查询结果列表",
            detail={"query": "name=张*", "on": date(2025, 3, 1)},
        )
        assert (
            append_many(
                conn,
                ctx,
                role="clerk",
                source_ip=None,
                action="member.read",
                object_type="member",
                object_ids=[],
                purpose="空结果",
            )
            == []
        )
        read(conn, ctx, 120, purpose="复核")
    assert ids == list(range(1, 51))
    assert check(db, batch=7) == []
    with db.connect() as conn:
        seen = accesses_of(conn, "member", 120)
    assert [r.purpose for r in seen] == ["复核", "查询结果列表"]
    assert seen[1].detail == {"query": "name=张*", "on": "2025-03-01"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"outcome": "maybe"},
        {"purpose": "  "},
        {"role": "r" * 41},
        {"object_id": "9" * 65},
        {"detail": {"blob": "x" * 5000}},
        {"detail": {"ratio": float("nan")}},
    ],
)
def test_invalid_rows_are_refused(db, ctx, overrides):
    with write_transaction(db) as conn, pytest.raises(InvalidInput):
        read(conn, ctx, 1, **overrides)


def test_denied_and_error_outcomes(db, ctx):
    with write_transaction(db) as conn:
        read(conn, ctx, 1, action="member.unmask", outcome="denied", detail=None)
        read(conn, ctx, 1, action="export", object_type="export", object_id=None, outcome="error")
    assert check(db) == []


def test_concurrent_appenders_keep_one_chain(db, ctx):
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for i in range(15):
                with write_transaction(db) as conn:
                    read(conn, ctx, offset + i)
        except BaseException as failure:
            errors.append(failure)

    threads = [threading.Thread(target=worker, args=(n * 1000,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.connect() as conn:
        assert conn.scalar(select(audit_log.c.id).order_by(audit_log.c.id.desc()).limit(1)) == 45
    assert check(db) == []


def test_append_only_triggers(db, ctx):
    with db.begin() as conn:
        for _ in range(2):  # idempotent
            for ddl in append_only_ddl(db.dialect.name):
                conn.execute(text(ddl))  # as Alembic's op.execute runs it
    five(db, ctx)  # appending still works: the head moves forward
    refused = [
        update(audit_log).where(audit_log.c.id == 1).values(purpose="无"),
        delete(audit_log).where(audit_log.c.id == 5),
        delete(audit_head),
        update(audit_head).values(last_id=4),
    ]
    if db.dialect.name == "postgresql":
        refused.append(text("TRUNCATE audit_log"))
    for statement in refused:
        with pytest.raises(exc.DBAPIError), db.begin() as conn:
            conn.execute(statement)
    assert check(db) == []
    with db.begin() as conn:
        for ddl in drop_append_only_ddl(db.dialect.name):
            conn.exec_driver_sql(ddl)
        conn.execute(update(audit_log).where(audit_log.c.id == 1).values(purpose="无"))
    assert check(db)[0].subject == "row 1"


def test_ddl_for_unknown_dialect():
    with pytest.raises(ValueError):
        append_only_ddl("oracle")
    with pytest.raises(ValueError):
        drop_append_only_ddl("oracle")
