"""The service catalog (E1): the national list shipped as ``catalog.json``, the center's local
implementation lists (``catalog_local_version``), and the items in force on a day.

Both are versioned with effective dates, like policy: the national version in force on a day
is the latest shipped one not after it; the center's local list in force is the latest stored
one not after it. A local list replaces the national items it names with tightened versions
(checked by :func:`hpf.services.rules.check_local_item`); a local item that a later national
version makes too loose is ignored from that version's date, so the national minimum always
holds. A version id names what an application was made under: ``N2023.1`` or ``N2023.1+L2``
(local list 2), and both parts are immutable, so the item can be resolved again later.

Publishing a local list goes through maker-checker (``hpf.approvals.service``, kind
``services.catalog``): it is checked at submission and runs when another administrator approves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from hpf import events
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.kernel.findings import require_ok
from hpf.services import rules
from hpf.services.tables import catalog_local_version

REASON_MAX = 200


Item = Mapping[str, Any]
"""A catalog item: a JSON document of ``catalog.json`` or of a center's local list (code, names,
category, applicants, conditions, materials, fields, time limit …), its shape checked by
:func:`hpf.services.rules.validate_item`; pages and the API show it as it is."""


@dataclass(frozen=True, slots=True)
class NationalCatalog:
    """A shipped national version of the catalog."""

    version: str  # e.g. "N2023.1"
    effective_from: date
    source: str  # the notice it transcribes
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class LocalVersion:
    """A center's local implementation list as stored, with the codes of its items."""

    id: int  # the local version number
    effective_from: date
    items: tuple[Item, ...]  # whole item documents, each a tightening
    recorded_at: datetime
    actor: str
    reason: str
    codes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Published:
    """What an approved ``services.catalog`` request did: the local version it stored."""

    version: int
    effective_from: str  # ISO date
    codes: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """The items in force on ``on`` and the versions they come from."""

    on: date
    version: str
    national_version: str
    local_version: int | None
    items: tuple[Item, ...]

    def item(self, code: str) -> Item:
        for item in self.items:
            if item["code"] == code:
                return item
        raise _unknown(code)


def _unknown(code: str) -> NotFound:
    return NotFound("service.not_found", "服务事项不存在", f"no service item {code!r}")


@cache
def national_versions() -> tuple[NationalCatalog, ...]:
    """The shipped national versions, oldest first; a broken package fails loudly here."""
    text = resources.files("hpf.services").joinpath("catalog.json").read_text("utf-8")
    out = []
    for raw in json.loads(text)["versions"]:
        for item in raw["items"]:
            findings = rules.validate_item(item)
            assert not findings, f"catalog.json {raw['version']}: {findings}"
        out.append(
            NationalCatalog(
                version=str(raw["version"]),
                effective_from=date.fromisoformat(raw["effective_from"]),
                source=str(raw["source"]),
                items=tuple(raw["items"]),
            )
        )
    return tuple(sorted(out, key=lambda v: v.effective_from))


def national_at(on: date) -> NationalCatalog:
    found = rules.in_force(national_versions(), on)
    if found is None:
        raise NotFound("service.no_catalog", "该日期尚无服务目录", f"no national catalog in force on {on}")
    return found


def _national_by_id(version: str) -> NationalCatalog:
    for v in national_versions():
        if v.version == version:
            return v
    raise NotFound("service.no_catalog", "服务目录版本不存在", f"no national catalog version {version!r}")


def _local_of(row: Mapping[Any, Any]) -> LocalVersion:
    recorded_at = row["recorded_at"]
    return LocalVersion(
        id=int(row["id"]),
        effective_from=row["effective_from"],
        items=tuple(row["items"]),
        recorded_at=recorded_at if recorded_at.tzinfo else recorded_at.replace(tzinfo=UTC),
        actor=row["actor"],
        reason=row["reason"],
        codes=tuple(str(i["code"]) for i in row["items"]),
    )


def _local_rows(conn: Connection) -> list[LocalVersion]:
    query = select(catalog_local_version).order_by(catalog_local_version.c.effective_from)
    return [_local_of(r) for r in conn.execute(query).mappings()]


def _valid_local(national_items: Sequence[Item], local_items: Sequence[Item]) -> list[Item]:
    by_code = {str(i["code"]): i for i in national_items}
    return [
        i
        for i in local_items
        if str(i.get("code")) in by_code and not rules.check_local_item(by_code[str(i["code"])], i)
    ]


