"""Issue 16's acceptance for the audit pack: on a simulated center with planted defects, the scan
finds at least 95 % of them, and at most 5 % of its findings are false (neither planted nor a
defect the city already had)."""

from __future__ import annotations

import json

import pytest

from hpf.db.engine import read_transaction
from hpf.inspection.rules import rules
from hpf.inspection.service import find, scan
from hpf.sim.defects import plant, read_key, registry, write_key
from hpf.sim.defects.audit import PLANTERS
from inspection_city import TODAY


def test_the_registry_holds_one_planter_per_rule_of_the_pack():
    assert set(PLANTERS) == {rule.id for rule in rules()}
    assert set(PLANTERS) <= set(registry())


@pytest.mark.slow  # the lived city (shared) and a planted copy: over ten seconds on its own
def test_the_scan_finds_the_planted_defects_and_little_else(city, tmp_path):
    with read_transaction(city) as conn:
        before = {(rule, r.object) for rule, rows in find(conn, TODAY).items() for r in rows}
    planted = plant(city, count=3, today=TODAY, seed=11, planters=PLANTERS)
    key = tmp_path / "key.jsonl"
    assert write_key(key, planted) == len(planted)
    assert read_key(key) == planted
    first = json.loads(key.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"kind", "object"} and isinstance(first["object"], str)
    kinds = {p.kind for p in planted}
    assert kinds == set(PLANTERS)  # every kind planted at least once on this small city
    assert len(planted) >= 3 * len(PLANTERS) - 4  # loans are few: a kind may get fewer
    summary = scan(city, at=TODAY)
    found = {(f.rule, f.object) for f in summary.findings}
    expected = {(p.kind, p.object) for p in planted}
    recall = len(found & expected) / len(expected)
    false = found - expected - before
    assert recall >= 0.95, sorted(expected - found)
    assert len(false) <= 0.05 * len(found), sorted(false)
    assert summary.new_cases == len(found)
    lines = [json.loads(json.dumps(f.to_json(), default=str)) for f in summary.findings]
    assert all({"rule", "object", "severity", "case"} <= set(line) for line in lines)
