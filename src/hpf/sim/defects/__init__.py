"""Planted defects (issue 16 item 5): known defects put into a simulated center, and their key.

``hpf simulate --months M --plant-defects N --answer-key FILE`` lives M months, then asks every
planter of every family for N defects of its kind and writes what they touched to FILE, outside
the database: one JSON object a line, ``{"kind": <rule id>, "object": <identifier>}``. The kind
is the id of the rule that must find the defect (``hpf inspection scan`` for the ``A-…`` kinds,
``hpf data scan`` for the quality kinds); the object is the identifier that scan prints with
``--json``: an account number, an employer account number, a journal entry, application or
loan id, as a string.

A planter plants ``count`` defects of its kind (fewer if the city lacks candidates) in the
caller's transaction and says which objects it touched. A defect a service would refuse stands
for legacy stock data and goes through the function its owner publishes for loading stock (e.g.
``hpf.accounts.bulk``); a defect that is a behaviour (a base raised just before a withdrawal, a
rent withdrawal over the yearly limit) goes through the services as a person would do it.

The families: ``hpf.sim.defects.audit`` (the electronic audit's kinds) and
``hpf.sim.defects.quality`` (the data quality kinds), each a ``PLANTERS: dict[str, Planter]``.
Each object carries one planted defect: a kind whose planter picked an object another kind had
already taken is planted again with another random stream (two defects on one employer — say an
invalid state code and a rate over the cap — would hide each other from the rules).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, Engine

from hpf.db.engine import write_transaction


@dataclass(frozen=True, slots=True)
class PlantedDefect:
    kind: str  # the id of the rule that must find it
    object: str  # the identifier that rule's scan prints


Planter = Callable[[Connection, random.Random, int, date], list[PlantedDefect]]
"""``planter(conn, rng, count, today)``: plant ``count`` defects of one kind (fewer if the city
lacks candidates) into a simulated center; the objects it touched."""


def registry() -> dict[str, Planter]:
    """Every family's planters by kind; a kind planted by two families is refused."""
    from hpf.sim.defects import audit, quality  # they build on this module's types

    merged: dict[str, Planter] = {}
    for planters in (audit.PLANTERS, quality.PLANTERS):
        for kind, planter in planters.items():
            if kind in merged:
                raise ValueError(f"defect kind {kind} is planted by two families")
            merged[kind] = planter
    return merged


ATTEMPTS = 5


def plant(
    engine: Engine, *, count: int, today: date, seed: int = 7, planters: Mapping[str, Planter] | None = None
) -> list[PlantedDefect]:
    """Plant ``count`` defects of every kind, each kind in its own transaction (in kind order,
    each with its own random stream from ``seed``), none on an object another kind took; what was
    planted. A kind that keeps landing on taken objects after ``ATTEMPTS`` streams plants nothing."""
    planted: list[PlantedDefect] = []
    taken: set[str] = set()
    chosen = registry() if planters is None else planters
    for kind in sorted(chosen):
        with write_transaction(engine) as conn:
            for attempt in range(ATTEMPTS):
                rng = random.Random(f"{seed}:{kind}" + (f":{attempt}" if attempt else ""))
                savepoint = conn.begin_nested()
                defects = chosen[kind](conn, rng, count, today)
                if taken.isdisjoint(d.object for d in defects):
                    savepoint.commit()
                    planted += defects
                    taken.update(d.object for d in defects)
                    break
                savepoint.rollback()
    return planted


def write_key(path: Path, defects: Iterable[PlantedDefect]) -> int:
    """The answer key: one ``{"kind", "object"}`` JSON object a line; how many lines."""
    lines = [json.dumps({"kind": d.kind, "object": d.object}, ensure_ascii=False) for d in defects]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return len(lines)


def read_key(path: Path) -> list[PlantedDefect]:
    """An answer key written by :func:`write_key`."""
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return [PlantedDefect(str(r["kind"]), str(r["object"])) for r in rows]
