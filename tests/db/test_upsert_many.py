"""``insert_new_many``: the rows whose key is free inserted in one statement, the keys inserted
returned; rows already there (or twice in the call) left as they were — on both engines."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from hpf.db.engine import read_transaction, write_transaction
from hpf.db.upsert import insert_new_many
from hpf.transfers.tables import peer_center


def _center(code: str, name: str) -> dict[str, object]:
    return {"code": code, "name": name, "province": "浙江", "state": "active", "sign_key": "s",
            "encrypt_key": "e", "looked_up_at": datetime(2025, 4, 15, tzinfo=UTC)}  # fmt: skip


def test_only_the_new_keys_are_inserted_and_returned(engine) -> None:
    with write_transaction(engine) as conn:
        assert insert_new_many(conn, peer_center, [_center("330100", "杭州")]) == {"330100"}
    with write_transaction(engine) as conn:
        taken = insert_new_many(
            conn,
            peer_center,
            [_center("330100", "杭州（另）"), _center("440300", "深圳"), _center("110000", "北京")],
        )
        assert taken == {"440300", "110000"}
        assert insert_new_many(conn, peer_center, []) == set()
    with read_transaction(engine) as conn:
        names = dict(conn.execute(select(peer_center.c.code, peer_center.c.name)).all())
    assert names == {"330100": "杭州", "440300": "深圳", "110000": "北京"}
