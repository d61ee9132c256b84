"""Archives (A8): sealed when an application ends; stored and exported archives verify, and
tampering with the database or a package is detected; ``hpf archive export/verify``."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from hpf.db.engine import read_transaction, write_transaction
from hpf.services import archives, handlers, service
from hpf.services.tables import application, application_archive, application_transition
from services_support import JPG, PNG, Center, FakeWithdrawals, build_center


@pytest.fixture
def center(engine: Engine) -> Iterator[Center]:
    with handlers.registered(FakeWithdrawals()):
        yield build_center(engine)


def ended(center: Center) -> service.Application:
    a = center.people["a"]
    with write_transaction(center.engine) as conn:
        app = service.submit(conn, center.ctx, a, "WD-RENT", {"rent_monthly_fen": 100_000, "now": True})
        service.add_material(conn, center.ctx, a, app.id, "M-ID", "id.png", PNG)
        service.add_material(conn, center.ctx, a, app.id, "M-BANK", "card.jpg", JPG)
        return service.complete_submission(conn, center.ctx, a, app.id)


def test_an_ended_application_is_sealed_with_everything_it_needs(center: Center) -> None:
    app = ended(center)
    with read_transaction(center.engine) as conn:
        stored = archives.get_archive(conn, app.id)
        assert archives.verify_stored(conn) == []
    assert stored.final_state == "executed" and stored.sm3 == archives.sm3_hex(stored.document.encode())
    doc = json.loads(stored.document)
    assert doc["application"]["decision"] == "approved" and doc["ledger_entry_ids"] == [900 + app.id]
    assert [r["code"] for r in doc["rules"]] == ["rent.deposit_months", "rent.no_home"]
    assert [t["to_state"] for t in doc["transitions"]] == [
        "submitted",
        "accepted",
        "under_review",
        "approved",
        "executed",
    ]
    assert {m["material_code"] for m in doc["materials"]} == {"M-ID", "M-BANK"}
    assert doc["item"]["code"] == "WD-RENT" and doc["sheet"][0]["label_zh"] == "月租金"
    # Rated afterwards: the archive still holds.
    with write_transaction(center.engine) as conn:
        service.rate(conn, center.ctx, center.people["a"], app.id, 4, "")
        assert archives.verify_stored(conn) == []


def test_rejected_and_withdrawn_applications_are_archived_too_open_ones_are_not(center: Center) -> None:
    a = center.people["a"]
    with write_transaction(center.engine) as conn:
        one = service.submit(conn, center.ctx, a, "AC-CHANGE", {"field": "name", "value": "张叁"})
        two = service.submit(
            conn, center.ctx, a, "AC-CHANGE", {"field": "name", "value": "张叁"}, complete=True
        )
        three = service.submit(conn, center.ctx, a, "AC-CHANGE", {"field": "name", "value": "张"})
        service.withdraw(conn, center.ctx, a, one.id)
        service.reject(conn, center.ctx, center.people["reviewer01"], two.id, "与身份证件不符")
        assert archives.get_archive(conn, one.id).final_state == "withdrawn"
        assert archives.get_archive(conn, two.id).final_state == "rejected"
        with pytest.raises(Exception) as none:
            archives.get_archive(conn, three.id)
        assert getattr(none.value, "code", "") == "archive.not_found"


@pytest.mark.parametrize(
    ("table", "column", "value", "code"),
    [
        ("archive", "document", None, "archive.altered"),  # the stored document edited
        ("application", "amount_fen", 1, "archive.differs"),  # the live record edited
        ("transition", "actor", "nobody", "archive.differs"),
    ],
)
def test_tampering_with_the_database_is_detected(
    center: Center, table: str, column: str, value: Any, code: str
) -> None:
    app = ended(center)
    with write_transaction(center.engine) as conn:
        if table == "archive":
            doc = archives.get_archive(conn, app.id).document.replace("100000", "900000")
            conn.execute(update(application_archive).values(document=doc))
        elif table == "application":
            conn.execute(update(application).values(amount_fen=value))
        else:
            conn.execute(update(application_transition).values(actor=value))
    with read_transaction(center.engine) as conn:
        [finding] = archives.verify_stored(conn)
    assert finding.code == code and finding.subject == f"application {app.id}"


def test_a_package_verifies_and_tampering_with_it_is_detected(center: Center) -> None:
    app = ended(center)
    with read_transaction(center.engine) as conn:
        package = archives.export_package(conn, app.id)
        assert archives.verify_package(package, conn=conn) == []
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        names = sorted(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        contents = {n: zf.read(n) for n in names}
    assert names[0] == "archive.json" and "manifest.json" in names and len(names) == 4
    assert all(len(f["sha256"]) == 64 and len(f["sm3"]) == 64 for f in manifest["files"])
    material = next(n for n in names if n.startswith("materials/"))

    def repack(**changes: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for name, data in {**contents, **changes}.items():
                zf.writestr(name, data)
        return out.getvalue()

    assert archives.verify_package(repack(**{material: PNG + b"!"}))[0].code == "package.altered"
    doc = contents["archive.json"].replace(b"100000", b"900000")
    assert "archive.altered" in {f.code for f in archives.verify_package(repack(**{"archive.json": doc}))}
    # A forger who rewrites the document, re-seals it and fixes the manifest is caught by the database.
    forged_manifest = {**manifest, "archive_sm3": archives.sm3_hex(doc)}
    forged_manifest["files"] = [
        archives._entry(f["path"], doc if f["path"] == "archive.json" else contents[f["path"]])
        for f in manifest["files"]
    ]
    forged = repack(**{"archive.json": doc, "manifest.json": json.dumps(forged_manifest).encode()})
    assert archives.verify_package(forged) == []
    with read_transaction(center.engine) as conn:
        assert [f.code for f in archives.verify_package(forged, conn=conn)] == ["package.foreign"]
    assert archives.verify_package(b"not a zip")[0].code == "package.unreadable"


def test_the_cli_exports_and_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command is exercised once, on a SQLite file of its own."""
    from hpf import cli
    from hpf.db.engine import make_engine
    from hpf.schema import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
    upgrade(engine)

    with handlers.registered(FakeWithdrawals()):
        app = ended(build_center(engine))
    monkeypatch.setenv("HPF_DATABASE_URL", str(engine.url))
    cli._engine_for.cache_clear()
    runner = CliRunner()
    out = tmp_path / "a.zip"
    result = runner.invoke(cli.app, ["archive", "export", str(app.id), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli.app, ["archive", "verify", str(out)]).exit_code == 0
    assert runner.invoke(cli.app, ["archive", "verify", str(out), "--db"]).exit_code == 0
    ok = runner.invoke(cli.app, ["archive", "verify"])
    assert ok.exit_code == 0 and "ok" in ok.output
    broken = tmp_path / "b.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data + b"x" if name.startswith("materials/") else data)
    bad = runner.invoke(cli.app, ["archive", "verify", str(broken)])
    assert bad.exit_code == 1 and "package.altered" in bad.output
    with write_transaction(engine) as conn:
        conn.execute(update(application_archive).values(sm3="0" * 64))
    failed = runner.invoke(cli.app, ["archive", "verify"])
    assert failed.exit_code == 1 and f"application {app.id}" in failed.output
    missing = runner.invoke(cli.app, ["archive", "export", "999", "--out", str(tmp_path / "c.zip")])
    assert missing.exit_code == 1 and "archive.not_found" in missing.output
    cli._engine_for.cache_clear()


def test_a_package_that_would_inflate_beyond_its_materials_is_refused_unread() -> None:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", "{}")
        with zf.open("materials/bomb.pdf", "w", force_zip64=True) as f:
            for _ in range(archives.PACKAGE_MEMBER_MAX // (1 << 20) + 1):
                f.write(bytes(1 << 20))
    [finding] = archives.verify_package(out.getvalue())
    assert finding.code == "package.too_large"
