"""The hub's register of supervision reports (decision 0039): a version is current once every
chunk arrived, a restatement supersedes it (its files stay), and what cannot be right is refused."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid4

import pyarrow.parquet as pq
import pytest

from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.hub import warehouse
from hpf.hub.schema import upgrade
from hpf.kernel.errors import HpfError
from hpf.messages.bodies import IndicatorValue, SupervisionReport
from hpf.messages.keys import KeyPair
from hub_support import HUB_CODE, HUB_KEYS, compose, now

A = KeyPair.generate()
PERSON = "ab" * 32


def chunk(report_id: UUID, version: int, number: int, chunks: int, balance: int) -> SupervisionReport:
    return SupervisionReport(
        report_id=report_id, month="2026-10", version=version, chunk=number, chunks=chunks, members_total=chunks,
        indicators=[IndicatorValue(code="0301008101", value=Decimal(balance * chunks))] if number == 0 else [],
        members=[(PERSON[:-2] + f"{number:02d}", "01", False, 100, 0, 0, 0, 0, 0, 0, balance, 0, 0)],
    )  # fmt: skip


@pytest.fixture
def hub(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    upgrade(engine)
    yield engine, tmp_path / "warehouse"
    engine.dispose()


def take(hub, body: SupervisionReport) -> None:
    engine, directory = hub
    envelope = compose(A, "330100", HUB_CODE, HUB_KEYS, "SUP101", body)
    with write_transaction(engine) as conn:
        warehouse.take(conn, directory, envelope, body, now())


def states(hub) -> list[tuple[int, str, int]]:
    engine, _ = hub
    with read_transaction(engine) as conn:
        return [(r.version, r.state, r.chunks_received) for r in reversed(warehouse.reports(conn))]


def balance(hub) -> Decimal:
    engine, directory = hub
    with read_transaction(engine) as conn:
        files = warehouse.current_files(conn, directory)
    wh = warehouse.Warehouse(files)
    try:
        rows = wh.query("SELECT SUM(value) FROM indicators WHERE code = '0301008101'")
        members = wh.query("SELECT SUM(balance_fen), COUNT(*) FROM members")
    finally:
        wh.close()
    assert Decimal(members[0][0] or 0) == Decimal(rows[0][0] or 0)  # the members add up to the figure
    return Decimal(rows[0][0] or 0)


def test_versions_chunks_restatements_and_refusals(hub):
    first = uuid4()
    take(hub, chunk(first, 1, 0, 2, 500))
    assert states(hub) == [(1, "receiving", 1)] and balance(hub) == 0  # half a report is never read
    take(hub, chunk(first, 1, 1, 2, 500))
    assert states(hub) == [(1, "current", 2)] and balance(hub) == 1000

    def refused(body: SupervisionReport) -> str:
        with pytest.raises(HpfError) as caught:
            take(hub, body)
        assert caught.value.status == 409
        return caught.value.code

    assert refused(chunk(first, 1, 1, 2, 500)) == "hub.report_chunk_taken"
    assert refused(chunk(uuid4(), 1, 0, 1, 700)) == "hub.report_version_taken"
    third = uuid4()
    take(hub, chunk(third, 3, 0, 1, 800))  # a restatement (version 2 never came)
    assert states(hub) == [(1, "superseded", 2), (3, "current", 1)] and balance(hub) == 800
    assert refused(chunk(uuid4(), 2, 0, 1, 900)) == "hub.report_stale"
    assert refused(chunk(first, 1, 0, 3, 500)) == "hub.report_mismatch"
    _, directory = hub
    kept = warehouse.indicator_file(directory, "330100", "2026-10", 1)
    assert kept.exists() and pq.read_table(kept).column("value").to_pylist() == [Decimal("1000.0000")]
    member = pq.read_table(warehouse.member_file(directory, "330100", "2026-10", 3, 0))
    assert member.column("person_key").to_pylist() == [warehouse.person_key(PERSON[:-2] + "00")]


def test_a_hub_without_a_warehouse_refuses_a_report(hub):
    engine, _ = hub
    body = chunk(uuid4(), 1, 0, 1, 1)
    with pytest.raises(HpfError) as caught, write_transaction(engine) as conn:
        warehouse.take(conn, None, compose(A, "330100", HUB_CODE, HUB_KEYS, "SUP101", body), body, now())
    assert caught.value.code == "hub.warehouse_unconfigured"
