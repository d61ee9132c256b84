"""Typed results handed from a service to an API or a page, and their plain-mapping view.

Services return frozen dataclasses (``@dataclass(frozen=True, slots=True)``) rather than
``dict[str, Any]``: what a page or an API may rely on is then written down and checked by mypy.
The HTTP edge still needs a mapping in two places — masking (``hpf.protection.masking`` works
field by field on a mapping keyed by column name) and the JSON body — and :func:`fields_of` is the
one way to get it: a shallow ``{field: value}`` of a dataclass, a pydantic model or a mapping.
Shallow because nested values are serialised by the JSON encoder, not rebuilt here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

Record = object
"""A service result: a dataclass instance, a pydantic model or a mapping (checked at run time)."""


def fields_of(record: Record) -> dict[str, Any]:
    """``record``'s fields as a new dict (one level deep)."""
    if isinstance(record, Mapping):
        return dict(record)
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    dump = getattr(record, "model_dump", None)
    if callable(dump):
        return dict(dump())
    raise TypeError(f"not a record: {type(record).__name__}")
