"""Acceptance (issue 16): on a simulated center with planted defects, ``hpf data scan --json``
finds at least 95 % of them, and at most 5 % of its findings are false — neither planted nor a
real defect the simulator makes on purpose (its late lists and receipts: the timeliness rules).
The answer key and the scan's lines meet on ``kind`` = ``rule`` and ``object``."""

from __future__ import annotations

import json
import random

import pytest
from quality_support import TIMELINESS, found, small_center
from typer.testing import CliRunner

from hpf.cli import app as cli
from hpf.db.engine import make_engine, write_transaction
from hpf.quality import service as quality
from hpf.schema import upgrade
from hpf.sim.defects import PlantedDefect
from hpf.sim.defects.quality import PLANTERS

runner = CliRunner()


@pytest.mark.slow
def test_the_scan_finds_the_planted_defects_and_little_else(tmp_path, monkeypatch, wiring):
    url = f"sqlite:///{tmp_path}/center.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    today = small_center(engine, employers=40, members=400, months=4, seed=9)
    monkeypatch.setenv("HPF_DATABASE_URL", url)

    healthy = runner.invoke(cli, ["data", "scan", "--json"])
    assert healthy.exit_code == 0, healthy.output
    before = [json.loads(line) for line in healthy.output.splitlines() if line.strip()]
    assert {f["rule"] for f in before} <= TIMELINESS  # a healthy record is never flagged

    rng = random.Random(2026)
    key: list[PlantedDefect] = []
    with write_transaction(engine) as conn:
        for planter in PLANTERS.values():
            key += planter(conn, rng, 4, today)
    assert {d.kind for d in key} == set(PLANTERS)
    assert len(key) >= 60
    answer = {(d.kind, d.object) for d in key}

    done = runner.invoke(cli, ["data", "scan", "--json"])
    assert done.exit_code == 0, done.output
    lines = [json.loads(line) for line in done.output.splitlines() if line.strip()]
    assert all({"rule", "object", "dimension", "table", "severity"} <= set(f) for f in lines)
    assert all(isinstance(f["object"], str) for f in lines)
    findings = {(f["rule"], f["object"]) for f in lines}
    real = {(f["rule"], f["object"]) for f in before}  # the simulator's late payers
    recall = len(answer & findings) / len(answer)
    false = findings - answer - {f for f in findings if f[0] in TIMELINESS and f in real}
    assert recall >= 0.95, sorted(answer - findings)
    assert len(false) / len(findings) <= 0.05, sorted(false)
    # The CLI revealed the ID numbers in worker processes; in this one the findings are the same.
    alone = quality.scan(engine, at=today, workers=1)
    assert found(engine, alone.run_id) == findings
    text = runner.invoke(cli, ["data", "scan", "--workers", "2"])
    assert text.exit_code == 0 and "数据质量检查" in text.output and "有效性" in text.output
    engine.dispose()


def test_every_planter_names_a_rule():
    ids = {r.id for r in quality.rules()}
    assert set(PLANTERS) <= ids


def test_the_fast_id_check_agrees_with_the_kernel():
    """IdChecker (inline format, check character and date; the region asked once per region and
    year) gives the kernel's verdict on valid numbers and on every kind of wrong one."""
    from datetime import date

    from factories import make_resident_id
    from hpf.kernel.errors import InvalidInput
    from hpf.kernel.identifiers import parse_resident_id, resident_id_check_digit
    from hpf.quality.checks import IdChecker

    today = date(2025, 3, 15)
    rng = random.Random(5)
    numbers = [
        make_resident_id(i, birth=f"19{rng.randint(40, 99)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}")
        for i in range(300)
    ]
    wrong = []
    for n in numbers[:60]:
        wrong += [
            n[:17] + next(c for c in "0123456789X" if c != n[17]),  # check character
            "990000" + n[6:17],  # unknown region, then completed below
            n[:6] + "20991231" + n[14:17],  # birth date in the future
            n[:6] + "19990231" + n[14:17],  # no such day
            n[:17],  # length
            n[:16] + "A" + n[17],  # format
        ]
    completed = [
        w + resident_id_check_digit(w) if len(w) == 17 and w.isdigit() and w.startswith("99") else w
        for w in wrong
    ]
    checker = IdChecker(today)
    for number in numbers + completed + ["110101" + "18991231" + "001" + "X"]:
        try:
            rid = parse_resident_id(number, today=today)
            expected = (None, rid.birth_date, rid.gender)
        except InvalidInput as exc:
            expected = (exc.code, None, None)
        assert checker.check(number) == expected, number
