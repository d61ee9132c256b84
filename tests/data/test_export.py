"""``hpf data export --standard``: a small simulated center written in the standard's tables;
row counts match the database, hashes match the files, a re-run writes the same bytes, the
balances are those of the month-end, and encrypted fields stay ciphertext."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import date

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from hpf.cli import app as cli
from hpf.db.calendar import set_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.schema import upgrade
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate

runner = CliRunner()
MONTH = "2025-07"  # the last simulated month: June's interest settlement and year roll behind it


@pytest.fixture(scope="module")
def center(tmp_path_factory, wiring):
    folder = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{folder}/center.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    start = date(2025, 5, 1)
    with write_transaction(engine) as conn:
        set_business_date(conn, start)
    build_demo_center(engine, Context("demo", FixedClock(start), "990001"), seed=4, employers=8, members=160)
    simulate(engine, "990001", months=3, seed=4)
    yield url, engine, folder
    engine.dispose()


def run_export(monkeypatch, url, out, month=MONTH):
    monkeypatch.setenv("HPF_DATABASE_URL", url)
    return runner.invoke(cli, ["data", "export", "--standard", "--month", month, "--out", str(out)])


def read_csv(path):
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_export_counts_hashes_and_rerun(center, monkeypatch):
    url, engine, folder = center
    out = folder / "first"
    done = run_export(monkeypatch, url, out)
    assert done.exit_code == 0, done.output
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["standard"] == "JGJ/T 320-2014" and manifest["month"] == MONTH
    assert manifest["center_code"] == "990001" and manifest["month_end"] == "2025-07-31"
    files = {f["file"]: f for f in manifest["files"]}
    for name, f in files.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == f["sha256"], name
        if f["format"] == "csv":
            assert len(read_csv(out / name)) == f["rows"], name
        else:
            assert pq.read_table(out / name).num_rows == f["rows"], name
    with read_transaction(engine) as conn:
        expected = {
            "4.0.3": conn.scalar(text("SELECT count(*) FROM member WHERE opened_on <= '2025-07-31'")),
            "4.0.2": conn.scalar(text("SELECT count(*) FROM employer WHERE opened_on <= '2025-07-31'")),
            "5.0.5": conn.scalar(text(
                "SELECT count(*) FROM journal_line l JOIN journal_entry e ON e.id = l.entry_id "
                "WHERE l.member_id IS NOT NULL AND e.posting_date BETWEEN '2025-07-01' AND '2025-07-31'")),
            "8.0.5": conn.scalar(text(
                "SELECT count(*) FROM journal_line l JOIN journal_entry e ON e.id = l.entry_id "
                "WHERE e.posting_date BETWEEN '2025-07-01' AND '2025-07-31'")),
            "5.0.3": conn.scalar(text(
                "SELECT count(*) FROM remittance WHERE posted_on BETWEEN '2025-07-01' AND '2025-07-31'")),
            "JSLS": conn.scalar(text(
                "SELECT count(*) FROM payment_order WHERE bank_date BETWEEN '2025-07-01' AND '2025-07-31'")),
            "8.0.2": conn.scalar(text("SELECT count(*) FROM ledger_subject")),
        }  # fmt: skip
    for table, count in expected.items():
        assert files[f"{table}.csv"]["rows"] == count, table
        assert files[f"{table}.parquet"]["rows"] == count, table
    assert expected["4.0.3"] > 100 and expected["5.0.5"] > 100 and expected["5.0.3"] > 0
    again = run_export(monkeypatch, url, folder / "second")
    assert again.exit_code == 0, again.output
    for name in [*files, "manifest.json"]:
        assert (folder / "second" / name).read_bytes() == (out / name).read_bytes(), name
    with read_transaction(engine) as conn:
        audited = conn.scalar(text("SELECT count(*) FROM audit_log WHERE action = 'data.export'"))
    assert audited == 2


def test_member_balances_are_the_month_end_parts(center, monkeypatch):
    """The stored parts (rolled on 30 June) less what is dated after July are July's month-end:
    the export, summed from the lines by value date, must give the same per member; and a month
    earlier, the total is the lines up to that day."""
    url, engine, folder = center
    out = folder / "balances"
    assert run_export(monkeypatch, url, out).exit_code == 0
    rows = {r["GRZH"]: r for r in read_csv(out / "5.0.4.csv")}
    with read_transaction(engine) as conn:
        stored = conn.execute(text(
            "SELECT m.account_no, b.carried_fen, b.current_fen FROM member m "
            "JOIN member_balance b ON b.member_id = m.id")).all()  # fmt: skip
        late = dict(
            conn.execute(
                text(
                    "SELECT l.member_id || ':' || l.balance_part, "
                    "sum(CASE WHEN l.side = 'C' THEN l.amount_fen ELSE -l.amount_fen END) FROM journal_line l "
                    "WHERE l.member_id IS NOT NULL AND l.value_date > '2025-07-31' "
                    "GROUP BY l.member_id, l.balance_part"
                )
            ).all()
        )
        ids = dict(conn.execute(text("SELECT account_no, id FROM member")).all())  # fmt: skip
    # what was dated after the month (the first days of August) is taken back out of the stored parts
    assert stored and any(c > 0 for _, c, _ in stored) and any(c > 0 for _, _, c in stored)
    for account_no, carried, current in stored:
        carried -= late.get(f"{ids[account_no]}:carried", 0)
        current -= late.get(f"{ids[account_no]}:current", 0)
        r = rows[account_no]
        assert r["GRZHSNJZYE"] == f"{carried / 100:.2f}" and r["GRZHDNGJYE"] == f"{current / 100:.2f}"
        assert r["GRZHYE"] == f"{(carried + current) / 100:.2f}"
    june = folder / "june"
    assert run_export(monkeypatch, url, june, "2025-06").exit_code == 0
    total = sum(round(float(r["GRZHYE"]) * 100) for r in read_csv(june / "5.0.4.csv"))
    with read_transaction(engine) as conn:
        lines = conn.scalar(text(
            "SELECT sum(CASE WHEN side = 'C' THEN amount_fen ELSE -amount_fen END) FROM journal_line "
            "WHERE member_id IS NOT NULL AND value_date <= '2025-06-30'"))  # fmt: skip
    assert total == lines


def test_fields_names_and_protection(center, monkeypatch):
    url, engine, folder = center
    out = folder / "fields"
    assert run_export(monkeypatch, url, out).exit_code == 0
    people = read_csv(out / "4.0.3.csv")
    assert list(people[0]) == ["GRZH", "ZJLX", "ZJHM", "XINGMING", "XMQP", "XINGBIE", "CSNY", "SJHM"]
    with read_transaction(engine) as conn:
        stored = dict(conn.execute(text("SELECT account_no, resident_id_enc FROM member")).all())
    for p in people:
        assert p["ZJHM"] == stored[p["GRZH"]]  # the stored SM4 token, not the number
        assert not re.fullmatch(r"\d{17}[\dX]", p["ZJHM"])
        assert re.fullmatch(r"\d{6}", p["CSNY"]) and p["XINGBIE"] in {"1", "2", "9"}
    table = pq.read_table(out / "5.0.4.parquet")
    assert str(table.schema.field("GRZHYE").type) == "decimal128(18, 2)"
    assert str(table.schema.field("KHRQ").type) == "date32[day]"
    entries = read_csv(out / "8.0.5.csv")
    debit = sum(float(e["JFFSE"]) for e in entries)
    credit = sum(float(e["DFFSE"]) for e in entries)
    assert entries and round(debit, 2) == round(credit, 2)  # every voucher balanced


def test_a_bad_month_or_no_standard_flag_is_refused(center, monkeypatch):
    url, _, folder = center
    bad = run_export(monkeypatch, url, folder / "bad", "2025-13")
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
    monkeypatch.setenv("HPF_DATABASE_URL", url)
    plain = runner.invoke(cli, ["data", "export", "--month", MONTH])
    assert plain.exit_code == 2 and "--standard" in plain.output


def test_both_engines_a_center_of_one(engine, ctx, tmp_path):
    """The same statements on SQLite and PostgreSQL: one employer, one member opened, nothing
    posted; empty detail tables are still valid files with their header."""
    from factories import employer_payload, member_payload
    from hpf.accounts import service as accounts
    from hpf.data.export import export_standard

    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1, economic_type="002"))
        accounts.open_member(conn, ctx, emp.account_no, member_payload(1))
    month = ctx.clock.today().strftime("%Y-%m")
    manifest = export_standard(engine, month, tmp_path / "out", center_code="990001")
    rows = {f["file"]: f["rows"] for f in manifest["files"]}
    assert rows["4.0.2.csv"] == rows["4.0.3.parquet"] == rows["5.0.4.csv"] == 1
    assert rows["5.0.5.csv"] == rows["JSLS.parquet"] == 0
    [employer] = read_csv(tmp_path / "out" / "4.0.2.csv")
    assert employer["DWJJLX"] == "002" and employer["DWFXR"] == "10"
    [account] = read_csv(tmp_path / "out" / "5.0.2.csv")
    assert account["DWJCBL"] == "0.1200" and account["DWZHZT"] == "02"  # 开户: nothing paid yet
    [member] = read_csv(tmp_path / "out" / "5.0.4.csv")
    assert member["GRJCJS"] == "8000.00" and member["GRZHYE"] == "0.00"
    assert pq.read_table(tmp_path / "out" / "JSLS.parquet").num_rows == 0
    assert read_csv(tmp_path / "out" / "JSLS.csv") == []


def test_one_snapshot_while_the_center_keeps_working(engine, ctx, tmp_path, monkeypatch):
    """A member opened while the export runs (after its first table is written) is in none of
    its files: every table is read from the snapshot the export started with (on PostgreSQL,
    REPEATABLE READ; READ COMMITTED would show the member in the tables read after)."""
    from factories import employer_payload, member_payload
    from hpf.accounts import service as accounts
    from hpf.data import export

    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1, economic_type="002"))
        accounts.open_member(conn, ctx, emp.account_no, member_payload(1))
    write_table = export._write_table
    calls = []

    def meanwhile(*args, **kwargs):
        done = write_table(*args, **kwargs)
        if not calls:
            with write_transaction(engine) as other:
                accounts.open_member(other, ctx, emp.account_no, member_payload(2))
        calls.append(done)
        return done

    monkeypatch.setattr(export, "_write_table", meanwhile)
    month = ctx.clock.today().strftime("%Y-%m")
    manifest = export.export_standard(engine, month, tmp_path / "out", center_code="990001")
    rows = {f["file"]: f["rows"] for f in manifest["files"]}
    assert len(calls) > 1 and rows["5.0.4.csv"] == 1
    with read_transaction(engine) as conn:
        assert len(accounts.find_members(conn)) == 2  # the member was opened all the same
