"""Business archives (A8): every ended application sealed as one canonical JSON document.

The document holds the application (item and catalog version, applicant, payload, dates,
decision, outputs and the ids of its ledger entries), the catalog item it was made under, the
rule results, risk flags and calculation sheet, every transition, and each material's name,
type, size, SHA-256 and SM3. It is written as canonical JSON (sorted keys, no spaces, UTF-8)
and sealed with SM3 over those bytes, in the transaction that ended the application.

``verify_stored`` checks every sealed archive: the seal matches the document, the document
still matches the live records it was made from (a changed application row, transition or
material is caught even if the document were re-sealed), and each material's stored bytes
still hash to what the document says. A rating given afterwards is not part of the archive.

An export package (zip) holds ``manifest.json`` (every file with its size, SHA-256 and SM3, and
the seal), ``archive.json`` (the document, byte for byte as sealed) and ``materials/…`` (the
bytes). ``verify_package`` checks a package alone; ``verify_package(..., conn=...)`` also
compares its seal with the database's, the anchor a forger of the whole package cannot move.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from sqlalchemy import Connection, insert, select

from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError, NotFound
from hpf.kernel.findings import Finding
from hpf.kernel.uploads import MB, check_zip
from hpf.services import rules
from hpf.services.tables import application_archive

FORMAT = "openhpf.archive/1"
PACKAGE_FORMAT = "openhpf.archive-package/1"
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def canonical(value: Any) -> str:
    return _CANONICAL.encode(_jsonable(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


_APPLICATION_FIELDS = (
    "id", "item_code", "catalog_version", "applicant_kind", "applicant_id", "applicant_login", "member_id",
    "employer_id", "channel", "payload", "state", "submitted_on", "accepted_on", "accepted_by", "due_on",
    "amount_fen", "decision", "decision_reason", "decided_by", "decided_at", "outputs", "created_at",
)  # fmt: skip


Document = Mapping[str, Any]
"""An archive document before its canonical encoding: ``format``, ``application``, ``item``,
``rules``, ``risk_flags``, ``sheet``, ``ledger_entry_ids``, ``transitions``, ``materials`` (JSON
objects and arrays as they are sealed; dates and timestamps become ISO text in :func:`canonical`)."""


@dataclass(frozen=True, slots=True)
class Archive:
    """A sealed archive: the canonical JSON document and the SM3 over its UTF-8 bytes."""

    application_id: int
    final_state: str
    business_date: date
    sealed_at: datetime
    document: str
    sm3: str


def build_document(conn: Connection, application_id: int) -> Document:
    """The archive document of an application, from the live records."""
    from hpf.services import service  # service seals through this module

    row = service.get(conn, application_id)
    evaluation = row.evaluation or {}
    outputs = row.outputs or {}
    mats = service.materials(conn, application_id)
    return {
        "format": FORMAT,
        "application": {name: getattr(row, name) for name in _APPLICATION_FIELDS},
        "item": service.item_of(conn, row),
        "rules": evaluation.get("rules", []),
        "risk_flags": evaluation.get("risk_flags", []),
        "sheet": evaluation.get("sheet", []),
        "ledger_entry_ids": list(outputs.get("ledger_entry_ids", [])),
        "transitions": [
            {
                k: getattr(t, k)
                for k in ("from_state", "to_state", "actor", "business_date", "recorded_at", "reason")
            }
            for t in service.transitions(conn, application_id)
        ],
        "materials": [
            {
                "id": m.id,
                "material_code": m.material_code,
                "file_name": m.file_name,
                "file_type": m.file_type,
                "size_bytes": m.size_bytes,
                "sha256": m.sha256,
                "sm3": sm3_hex(service.blob(conn, m.sha256)),
                "uploaded_by": m.uploaded_by,
                "uploaded_at": m.uploaded_at,
            }
            for m in mats
        ],
    }


def seal(conn: Connection, ctx: Context, application_id: int) -> Archive:
    """Seal the ended application's archive (once)."""
    document = canonical(build_document(conn, application_id))
    parsed = json.loads(document)
    sealed = Archive(
        application_id=application_id,
        final_state=parsed["application"]["state"],
        business_date=ctx.clock.today(),
        sealed_at=ctx.clock.now(),
        document=document,
        sm3=sm3_hex(document.encode()),
    )
    conn.execute(
        insert(application_archive).values(
            application_id=sealed.application_id, final_state=sealed.final_state,
            business_date=sealed.business_date, sealed_at=sealed.sealed_at, document=sealed.document,
            sm3=sealed.sm3,
        )
    )  # fmt: skip
    return sealed


