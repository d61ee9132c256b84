"""Which center tables each standard table of the export is read from (``hpf.data.export``):
light, so the catalog can say where a column is exported without loading pyarrow."""

from __future__ import annotations

EXPORT_SOURCES: dict[str, tuple[str, ...]] = {
    "4.0.2": ("employer",),
    "4.0.3": ("member",),
    "5.0.2": ("employer",),
    "5.0.3": ("remittance",),
    "5.0.4": ("member",),
    "5.0.5": ("journal_entry", "journal_line"),
    "6.0.2": ("loan",),
    "6.0.5": ("loan",),
    "8.0.2": ("ledger_subject",),
    "8.0.5": ("journal_entry", "journal_line"),
    "JSLS": ("payment_order",),
}


def exported_in(table: str, standard_tables: list[str]) -> list[str]:
    """The export's standard tables (of those a column maps to) that take a column of ``table``."""
    return [s for s in standard_tables if table in EXPORT_SOURCES.get(s, ())]
