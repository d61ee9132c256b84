"""SM4-GCM tokens, HMAC-SM3 blind indexes, key configuration and key rotation."""

from __future__ import annotations

import base64
import json
import pickle
import re

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from hpf.db.engine import make_engine
from hpf.kernel.errors import HpfError
from hpf.protection.crypto import (
    BLIND_INDEX_HEX,
    DEVELOPMENT_KEY_MATERIAL,
    KeyRing,
    encrypt_column,
    key_id_of,
    rotate_column,
    token_length,
)

M1 = bytes(range(32))
M2 = bytes(range(100, 140))
MB = b"blind-index material for tests, 32+ bytes long"
RID = "110101199003071234"
CTX = "member.resident_id"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def ring1() -> KeyRing:
    return KeyRing.from_material({"k1": M1}, blind=("b1", MB))


@pytest.fixture
def ring2() -> KeyRing:
    return KeyRing.from_material({"k1": M1, "k2": M2}, active="k2", blind=("b1", MB))


def code_of(excinfo: pytest.ExceptionInfo[HpfError]) -> str:
    return excinfo.value.code


# -- tokens -------------------------------------------------------------------------------


def test_round_trip_and_token_format(ring1):
    token = ring1.encrypt(RID, context=CTX)
    assert re.fullmatch(r"k1:[A-Za-z0-9_-]+", token)
    assert RID not in token
    assert ring1.decrypt(token, context=CTX) == RID
    assert key_id_of(token) == "k1"
    assert len(token) <= token_length(len(RID.encode()), key_id_length=2)


def test_same_value_encrypts_differently_each_time(ring1):
    assert ring1.encrypt(RID, context=CTX) != ring1.encrypt(RID, context=CTX)


@pytest.mark.parametrize("plain", ["", "张三", "北京市朝阳区建国路88号院3号楼2单元501室", "x" * 500])
def test_round_trip_odd_values(ring1, plain):
    assert ring1.decrypt(ring1.encrypt(plain, context="member.address"), context="member.address") == plain


def test_token_in_another_column_does_not_decrypt(ring1):
    token = ring1.encrypt("13800000000", context="member.phone")
    with pytest.raises(HpfError) as exc:
        ring1.decrypt(token, context="member.resident_id")
    assert code_of(exc) == "security.decrypt_failed"


def flip(token: str, position: int) -> str:
    key_id, body = token.split(":")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[position] ^= 1
    return key_id + ":" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("position", [0, 12, 20, -1])  # iv, ciphertext, ciphertext, tag
def test_tampering_is_refused(ring1, position):
    with pytest.raises(HpfError) as exc:
        ring1.decrypt(flip(ring1.encrypt(RID, context=CTX), position), context=CTX)
    assert code_of(exc) == "security.decrypt_failed"


@pytest.mark.parametrize(
    "bad", ["no-colon", "k9:AAAA", "k1:!!!", "k1:AAAA", "", ":", "k1:"], ids=lambda s: repr(s)
)
def test_garbage_tokens_are_refused(ring1, bad):
    with pytest.raises(HpfError) as exc:
        ring1.decrypt(bad, context=CTX)
    assert code_of(exc) == "security.decrypt_failed"


def test_relabelled_key_id_is_refused(ring2):
    token = ring2.encrypt(RID, context=CTX)
    with pytest.raises(HpfError):
        ring2.decrypt("k1:" + token.split(":", 1)[1], context=CTX)


# -- blind index --------------------------------------------------------------------------


def test_blind_index_is_keyed_deterministic_and_per_column(ring1):
    index = ring1.blind_index(RID, context=CTX)
    assert re.fullmatch(rf"[0-9a-f]{{{BLIND_INDEX_HEX}}}", index)
    assert ring1.blind_index(RID, context=CTX) == index
    assert ring1.blind_index(RID, context="member.phone") != index
    assert ring1.blind_index("110101199003071235", context=CTX) != index
    other = KeyRing.from_material({"k1": M1}, blind=("b2", M2))
    assert other.blind_index(RID, context=CTX) != index


def test_blind_index_survives_data_key_rotation(ring1, ring2):
    assert ring1.blind_index(RID, context=CTX) == ring2.blind_index(RID, context=CTX)
    # Derived from the first listed key when none is configured: adding k2 keeps it too.
    derived1 = KeyRing.from_material({"k1": M1})
    derived2 = KeyRing.from_material({"k1": M1, "k2": M2}, active="k2")
    assert derived1.blind_key_id == derived2.blind_key_id == "k1.bidx"
    assert derived1.blind_index(RID, context=CTX) == derived2.blind_index(RID, context=CTX)


def test_needs_rotation(ring1, ring2):
    old = ring1.encrypt(RID, context=CTX)
    assert not ring1.needs_rotation(old)
    assert ring2.needs_rotation(old)
    assert not ring2.needs_rotation(ring2.encrypt(RID, context=CTX))
    assert ring2.decrypt(old, context=CTX) == RID