def _compose(national: NationalCatalog, local: LocalVersion | None, on: date) -> Catalog:
    local_items = _valid_local(national.items, local.items) if local is not None else []
    items = rules.overlay(national.items, local_items)
    local_id = local.id if local is not None else None
    version = national.version + (f"+L{local_id}" if local_id is not None else "")
    return Catalog(on, version, national.version, local_id, tuple(items))


def catalog_at(conn: Connection, on: date) -> Catalog:
    """The center's catalog on ``on``: the national version overlaid by the local list in force."""
    local = rules.in_force(_local_rows(conn), on)
    return _compose(national_at(on), local, on)


def item_at(conn: Connection, code: str, on: date) -> Item:
    return catalog_at(conn, on).item(code)


def item_of_version(conn: Connection, code: str, version: str) -> Item:
    """The item as it was in catalog version ``version`` (what an application was made under)."""
    national_id, _, local_part = version.partition("+L")
    national = _national_by_id(national_id)
    local = None
    if local_part:
        row = (
            conn.execute(select(catalog_local_version).where(catalog_local_version.c.id == int(local_part)))
            .mappings()
            .first()
        )
        local = _local_of(row) if row is not None else None
    return _compose(national, local, national.effective_from).item(code)


def list_local_versions(conn: Connection) -> list[LocalVersion]:
    """The center's local lists, latest effective date first, with their item codes."""
    rows = _local_rows(conn)
    rows.sort(key=lambda r: r.effective_from, reverse=True)
    return rows


def local_items_at(conn: Connection, on: date) -> list[Item]:
    """The items of the local list in force on ``on`` (empty: the national list applies)."""
    found = rules.in_force(_local_rows(conn), on)
    return [dict(i) for i in found.items] if found is not None else []


def check_local_items(on: date, items: object) -> list[Item]:
    """``items`` as a list of item documents, refused unless each tightens the national list of
    every national version in force from ``on`` (``catalog.*`` codes, all findings listed)."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InvalidInput(
            "catalog.invalid_list", "实施清单须为事项列表", "items must be a list of objects", field="items"
        )
    later = [v for v in national_versions() if v.effective_from > on]
    for national in [national_at(on), *later]:
        by_code = {str(i["code"]): i for i in national.items}
        require_ok(rules.check_local_list(by_code, items))
    return [dict(i) for i in items]


def publish_local_version(
    conn: Connection, ctx: Context, effective_from: date, items: object, reason: str
) -> LocalVersion:
    """Store a local implementation list effective from ``effective_from`` (not retroactive)."""
    text = " ".join((reason or "").split())
    if not text or len(text) > REASON_MAX:
        raise InvalidInput(
            "catalog.reason_required",
            "请填写发布原因（200字以内）",
            "a reason of 1-200 characters is required",
            field="reason",
        )
    if effective_from < ctx.clock.today():
        raise InvalidInput(
            "catalog.retroactive",
            "实施清单不能追溯生效，生效日期不能早于当前业务日期",
            f"effective_from {effective_from} is before the business date {ctx.clock.today()}",
            field="effective_from",
        )
    checked = check_local_items(effective_from, items)
    row = {
        "effective_from": effective_from,
        "items": checked,
        "recorded_at": ctx.clock.now(),
        "actor": ctx.actor,
        "reason": text,
    }
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                insert(catalog_local_version).values(**row).returning(catalog_local_version.c.id)
            ).scalar_one()
    except IntegrityError:
        raise Conflict(
            "catalog.duplicate",
            f"{effective_from.isoformat()}已有生效的实施清单",
            f"a local list effective {effective_from} exists",
            field="effective_from",
        ) from None
    codes = [i["code"] for i in checked]
    events.record(conn, ctx, "catalog_local_version.published", "catalog_local_version", new_id,
                  {"effective_from": effective_from, "codes": codes})  # fmt: skip
    return _local_of({**row, "id": new_id})


def publish_as_approved(conn: Connection, ctx: Context, payload: Mapping[str, Any], key: str) -> Published:
    """Carry out an approved ``services.catalog`` (maker-checker, ``hpf.approvals.service``)."""
    row = publish_local_version(
        conn,
        ctx,
        date.fromisoformat(str(payload["effective_from"])),
        payload["items"],
        str(payload["reason"]),
    )
    return Published(version=row.id, effective_from=row.effective_from.isoformat(), codes=row.codes)
