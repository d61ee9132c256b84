"""Protected personal fields (G2): which columns are stored encrypted, the process key ring,
and the two conversions every storage module uses — plaintext values to stored columns
(``to_stored``) and stored rows back to plaintext values (``to_plain``).

A protected field ``F`` of a table is stored as ``F_enc`` (an SM4-GCM token, ``hpf.protection.crypto``)
and, when exact lookup by it is needed, ``F_bidx`` (a keyed HMAC-SM3 blind index). Which
fields these are is read from ``hpf.protection.classification`` (``encrypt=True`` on ``F_enc``),
so the declaration there is the one place that decides. Callers above storage only ever see
``F`` in plaintext; a module that forgot to convert fails loudly (there is no ``F`` column to
insert into), rather than storing plaintext.

**The ring.** One key ring serves the process. ``hpf.bootstrap`` builds it from settings when
the process starts and installs it — ``KeyRing.from_settings`` refuses to start without a
real key outside development, and gives the public development ring only in development. There
is no fallback: a process that did not start through bootstrap and asks for the ring is refused
(``wiring.missing``), never handed the development ring.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import RowMapping

from hpf.kernel.wiring import not_wired
from hpf.protection.classification import encrypted_fields, table_fields
from hpf.protection.crypto import KeyRing
from hpf.protection.masking import mask

_installed: KeyRing | None = None


def install(ring: KeyRing) -> None:
    """Use ``ring`` for every protected field of this process from now on."""
    global _installed
    _installed = ring


def uninstall() -> None:
    """No ring any more: protected fields are refused until one is installed (tests)."""
    global _installed
    _installed = None


def ring() -> KeyRing:
    """The installed ring; refused when the process did not start through ``hpf.bootstrap``."""
    if _installed is None:
        raise not_wired("key ring")
    return _installed


@cache
def protected(table: str) -> tuple[tuple[str, bool], ...]:
    """The protected fields of ``table`` as ``(field, has_blind_index)``."""
    fields = table_fields(table)
    out = []
    for declared in encrypted_fields():
        if declared.table == table and declared.column.endswith("_enc"):
            name = declared.column.removesuffix("_enc")
            out.append((name, f"{name}_bidx" in fields))
    return tuple(out)


def context(table: str, field: str) -> str:
    """The encryption and blind-index context of a protected field (``"member.resident_id"``)."""
    return f"{table}.{field}"


def seal(table: str, field: str, value: str | None) -> str | None:
    return None if value is None else ring().encrypt(value, context=context(table, field))


def reveal(table: str, field: str, token: object) -> str | None:
    return None if token is None else ring().decrypt(str(token), context=context(table, field))


def blind_index(table: str, field: str, value: str) -> str:
    """The lookup key of ``value`` (normalise it first: upper-case ``X``, no spaces)."""
    return ring().blind_index(value, context=context(table, field))


def to_stored(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each protected plaintext field replaced by its token (and blind index)."""
    out = dict(values)
    for name, indexed in protected(table):
        if name in out:
            plain = out.pop(name)
            out[f"{name}_enc"] = seal(table, name, plain)
            if indexed:
                out[f"{name}_bidx"] = None if plain is None else blind_index(table, name, plain)
    return out


def to_plain(table: str, row: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
    """A stored row with each token replaced by its plaintext field; blind indexes dropped."""
    out = dict(row)
    for name, indexed in protected(table):
        if f"{name}_enc" in out:
            out[name] = reveal(table, name, out.pop(f"{name}_enc"))
        if indexed:
            out.pop(f"{name}_bidx", None)
    return out


# Fields stored in clear in the row but masked in history snapshots: a snapshot is a second,
# permanent copy, and keeps no more of a person than it needs to show that something changed.
SNAPSHOT_MASKED_KINDS = frozenset({"birth_date"})


def without_secrets(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each protected field masked (``138****0000``, ``1****************4``) and
    the birth date kept to its year: for history snapshots.

    A snapshot records that a field changed and roughly to what; the full value lives only in
    the row, encrypted, so key rotation never has to rewrite history. The masks are those of
    responses (``hpf.protection.masking``), chosen so that nothing else stored in clear completes
    them (decision 0017).
    """
    out = dict(values)
    fields = table_fields(table)
    for name, _ in protected(table):
        if out.get(name) is not None:
            kind = fields[name].masking
            out[name] = mask(out[name], kind) if kind else "****"
    for name, value in values.items():
        field = fields.get(name)
        if value is not None and field is not None and field.masking in SNAPSHOT_MASKED_KINDS:
            out[name] = mask(value, field.masking)
    return out
