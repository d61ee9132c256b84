"""The data element registry (数据元注册表): every stored column described as a data element.

The registry is data, not code: ``elements/<owner>.json`` (one file per owning package: the
package that writes the table — one datum, one source) and ``elements/standard.json`` (the
tables and field codes of the basic data standard JGJ/T 320-2014 as REFERENCE.md §6.1
reconstructs them). This module reads and checks them once:

- every column names either the standard fields it carries (``"standard": ["5.0.4.GRZHZT"]``;
  its element code is the first field's code) or a center-local element code
  (``"element": "HPF_<TABLE>_<COLUMN>"``) — a column the standard does not list is never given a
  standard field name;
- ``code_table`` names a table of ``hpf.kernel.codes`` when the column holds codes (quality rules
  and doors validate against it);
- ``sharing`` (无条件共享 / 有条件共享 / 不予共享) is the table's unless the column overrides it;
- ``note``: what a reader or a quality rule must know (a mixed code column, for instance);
- ``published``: the routes (``"GET /api/v1/..."``) that show the column; the table's list
  unless the column overrides it (``[]``: shown nowhere);
- the Chinese name, grade and protection come from the classification registry
  (``hpf.protection.classification``), never repeated here.

Whether every column of the schema is described (and nothing stale) is checked by
:func:`coverage_problems` against a metadata, which the test suite calls with ``hpf.schema``'s.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

from hpf.kernel import codes as code_tables
from hpf.protection.classification import FieldClass, classify

STANDARD = "JGJ/T 320-2014"


class Sharing(StrEnum):
    """共享属性 (政务信息资源共享: unconditional, conditional, not shared)."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NONE = "none"

    @property
    def label_zh(self) -> str:
        return {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"}[self.value]


@dataclass(frozen=True)
class StandardField:
    code: str  # e.g. GRZHZT
    name_zh: str
    type: str  # the standard's type, e.g. VARCHAR(2), NUMERIC(18,2)
    name_from: str  # "reference" (REFERENCE.md names it) or "pinyin" (read from its initials: UNVERIFIED)


@dataclass(frozen=True)
class StandardRef:
    """One field of one standard table a column carries: ``5.0.4.GRZHZT``."""

    table: str  # "5.0.4"
    field: str  # "GRZHZT"

    def __str__(self) -> str:
        return f"{self.table}.{self.field}"


@dataclass(frozen=True)
class Element:
    """One column of the center schema as a data element."""

    table: str
    column: str
    owner: str  # the package that writes it
    element: str  # element code: the standard field code, or HPF_<TABLE>_<COLUMN> (center-local)
    standard: tuple[StandardRef, ...]  # () = center-local, not in the standard
    code_table: str | None
    sharing: Sharing
    published: tuple[str, ...]
    table_name_zh: str
    note: str = ""  # what a reader (or a quality rule) must know about the column, in Chinese

    @property
    def is_standard(self) -> bool:
        return bool(self.standard)

    @property
    def classification(self) -> FieldClass:
        return classify(self.table, self.column)

    @property
    def name_zh(self) -> str:
        return self.classification.label_zh


@dataclass(frozen=True)
class Registry:
    standard_tables: Mapping[str, str]  # "4.0.3" -> 个人信息
    fields: Mapping[str, StandardField]
    elements: tuple[Element, ...]
    table_owner: Mapping[str, str]

    def element(self, table: str, column: str) -> Element:
        for e in self.elements:
            if e.table == table and e.column == column:
                return e
        raise KeyError(f"{table}.{column} is not in the data element registry")

    def of_table(self, table: str) -> list[Element]:
        return [e for e in self.elements if e.table == table]

    def mapped_to(self, standard_table: str) -> list[tuple[Element, StandardRef]]:
        """The columns carrying a field of ``standard_table``, with that field, in registry order."""
        return [(e, ref) for e in self.elements for ref in e.standard if ref.table == standard_table]

    def coded(self) -> list[Element]:
        return [e for e in self.elements if e.code_table is not None]


_ELEMENT_CODE = re.compile(r"^HPF_[A-Z0-9_]+$")
_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) /\S*$")


class RegistryError(ValueError):
    """The registry files contradict themselves or the code tables."""


def _read(name: str) -> Any:
    return json.loads(resources.files("hpf.data").joinpath("elements", name).read_text("utf-8"))


