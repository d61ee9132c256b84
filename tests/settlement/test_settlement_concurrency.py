"""Concurrent reservations on one account with real threads (SQLite and PostgreSQL): never overdrawn."""

from __future__ import annotations

import threading

from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict
from hpf.settlement import service
from settlement_support import balance, payout


def test_concurrent_payouts_never_overdraw_an_account(engine, ctx, funded, told):
    """Four threads take 300.00 each from 1,000.00 at the same moment: three win, one is refused."""
    start = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def withdraw(n: int) -> None:
        start.wait()
        try:
            with write_transaction(engine) as conn:
                service.reserve(conn, ctx, payout(funded["a"], 30_000, f"race-{n}", owner_id=f"W{n}"))
            result = "reserved"
        except Conflict as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=withdraw, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["ledger.insufficient_balance", "reserved", "reserved", "reserved"]
    with read_transaction(engine) as conn:
        assert balance(conn, funded["a"]) == 10_000
        assert len(service.list_orders(conn)) == 3  # the refused one left no order behind
        assert check_center(conn) == []