def test_key_check_values_and_repr_reveal_no_key(ring2):
    checks = ring2.key_check_values()
    assert set(checks) == {"k1", "k2", "bidx:b1"}
    assert checks == KeyRing.from_material({"k1": M1, "k2": M2}, blind=("b1", MB)).key_check_values()
    shown = repr(ring2)
    assert "k2" in shown
    for material in (M1, M2, MB):
        assert b64(material) not in shown and material.hex() not in shown


def test_ring_pickles_for_worker_processes(ring2):
    copy = pickle.loads(pickle.dumps(ring2))  # noqa: S301 (our own bytes)
    token = ring2.encrypt(RID, context=CTX)
    assert copy.decrypt(token, context=CTX) == RID
    assert copy.blind_index(RID, context=CTX) == ring2.blind_index(RID, context=CTX)


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_gets_the_development_key(env):
    ring = KeyRing.from_settings(env, None, None)
    assert ring.is_development and ring.active_key_id == "dev"


@pytest.mark.parametrize("env", ["production", "staging", ""])
def test_outside_development_no_key_refuses_to_start(env):
    with pytest.raises(HpfError) as exc:
        KeyRing.from_settings(env, None, None)
    assert code_of(exc) == "security.default_key"


@pytest.mark.parametrize(
    "spec",
    [
        f"dev:{b64(DEVELOPMENT_KEY_MATERIAL)}",
        f"k1:{b64(DEVELOPMENT_KEY_MATERIAL)}",
        f"k1:{b64(M1)},dev:{b64(M2)}",
    ],
)
def test_outside_development_the_development_key_refuses_to_start(spec):
    with pytest.raises(HpfError) as exc:
        KeyRing.from_settings("production", spec, None)
    assert code_of(exc) == "security.default_key"


def test_production_keys_from_settings():
    ring = KeyRing.from_settings(
        "production", f"k1:{b64(M1)}, k2:{b64(M2)}", None, active_key="k1", blind_index_key=f"b1:{b64(MB)}"
    )
    assert ring.key_ids == ("k1", "k2") and ring.active_key_id == "k1" and ring.blind_key_id == "b1"
    assert not ring.is_development
    assert ring.blind_index(RID, context=CTX) == KeyRing.from_material(
        {"k1": M1}, blind=("b1", MB)
    ).blind_index(RID, context=CTX)
    # Default active key: the last listed; urlsafe base64 without padding is accepted.
    spec = f"k1:{base64.urlsafe_b64encode(M1).decode().rstrip('=')},k2:{b64(M2)}"
    assert KeyRing.from_settings("production", spec, None).active_key_id == "k2"


@pytest.mark.parametrize(
    "spec",
    [
        f"k1:{b64(b'short')}",  # under 32 bytes
        "k1:not base64!!",
        f"k1:{b64(M1)},k1:{b64(M2)}",  # twice
        f"k:1:{b64(M1)}",  # bad id
        "k1",  # no material
        f"{'k' * 17}:{b64(M1)}",  # id too long
    ],
)
def test_bad_key_specs(spec):
    with pytest.raises(HpfError) as exc:
        KeyRing.from_settings("production", spec, None)
    assert code_of(exc) == "security.key_config"


def test_active_key_must_exist():
    with pytest.raises(HpfError) as exc:
        KeyRing.from_settings("production", f"k1:{b64(M1)}", None, active_key="k7")
    assert code_of(exc) == "security.key_config"


def write_key_file(path, mode):
    path.write_text(
        json.dumps(
            {
                "active": "k1",
                "keys": {"k1": b64(M1), "k2": b64(M2)},
                "blind_index": {"id": "b1", "key": b64(MB)},
            }
        )
    )
    path.chmod(mode)
    return str(path)


def test_key_file(tmp_path, ring1):
    ring = KeyRing.from_settings("production", None, write_key_file(tmp_path / "keys.json", 0o600))
    assert ring.key_ids == ("k1", "k2") and ring.active_key_id == "k1" and ring.blind_key_id == "b1"
    assert ring.blind_index(RID, context=CTX) == ring1.blind_index(RID, context=CTX)
    assert ring.decrypt(ring1.encrypt(RID, context=CTX), context=CTX) == RID
    # HPF_ACTIVE_KEY overrides the file.
    assert (
        KeyRing.from_settings("production", None, str(tmp_path / "keys.json"), active_key="k2").active_key_id
        == "k2"
    )


def test_key_file_readable_by_others_is_refused_in_production(tmp_path):
    path = write_key_file(tmp_path / "keys.json", 0o644)
    with pytest.raises(HpfError) as exc:
        KeyRing.from_settings("production", None, path)
    assert code_of(exc) == "security.key_config"
    assert KeyRing.from_settings("development", None, path).active_key_id == "k1"


