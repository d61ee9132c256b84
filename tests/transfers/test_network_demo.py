"""Money conservation across the network (issue 14, acceptance; decision 0035): ``hpf network demo
--no-serve`` builds a hub and three centers, each its own SQLite file and its own process, lives
three months in which people move between the cities and transfer through the hub and the fake
bank, then runs every center's ``hpf check`` and the hub's ``hpf hub reconcile``.

Read from the centers' own databases afterwards: every letter is on both sides; for each
transfer the old center's payout the bank paid equals the new center's ledger credit to the
member (Dr 101 / Cr 201 外部转入); each old center's payout was the member's whole balance when approved
(the ledger's debit of the closed account); nothing is left in transit; and the hub's
reconciliation, which knows only what the centers reported, finds a disagreement planted in a
copy of its database.

Supervision reporting (issue 15, acceptance 1; decisions 0039, 0040): each center reported each
month to the hub; the hub's national and provincial figures of every month equal the sum of what
the centers sent, the hub classified every center every month, and the demo's check finds a
figure changed in a copy of a center's database.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.hub import national
from hpf.hub import warehouse as hub_warehouse
from hpf.hub.supervision.tables import hub_center_class
from hpf.hub.tables import hub_transfer_report
from hpf.ledger.chart import MEMBER_CONTROL, Side
from hpf.ledger.queries import entry_amount
from hpf.settlement.tables import payment_order
from hpf.sim import network
from hpf.supervision import service as supervision
from hpf.supervision.tables import supervision_report
from hpf.transfers.tables import transfer

pytestmark = pytest.mark.slow

CODES = ("330100", "440300", "510100")
PROVINCE = {"330100": "浙江", "440300": "广东", "510100": "四川"}
MONTHS = ("2025-01", "2025-02", "2025-03")
HPF = [sys.executable, "-m", "hpf.cli"]


def _free_base() -> int:
    """Five consecutive free ports below the ephemeral range: a port the kernel hands out for an
    outgoing connection (any test's client, meanwhile) could otherwise be taken between this
    check and the server's bind, as it once was."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        base = random.randrange(max(1024, low - 12_000), low - 5)
        try:
            for port in range(base, base + 5):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no five free ports")


def _hpf(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HPF, *args], env={**os.environ, "COLUMNS": "200", **env}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def _sides(data: Path) -> dict[str, dict[str, dict[str, object]]]:
    """Every letter's sides as the centers' own tables hold them, with the money the ledger and
    the bank's payment show: ``paid_fen`` (out) and ``credited_fen`` (in)."""
    found: dict[str, dict[str, dict[str, object]]] = {}
    for code in CODES:
        engine = make_engine(f"sqlite:///{data}/{code}.sqlite3")
        with read_transaction(engine) as conn:
            rows = conn.execute(select(transfer)).mappings().all()
            for row in rows:
                side: dict[str, object] = {"center": code, "state": row["state"], "peer": row["peer"]}
                if row["side"] == "out" and row["payment_order_id"] is not None:
                    order = conn.execute(
                        select(payment_order.c.state, payment_order.c.amount_fen).where(
                            payment_order.c.id == row["payment_order_id"]
                        )
                    ).one()
                    side["paid_fen"] = order.amount_fen if order.state == "paid" else None
                    side["order_state"] = order.state
                    # the closed account's whole balance went out: the reservation's debit of 201
                    reserve = conn.scalar(
                        select(payment_order.c.reserve_entry_id).where(
                            payment_order.c.id == row["payment_order_id"]
                        )
                    )
                    side["debited_fen"] = entry_amount(conn, reserve, MEMBER_CONTROL, Side.DEBIT)
                if row["side"] == "in":
                    side["credited_fen"] = (
                        entry_amount(conn, row["credit_entry_id"], MEMBER_CONTROL, Side.CREDIT)
                        if row["credit_entry_id"] is not None
                        else None
                    )
                found.setdefault(row["letter_no"], {})[row["side"]] = side
        engine.dispose()
    return found


def test_three_cities_conserve_money_and_the_hub_reconciles(tmp_path) -> None:
    data = tmp_path / "net"
    done = _hpf(
        ["network", "demo", "--no-serve", "--data-dir", str(data), "--members", "90", "--months", "3",
         "--base-port", str(_free_base())],
        {},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert done.stdout.count("ledger OK") == 3
    assert "差异 0 笔" in done.stdout

    sides = _sides(data)
    completed = [n for n, s in sides.items() if s["in"]["state"] == "completed"]
    assert len(completed) >= 6  # people moved every month between the three cities
    assert {s["in"]["center"] for s in sides.values()} == set(CODES)  # each city took people in
    paid = credited = 0
    for letter, pair in sides.items():
        assert set(pair) == {"in", "out"}, letter  # both sides know every letter
        new, old = pair["in"], pair["out"]
        assert (new["peer"], old["peer"]) == (old["center"], new["center"])
        assert new["state"] == old["state"], letter  # both ended alike
        if new["state"] == "completed":
            # the old center's payout the bank paid = the new center's credit to the member
            assert old["order_state"] == "paid" and old["paid_fen"] == new["credited_fen"] > 0, letter
            # … and was the member's whole balance there when approved (interest to date included;
            # a late list of the old employer may credit the closed account afterwards)
            assert old["debited_fen"] == old["paid_fen"], letter
            paid += int(old["paid_fen"])  # type: ignore[call-overload]
            credited += int(new["credited_fen"])  # type: ignore[call-overload]
    assert paid == credited > 0  # nothing in transit after the run

    # The hub knows the same figures from the centers' reports …
    hub_url = f"sqlite:///{data}/hub.sqlite3"
    hub = make_engine(hub_url)
    with read_transaction(hub) as conn:
        reported = {
            (r.letter_no, r.side): r
            for r in conn.execute(select(hub_transfer_report)).all()
        }  # fmt: skip
    hub.dispose()
    assert len(reported) == 2 * len(sides)
    for letter in completed:
        assert reported[(letter, "out")].paid_fen == sides[letter]["out"]["paid_fen"]
        assert reported[(letter, "in")].credited_fen == sides[letter]["in"]["credited_fen"]

    # … and `hpf hub reconcile` finds a disagreement planted in a copy of its database.
    shutil.copy(data / "hub.sqlite3", tmp_path / "tampered.sqlite3")
    tampered = make_engine(f"sqlite:///{tmp_path}/tampered.sqlite3")
    first, second = completed[0], completed[1]
    with write_transaction(tampered) as conn:
        conn.execute(
            update(hub_transfer_report)
            .where(hub_transfer_report.c.letter_no == first, hub_transfer_report.c.side == "in")
            .values(credited_fen=hub_transfer_report.c.credited_fen - 100)
        )
        conn.execute(
            delete(hub_transfer_report).where(
                hub_transfer_report.c.letter_no == second, hub_transfer_report.c.side == "out"
            )
        )
    tampered.dispose()
    env = {"HPF_ENV": "development", "HPF_DATABASE_URL": f"sqlite:///{tmp_path}/tampered.sqlite3",
           "HPF_MESSAGE_KEY_FILE": str(data / "hub-keys.json")}  # fmt: skip
    found = _hpf(["hub", "reconcile"], env, timeout=120)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "差异 2 笔" in found.stdout
    lines = [line for line in found.stdout.splitlines() if line.strip().startswith(("33", "44", "51"))]
    assert sorted((line.split()[0], line.split()[1]) for line in lines) == sorted(
        [(first, "amount"), (second, "missing_out")]
    )
    clean = _hpf(["hub", "reconcile"], {**env, "HPF_DATABASE_URL": hub_url}, timeout=120)
    assert clean.returncode == 0 and "差异 0 笔" in clean.stdout

    _the_hub_figures_are_the_sum_of_the_centers(data, tmp_path)
    assert (
        "全国及省级数字核对：3 个月、3 个中心" in done.stdout
        and "差异 0 笔" in done.stdout.split("全国及省级")[1]
    )


def _the_hub_figures_are_the_sum_of_the_centers(data: Path, tmp_path: Path) -> None:
    sent: dict[str, dict[str, dict[tuple[str, str], Decimal]]] = {}
    for code in CODES:
        engine = make_engine(f"sqlite:///{data}/{code}.sqlite3")
        with read_transaction(engine) as conn:
            assert supervision.reported_months(conn) == set(MONTHS), code  # each month, once
            sent[code] = {m: supervision.sent_figures(conn, m) for m in MONTHS}
        engine.dispose()
    hub = make_engine(f"sqlite:///{data}/hub.sqlite3")
    with read_transaction(hub) as conn:
        classed = {(r.center, r.month) for r in conn.execute(select(hub_center_class))}
        files = {m: hub_warehouse.current_files(conn, data / "warehouse", months=[m]) for m in MONTHS}
    hub.dispose()
    assert classed == {(c, m) for c in CODES for m in MONTHS}  # the reporting run classed each, each month
    for month in MONTHS:
        own = {code: sent[code][month] for code in CODES}
        wh = hub_warehouse.Warehouse(files[month])
        try:
            nation = national.month_totals(wh, month)
            provinces = national.province_totals(wh, month)
        finally:
            wh.close()
        additive = {k for f in own.values() for k in f if k[0] not in national.RATIO_CODES}
        assert len(additive) > 50 and set(nation) == additive, month
        for key in additive:
            assert nation[key] == sum((f.get(key, Decimal(0)) for f in own.values()), Decimal(0)), (
                month,
                key,
            )
            for code in CODES:  # one center in each province here
                assert provinces.get((PROVINCE[code], *key), Decimal(0)) == own[code].get(key, Decimal(0))
        assert nation[(national.DEPOSITS, "")] > 0 and nation[(national.DEPOSIT_BALANCE, "")] > 0

    # A center's figure changed after it was sent: the demo's check names the month, the figure
    # and the tiers that no longer add up.
    copy = tmp_path / "changed"
    shutil.copytree(data, copy)
    engine = make_engine(f"sqlite:///{copy}/440300.sqlite3")
    with write_transaction(engine) as conn:
        row = conn.execute(select(supervision_report).where(supervision_report.c.month == "2025-02")).one()
        figures = [
            [c, d, str(Decimal(v) + 1) if c == national.DEPOSITS and d == "" else v]
            for c, d, v in row.figures
        ]
        conn.execute(
            update(supervision_report).where(supervision_report.c.id == row.id).values(figures=figures)
        )
    engine.dispose()
    said: list[str] = []
    found = network.national_checks(network.Layout(copy), said.append)
    assert [line.split("：")[0] for line in found] == [
        f"2025-02 全国 {national.DEPOSITS}",
        f"2025-02 广东 {national.DEPOSITS}",
    ], found
    assert "差异 2 笔" in said[0]