def _owner_files() -> list[str]:
    folder = resources.files("hpf.data").joinpath("elements")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json") and p.name != "standard.json")


def _refs(
    raw: Iterable[str], fields: Mapping[str, StandardField], tables: Mapping[str, str]
) -> tuple[StandardRef, ...]:
    refs = []
    for text in raw:
        table, _, field = text.rpartition(".")
        if table not in tables:
            raise RegistryError(f"{text}: no standard table {table!r}")
        if field not in fields:
            raise RegistryError(f"{text}: no standard field {field!r} in standard.json")
        refs.append(StandardRef(table, field))
    return tuple(refs)


@functools.cache
def load() -> Registry:
    """The registry, read from the package data and checked (cached; read-only)."""
    std = _read("standard.json")
    tables: dict[str, str] = dict(std["tables"])
    fields = {
        code: StandardField(code, f["name_zh"], f["type"], f["name_from"])
        for code, f in std["fields"].items()
    }
    for f in fields.values():
        if f.name_from not in ("reference", "pinyin"):
            raise RegistryError(f"standard field {f.code}: name_from must be reference or pinyin")
    codes = code_tables.load_code_tables()
    elements: list[Element] = []
    owner_of: dict[str, str] = {}
    for name in _owner_files():
        raw = _read(name)
        owner = raw["owner"]
        if name != f"{owner}.json":
            raise RegistryError(f"{name}: declares owner {owner!r}; the file is named after its owner")
        for table, spec in raw["tables"].items():
            if table in owner_of:
                raise RegistryError(f"table {table} has two owners: {owner_of[table]} and {owner}")
            owner_of[table] = owner
            table_sharing = Sharing(spec["sharing"])
            table_published = tuple(spec["published"])
            for column, col in spec["columns"].items():
                unknown = set(col) - {"standard", "element", "code_table", "sharing", "published", "note"}
                if unknown:
                    raise RegistryError(f"{table}.{column}: unknown keys {sorted(unknown)}")
                refs = _refs(col.get("standard", ()), fields, tables)
                if refs and "element" in col:
                    raise RegistryError(
                        f"{table}.{column}: a standard column takes its element code from the standard"
                    )
                if not refs:
                    code = col.get("element", "")
                    if not _ELEMENT_CODE.match(code):
                        raise RegistryError(
                            f"{table}.{column}: a center-local element code is HPF_..., not {code!r}"
                        )
                else:
                    code = refs[0].field
                code_table = col.get("code_table")
                if code_table is not None and code_table not in codes:
                    raise RegistryError(f"{table}.{column}: no code table {code_table!r}")
                published = tuple(col.get("published", table_published))
                for route in published:
                    if not _ROUTE.match(route):
                        raise RegistryError(f"{table}.{column}: {route!r} is not 'METHOD /path'")
                elements.append(
                    Element(
                        table=table,
                        column=column,
                        owner=owner,
                        element=code,
                        standard=refs,
                        code_table=code_table,
                        sharing=Sharing(col.get("sharing", table_sharing)),
                        published=published,
                        table_name_zh=spec["name_zh"],
                        note=col.get("note", ""),
                    )
                )
    return Registry(
        standard_tables=MappingProxyType(tables),
        fields=MappingProxyType(fields),
        elements=tuple(elements),
        table_owner=MappingProxyType(owner_of),
    )


def coverage_problems(schema_columns: Mapping[str, Iterable[str]]) -> list[str]:
    """What the registry misses or has stale against ``{table: columns}`` of a schema."""
    registry = load()
    described = {(e.table, e.column) for e in registry.elements}
    stored = {(t, c) for t, cols in schema_columns.items() for c in cols}
    missing = [f"{t}.{c}: not described in hpf/data/elements" for t, c in sorted(stored - described)]
    stale = [f"{t}.{c}: described but not in the schema" for t, c in sorted(described - stored)]
    return missing + stale


def consistency_problems() -> list[str]:
    """Sharing against the classification: what is core, encrypted or a secret is never shared
    unconditionally; a column shown nowhere has no route."""
    wrong = []
    for e in load().elements:
        fc = e.classification
        if e.sharing is Sharing.UNCONDITIONAL and (fc.grade.value == "core" or fc.encrypt or fc.personal):
            wrong.append(f"{e.table}.{e.column}: {fc.grade.label_zh}/personal data cannot be 无条件共享")
    return wrong
