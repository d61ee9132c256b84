"""The data element registry describes every column of the schema, and only those; its
standard mappings, code tables, sharing and published routes hold together."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from hpf.data import registry
from hpf.data.registry import RegistryError, Sharing, coverage_problems, load
from hpf.kernel.codes import code_table
from hpf.protection.classification import classify
from hpf.schema import metadata


def schema_columns() -> dict[str, list[str]]:
    return {name: [c.name for c in t.columns] for name, t in metadata.tables.items()}


def test_every_column_of_the_schema_is_described_and_nothing_stale():
    assert coverage_problems(schema_columns()) == []


def test_a_missing_or_stale_column_is_reported():
    cols = schema_columns()
    cols["member"] = [*cols["member"], "shoe_size"]
    cols["employer"] = [c for c in cols["employer"] if c != "uscc"]
    found = coverage_problems(cols)
    assert "member.shoe_size: not described in hpf/data/elements" in found
    assert "employer.uscc: described but not in the schema" in found


def test_the_owner_is_the_package_whose_module_defines_the_table():
    """One datum, one source: the owning package named in the registry is the package whose
    module declares the table (``Table("name", metadata, ...)``) and so writes it."""
    import ast
    from pathlib import Path

    src = Path(registry.__file__).parents[1]
    defined: dict[str, str] = {}
    for path in src.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Table"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in metadata.tables
            ):
                defined[node.args[0].value] = path.relative_to(src).parts[0].removesuffix(".py")
    owners = dict(load().table_owner)
    assert set(defined) == set(metadata.tables)
    assert owners == defined


def test_standard_columns_take_known_fields_and_local_ones_say_so():
    reg = load()
    for e in reg.elements:
        if e.is_standard:
            assert e.element == e.standard[0].field
            for ref in e.standard:
                assert ref.table in reg.standard_tables and ref.field in reg.fields
        else:
            assert e.element == f"HPF_{e.table.upper()}_{e.column.upper()}"
    # a few mappings the reference gives outright
    assert [str(r) for r in reg.element("member", "state").standard] == ["5.0.4.GRZHZT"]
    assert reg.element("member", "gender").code_table == "gender"
    assert reg.element("loan", "classification").element == "DKFXDJ"
    assert not reg.element("member", "version").is_standard


def test_code_tables_of_coded_columns_hold_the_stored_codes_width():
    """A coded column is wide enough for every code of its table (a 3-digit 经济类型 code would
    not fit a VARCHAR(2))."""
    for e in load().coded():
        width = metadata.tables[e.table].c[e.column].type.length  # type: ignore[attr-defined]
        longest = max(len(c.code) for c in code_table(e.code_table))
        assert width is None or width >= longest, (e.table, e.column)


def test_every_code_field_the_standard_codes_is_coded():
    """A column carrying a standard field that has a code table (ZJLX, GRZHZT, ...) names it."""
    from hpf.kernel.codes import load_code_tables

    coded_fields = {t.field: t.id for t in load_code_tables().values() if t.field}
    for e in load().elements:
        for ref in e.standard:
            if ref.field in coded_fields:
                assert e.code_table == coded_fields[ref.field], (e.table, e.column, ref.field)


def test_sharing_agrees_with_the_classification():
    assert registry.consistency_problems() == []
    reg = load()
    assert reg.element("member", "resident_id_enc").sharing is Sharing.CONDITIONAL
    assert reg.element("member", "resident_id_bidx").sharing is Sharing.NONE
    assert reg.element("principal", "password_hash").sharing is Sharing.NONE
    assert reg.element("ledger_subject", "code").sharing is Sharing.UNCONDITIONAL
    # the grade comes from the classification registry, not the element files
    assert reg.element("member", "resident_id_enc").classification == classify("member", "resident_id_enc")


def test_published_routes_exist(wiring):
    from hpf.app import create_app
    from hpf.settings import Settings

    app = create_app(Settings(env="development", database_url="sqlite://"), engine=_memory_engine())
    routes = {f"{m} {r.path}" for r in app.routes for m in (getattr(r, "methods", None) or ())}
    unknown = sorted({p for e in load().elements for p in e.published} - routes)
    assert unknown == []


def _memory_engine():
    from hpf.db.engine import make_engine

    return make_engine("sqlite://")


def test_the_element_files_refuse_what_they_cannot_mean(monkeypatch):
    """A standard field that the standard file does not know, or a local element code that is not
    HPF_..., fails the load."""
    real = registry._read

    def patched(name: str):
        raw = real(name)
        if name == "accounts.json":
            raw["tables"]["member"]["columns"]["version"] = {"standard": ["4.0.3.BANBENHAO"]}
        return raw

    monkeypatch.setattr(registry, "_read", patched)
    registry.load.cache_clear()
    try:
        with pytest.raises(RegistryError, match="no standard field 'BANBENHAO'"):
            registry.load()
    finally:
        registry.load.cache_clear()


def test_the_files_ship_as_package_data():
    names = {p.name for p in resources.files("hpf.data").joinpath("elements").iterdir()}
    assert "standard.json" in names and "accounts.json" in names
    json.loads(resources.files("hpf.data").joinpath("elements", "standard.json").read_text("utf-8"))


def test_every_owner_has_a_chinese_name_for_the_catalog_page():
    """The 数据目录 page names owners in Chinese: a new owning package needs its name there."""
    from hpf.data.pages import OWNER_ZH

    assert set(load().table_owner.values()) - set(OWNER_ZH) == set()
