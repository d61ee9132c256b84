"""Key management: the app refuses the development key outside development and keys other than
the database's; ``hpf keys rotate`` re-encrypts every protected column and lookups keep working."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hpf.accounts import service as accounts
from hpf.accounts.tables import employer, member
from hpf.app import create_app
from hpf.cli import _engine_for, app
from hpf.db.engine import make_engine, read_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.protection import keys, protect
from hpf.protection.classification import encrypted_fields
from hpf.protection.crypto import KeyRing
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.sim import build_demo_center

runner = CliRunner()
M1, M2, MB = (bytes([i]) * 32 for i in (1, 2, 3))


def spec(**materials: bytes) -> str:
    return ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in materials.items())


@pytest.fixture(autouse=True)
def fresh_engines() -> Iterator[None]:
    yield
    _engine_for.cache_clear()


@pytest.fixture
def center(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    ring1 = KeyRing.from_material({"k1": M1}, "k1", ("b1", MB))
    protect.install(ring1)
    keys.verify_engine(engine, ring1)
    ctx = Context("tester", FixedClock(date(2025, 3, 15)), "990001", source="test")
    build_demo_center(engine, ctx, seed=3, employers=5, members=120)
    yield url, engine
    engine.dispose()


def test_production_refuses_the_development_key_and_a_missing_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    for settings in (
        Settings(database_url=url, env="production", token_secret="x" * 40),
        Settings(database_url=url, env="production", token_secret="x" * 40, keys="dev:" + "A" * 44),
    ):
        with pytest.raises(HpfError) as caught:
            create_app(settings)
        assert caught.value.code == "security.default_key"


def test_a_changed_key_or_blind_index_key_is_refused(center):
    _, engine = center
    swapped = KeyRing.from_material({"k1": M2}, "k1", ("b1", MB))
    with pytest.raises(HpfError) as caught:
        keys.verify_engine(engine, swapped)
    assert caught.value.code == "security.key_mismatch"
    other_index = KeyRing.from_material({"k1": M1}, "k1", ("b2", M2))
    with pytest.raises(HpfError) as caught:
        keys.verify_engine(engine, other_index)
    assert caught.value.code == "security.blind_index_changed"


def test_rotate_re_encrypts_everything_and_lookups_still_work(center, monkeypatch):
    url, engine = center
    with read_transaction(engine) as conn:
        before = {r["id"]: protect.to_plain("member", r) for r in conn.execute(select(member)).mappings()}
    someone = next(m for m in before.values() if m["phone"])
    monkeypatch.setenv("HPF_DATABASE_URL", url)
    monkeypatch.setenv("HPF_KEYS", spec(k1=M1, k2=M2))
    monkeypatch.setenv("HPF_BLIND_INDEX_KEY", spec(b1=MB))
    checked = runner.invoke(app, ["keys", "check"])
    assert checked.exit_code == 0, checked.output
    assert "member.resident_id_enc: 120 value(s) under an older key" in checked.output

    result = runner.invoke(app, ["keys", "rotate", "--batch", "7"])
    assert result.exit_code == 0, result.output
    assert "member.resident_id_enc: 120 value(s) re-encrypted under k2" in result.output
    assert "employer.bank_account_no_enc: 5 value(s)" in result.output
    again = runner.invoke(app, ["keys", "rotate"]).output  # idempotent: nothing left to do
    assert again.count(": 0 value(s)") == len(encrypted_fields()) == 17

    with read_transaction(engine) as conn:
        tokens = conn.execute(select(member.c.resident_id_enc, member.c.phone_enc)).all()
        phones = conn.scalars(select(employer.c.contact_phone_enc)).all()
        after = {r["id"]: protect.to_plain("member", r) for r in conn.execute(select(member)).mappings()}
        found = accounts.find_members(conn, someone["resident_id"])
        by_phone = accounts.find_members(conn, someone["phone"])
    assert all(t.startswith("k2:") for row in tokens for t in row if t) and all(
        p.startswith("k2:") for p in phones
    )
    assert after == before  # the same plaintext under the new key
    assert [m.id for m in found] == [someone["id"]] and someone["id"] in {m.id for m in by_phone}
