"""The data catalog (数据目录, B3): one row per stored column, joined from the data element
registry, the classification registry (name, grade, protection) and the schema (stored type).

Served as JSON and CSV at ``/api/v1/data/catalog`` and as the page ``/data/catalog``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from hpf.data.layout import exported_in
from hpf.data.registry import Element, Sharing, load
from hpf.kernel.codes import code_table
from hpf.kernel.exports import safe_cell
from hpf.schema import metadata

LOCAL_ZH = "本中心自定义（基础数据标准未列）"


@dataclass(frozen=True)
class CatalogRow:
    element: str
    name_zh: str
    table: str
    table_name_zh: str
    column: str
    in_standard: bool
    standard_fields: str  # "5.0.4.GRZHZT" (several separated by "; "), "" when center-local
    standard_name_zh: str  # the standard field's name, or LOCAL_ZH
    standard_type: str  # the standard's type, "" when center-local
    stored_type: str
    code_table: str
    code_table_name_zh: str
    owner: str
    sharing: str
    sharing_zh: str
    grade: str
    grade_zh: str
    personal: bool
    sensitive: bool
    encrypted: bool
    masking: str
    published: str  # routes separated by "; "
    exported: str  # the export's files that carry it ("hpf data export 4.0.3"), "; "-separated
    note: str


def _row(e: Element) -> CatalogRow:
    registry = load()
    fc = e.classification
    first = registry.fields[e.standard[0].field] if e.standard else None
    stored = str(metadata.tables[e.table].c[e.column].type)
    return CatalogRow(
        element=e.element,
        name_zh=fc.label_zh,
        table=e.table,
        table_name_zh=e.table_name_zh,
        column=e.column,
        in_standard=e.is_standard,
        standard_fields="; ".join(str(r) for r in e.standard),
        standard_name_zh=first.name_zh if first else LOCAL_ZH,
        standard_type=first.type if first else "",
        stored_type=stored,
        code_table=e.code_table or "",
        code_table_name_zh=code_table(e.code_table).name_zh if e.code_table else "",
        owner=e.owner,
        sharing=e.sharing.value,
        sharing_zh=e.sharing.label_zh,
        grade=fc.grade.value,
        grade_zh=fc.grade.label_zh,
        personal=fc.personal,
        sensitive=fc.sensitive,
        encrypted=fc.encrypt,
        masking=fc.masking or "",
        published="; ".join(e.published),
        exported="; ".join(
            f"hpf data export {s}" for s in exported_in(e.table, [r.table for r in e.standard])
        ),
        note=e.note,
    )


def catalog(
    *,
    table: str | None = None,
    owner: str | None = None,
    sharing: str | None = None,
    grade: str | None = None,
    standard: bool | None = None,
) -> list[CatalogRow]:
    """The catalog's rows, filtered (each filter an exact match; ``None`` = any)."""
    rows = [_row(e) for e in load().elements]
    return [
        r
        for r in rows
        if (table is None or r.table == table)
        and (owner is None or r.owner == owner)
        and (sharing is None or r.sharing == sharing)
        and (grade is None or r.grade == grade)
        and (standard is None or r.in_standard == standard)
    ]


FIELDS: tuple[str, ...] = tuple(CatalogRow.__dataclass_fields__)


def to_csv(rows: Sequence[CatalogRow]) -> str:
    """The rows as CSV (UTF-8 text, header = field names; formula-safe cells)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow([safe_cell(v) if isinstance(v, str) else v for v in asdict(r).values()])
    return out.getvalue()


def choices() -> dict[str, list[str]]:
    """The filter values the page offers: tables, owners, sharing attributes and grades."""
    registry = load()
    return {
        "tables": sorted(registry.table_owner),
        "owners": sorted(set(registry.table_owner.values())),
        "sharing": [s.value for s in Sharing],
        "grades": ["core", "important", "general"],
    }