def get_archive(conn: Connection, application_id: int) -> Archive:
    row = (
        conn.execute(
            select(application_archive).where(application_archive.c.application_id == application_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("archive.not_found", "该申请尚未归档", f"application {application_id} has no archive")
    return Archive(
        application_id=row["application_id"], final_state=row["final_state"],
        business_date=row["business_date"], sealed_at=row["sealed_at"], document=row["document"],
        sm3=row["sm3"],
    )  # fmt: skip


# What can be wrong with an archive or a package (the findings' codes), in Chinese.
TITLES_ZH = {
    "archive.altered": "归档文件与其SM3封存值不符",
    "archive.material": "申请材料与归档文件不符",
    "archive.differs": "归档后业务记录发生了变化",
    "package.too_large": "档案包过大",
    "package.unreadable": "无法读取档案包",
    "package.unlisted": "档案包中有清单未列出的文件",
    "package.missing": "档案包缺少清单所列文件",
    "package.altered": "文件与清单所记大小或摘要不符",
    "package.unknown": "数据库中没有该档案",
    "package.foreign": "档案包的封存值与数据库不符",
}


def _finding(subject: str, code: str, detail: str) -> Finding:
    """What is wrong with one archive (``subject``: "application 12") or a file of a package."""
    return Finding(code, TITLES_ZH[code], detail, subject=subject)


def _check_one(conn: Connection, row: Mapping[Any, Any]) -> list[Finding]:
    subject = f"application {row['application_id']}"
    if sm3_hex(str(row["document"]).encode()) != row["sm3"]:
        return [_finding(subject, "archive.altered", "the document does not match its SM3 seal")]
    try:
        live = canonical(build_document(conn, row["application_id"]))
    except HpfError as exc:  # a material's bytes are gone or no longer hash to their name
        return [_finding(subject, "archive.material", exc.detail)]
    if live != row["document"]:
        return [_finding(subject, "archive.differs", "the records changed after the archive was sealed")]
    return []


def verify_stored(conn: Connection, application_id: int | None = None) -> list[Finding]:
    """Every sealed archive (or one), in application order; an empty list when all hold."""
    query = select(application_archive).order_by(application_archive.c.application_id)
    if application_id is not None:
        query = query.where(application_archive.c.application_id == application_id)
    findings: list[Finding] = []
    for row in conn.execute(query).mappings():
        findings.extend(_check_one(conn, row))
    return findings


# ----------------------------------------------------------------------------------- packages


def _entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "sm3": sm3_hex(data)}


def export_package(conn: Connection, application_id: int) -> bytes:
    """The archive package of an application as zip bytes (the stored document, not a rebuild)."""
    from hpf.services import service

    archive = get_archive(conn, application_id)
    document = json.loads(archive.document)
    files: list[tuple[str, bytes]] = [("archive.json", archive.document.encode())]
    for m in document["materials"]:
        files.append(
            (f"materials/{m['id']}-{m['material_code']}.{m['file_type']}", service.blob(conn, m["sha256"]))
        )
    manifest = {
        "format": PACKAGE_FORMAT,
        "application_id": application_id,
        "final_state": archive.final_state,
        "archive_sm3": archive.sm3,
        "files": [_entry(path, data) for path, data in files],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        for path, data in files:
            zf.writestr(path, data)
    return out.getvalue()


PACKAGE_MEMBER_MAX = rules.MAX_FILE_KB * 1024 + MB
"""A material at its largest, with room to spare."""
PACKAGE_TOTAL_MAX = rules.MAX_MATERIALS * PACKAGE_MEMBER_MAX + 16 * MB
"""Every material an application may carry, the sealed document and the manifest."""


def _read_package(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]] | Finding:
    # A package comes from outside (a court, an auditor): its zip directory is checked before
    # anything is inflated, with room for every material an application may carry.
    try:
        check_zip(data, max_member=PACKAGE_MEMBER_MAX, max_total=PACKAGE_TOTAL_MAX)
    except HpfError as exc:
        return _finding("package", "package.too_large", exc.detail)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            contents = {name: zf.read(name) for name in zf.namelist()}
        manifest = json.loads(contents.pop("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        return _finding("package", "package.unreadable", f"not an archive package: {exc}")
    if not isinstance(manifest, dict) or manifest.get("format") != PACKAGE_FORMAT:
        return _finding("manifest.json", "package.unreadable", "not an OpenHPF archive package")
    return manifest, contents


def verify_package(data: bytes, *, conn: Connection | None = None) -> list[Finding]:
    """Every file of a package against the manifest, the document against its seal, each
    material against the document; with ``conn``, the seal against the database's."""
    read = _read_package(data)
    if isinstance(read, Finding):
        return [read]
    manifest, contents = read
    findings: list[Finding] = []
    listed = {f["path"]: f for f in manifest["files"]}
    for path in sorted(set(contents) - set(listed)):
        findings.append(_finding(path, "package.unlisted", "a file the manifest does not list"))
    for path, entry in listed.items():
        body = contents.get(path)
        if body is None:
            findings.append(_finding(path, "package.missing", "listed in the manifest but absent"))
        elif _entry(path, body) != entry:
            findings.append(
                _finding(path, "package.altered", "size, SHA-256 or SM3 differs from the manifest")
            )
    document = contents.get("archive.json", b"")
    if sm3_hex(document) != manifest.get("archive_sm3"):
        findings.append(
            _finding("archive.json", "archive.altered", "the document does not match its SM3 seal")
        )
    else:
        for m in json.loads(document)["materials"]:
            path = f"materials/{m['id']}-{m['material_code']}.{m['file_type']}"
            body = contents.get(path)
            if body is None or hashlib.sha256(body).hexdigest() != m["sha256"] or sm3_hex(body) != m["sm3"]:
                findings.append(
                    _finding(path, "archive.material", "the material does not match the sealed document")
                )
    if conn is not None:
        try:
            stored = get_archive(conn, int(manifest["application_id"]))
        except NotFound:
            findings.append(_finding("package", "package.unknown", "this database holds no such archive"))
        else:
            if stored.sm3 != manifest.get("archive_sm3"):
                findings.append(
                    _finding("package", "package.foreign", "the seal differs from the database's")
                )
    return findings