@pytest.mark.parametrize("content", ["not json", "[]", '{"keys": {"k1": 5}}', '{"keys": {}}'])
def test_bad_key_files(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(HpfError) as exc:
        KeyRing.from_settings("production", None, str(path))
    assert code_of(exc) in {"security.key_config", "security.default_key"}


def test_missing_key_file_and_both_sources(tmp_path):
    with pytest.raises(HpfError):
        KeyRing.from_settings("production", None, str(tmp_path / "absent.json"))
    with pytest.raises(HpfError):
        KeyRing.from_settings("production", f"k1:{b64(M1)}", write_key_file(tmp_path / "k.json", 0o600))


# -- rotation -----------------------------------------------------------------------------


def scratch_table() -> Table:
    return Table(
        "scratch_secret",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("token", String(200)),
    )


def fill(engine, ring_old, ring_new):
    table = scratch_table()
    rows = []
    for i in range(1, 31):
        if i % 10 == 0:
            token = None
        elif i % 7 == 0:
            token = ring_new.encrypt(f"value-{i}", context="scratch.token")
        else:
            token = ring_old.encrypt(f"value-{i}", context="scratch.token")
        rows.append({"id": i, "token": token})
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), rows)
    return table, sum(1 for r in rows if r["token"] and r["token"].startswith("k1:"))


def test_rotate_column_re_encrypts_in_batches_and_is_idempotent(engine, ring1, ring2):
    table, stale = fill(engine, ring1, ring2)
    assert stale == 23
    with engine.begin() as conn:
        assert rotate_column(conn, table, "id", "token", "scratch.token", ring2, batch=4) == stale
    with engine.begin() as conn:
        rows = conn.execute(select(table.c.id, table.c.token).order_by(table.c.id)).all()
        assert rotate_column(conn, "scratch_secret", "id", "token", "scratch.token", ring2) == 0
    for row_id, token in rows:
        if row_id % 10 == 0:
            assert token is None
        else:
            assert token.startswith("k2:")
            assert ring2.decrypt(token, context="scratch.token") == f"value-{row_id}"


def test_rotate_column_commits_each_batch_when_asked(engine, ring1, ring2):
    table, stale = fill(engine, ring1, ring2)
    with engine.connect() as conn:
        assert (
            rotate_column(conn, table, "id", "token", "scratch.token", ring2, batch=5, commit=True) == stale
        )
    with engine.connect() as conn:
        left = conn.scalar(select(func.count()).select_from(table).where(table.c.token.like("k1:%")))
    assert left == 0


def test_rotate_column_stops_on_a_token_that_does_not_decrypt(engine, ring1, ring2):
    table, _ = fill(engine, ring1, ring2)
    with engine.begin() as conn:
        conn.execute(
            table.update().where(table.c.id == 3).values(token=flip(ring1.encrypt("x", context="c"), 14))
        )
    with engine.begin() as conn, pytest.raises(HpfError) as exc:
        rotate_column(conn, table, "id", "token", "scratch.token", ring2)
    assert code_of(exc) == "security.decrypt_failed" and exc.value.extra["row_id"] == 3


# -- no plaintext on disk -----------------------------------------------------------------


def test_database_file_holds_no_plaintext_id_number(tmp_path, ring1):
    engine = make_engine(f"sqlite:///{tmp_path}/secret.sqlite3")
    table = Table(
        "person",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("resident_id_bidx", String(32), index=True),
        Column("resident_id", String(100)),
    )
    ids = [f"1101011990{i:04d}{i % 10:03d}X" for i in range(500)]
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(
            table.insert(),
            [
                {
                    "resident_id_bidx": ring1.blind_index(v, context=CTX),
                    "resident_id": ring1.encrypt(v, context=CTX),
                }
                for v in ids
            ],
        )
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        found = conn.execute(
            select(table.c.resident_id).where(
                table.c.resident_id_bidx == ring1.blind_index(ids[123], context=CTX)
            )
        ).scalar_one()
    engine.dispose()
    assert ring1.decrypt(found, context=CTX) == ids[123]
    dump = b"".join(p.read_bytes() for p in tmp_path.glob("secret.sqlite3*"))
    assert len(dump) > 50_000
    for value in ids:
        assert value.encode() not in dump
        assert value[:14].encode() not in dump  # not even the region + birth date prefix


def test_encrypt_column_fills_tokens_and_blind_indexes(engine, ring1):
    table = Table(
        "scratch_person",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("phone", String(20)),
        Column("phone_enc", String(100)),
        Column("phone_bidx", String(32)),
    )
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(
            table.insert(),
            [{"id": i, "phone": None if i % 5 == 0 else f"1380000{i:04d}"} for i in range(1, 24)],
        )
    with engine.begin() as conn:
        assert (
            encrypt_column(
                conn,
                table,
                "id",
                "phone",
                "phone_enc",
                "member.phone",
                ring1,
                bidx_column="phone_bidx",
                batch=4,
            )
            == 19
        )
        assert encrypt_column(conn, "scratch_person", "id", "phone", "phone_enc", "member.phone", ring1) == 0
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.id)).all()
    for row in rows:
        if row.phone is None:
            assert row.phone_enc is None and row.phone_bidx is None
        else:
            assert ring1.decrypt(row.phone_enc, context="member.phone") == row.phone
            assert row.phone_bidx == ring1.blind_index(row.phone, context="member.phone")
