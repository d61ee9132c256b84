"""G2 on the real schema: after a demo center is built and used, the database file holds no
plaintext ID number, phone or bank account, and lookups by ID number still work."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.accounts.tables import employer, member
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.protection.protect import to_plain
from hpf.schema import upgrade
from hpf.sim import build_demo_center


def test_database_file_holds_no_plaintext_personal_data(tmp_path):
    path = tmp_path / "center.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    ctx = Context("tester", FixedClock(date(2025, 3, 15)), "990001", source="test")
    build_demo_center(engine, ctx, seed=5, employers=20, members=400)
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(99))
        opened = accounts.open_member(conn, ctx, emp.account_no, member_payload(99))
        accounts.change_member(conn, ctx, opened.account_no, {"phone": "13700137000"}, "换号")
        identity.create_member_login(conn, ctx, opened.id, "Correct-Horse-9", directory=DIRECTORY)
    with read_transaction(engine) as conn:
        members = [to_plain("member", r) for r in conn.execute(select(member)).mappings()]
        employers = [to_plain("employer", r) for r in conn.execute(select(employer)).mappings()]
        found = accounts.find_members(conn, opened.resident_id)
        by_phone = accounts.find_members(conn, "13700137000")
    assert [m.account_no for m in found] == [opened.account_no]
    assert [m.account_no for m in by_phone] == [opened.account_no]
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()

    dump = b"".join(p.read_bytes() for p in tmp_path.glob("center.sqlite3*"))
    secrets = [m["resident_id"] for m in members] + [m["phone"] for m in members if m["phone"]]
    secrets += [e["contact_phone"] for e in employers] + [e["bank_account_no"] for e in employers]
    secrets += ["13900139000"]  # the phone before the change: history keeps it masked only
    assert len(members) == 401 and len(secrets) > 700
    leaked = [value for value in secrets if value.encode() in dump]
    assert leaked == []
