"""Benchmark the filing of transfer-in applications at the new center: one by one through the
application engine against the bulk form (decision 0044), on two copies of one center.

    python bench/bench_filing.py [--applications 1000] [--file 200] [--batch 100] [--dir DIR]

Set-up (not timed): ``bench_transfers.build`` — the two centers of the transfer bench with the
same people, the old one known to the new one (no process is started: the letters are queued,
not sent). The new center's database is copied; on one copy the counter files the applications
one by one (``services.submit`` with ``complete``, 200 a transaction: the bench's filing before
0044), on the other in bulk (``services.bulk.submit_many``, ``--file`` a call and transaction).
Prints each one's time and time per application, the statements each ran per application, and
checks the two copies hold the same transfers and letter numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_transfers import NAMES, NEW, OLD, build
from sqlalchemy import event, select

from hpf import bootstrap
from hpf.access.permissions import Role
from hpf.accounts.tables import member
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.clock import CHINA_TZ, FixedClock, SystemClock
from hpf.kernel.context import Context
from hpf.services import bulk
from hpf.services import service as applications
from hpf.settings import Settings
from hpf.transfers.tables import transfer


def _count_statements(engine: Any) -> list[int]:
    counter = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _one(*_args: Any) -> None:
        counter[0] += 1

    return counter


def _file(
    url: str, people: list[tuple[str, str]], size: int, one_by_one: bool, today: Any
) -> tuple[float, int]:
    engine = make_engine(url)
    with write_transaction(engine) as conn:
        teller = identity.create_staff(
            conn, Context("bench", SystemClock(), NEW), "bench-teller", "压测柜员", [Role.TELLER],
            secrets.token_urlsafe(16),
        )  # fmt: skip
    ctx = Context("bench-teller", FixedClock(today), NEW, source="counter")
    counter = _count_statements(engine)
    filed = 0
    t0 = time.perf_counter()
    for start in range(0, len(people), size):
        chunk = people[start : start + size]
        payloads = [
            {"from_center": OLD, "old_account_no": old, "old_employer_name": "原单位"} for old, _ in chunk
        ]
        with write_transaction(engine) as conn:
            if one_by_one:
                for payload, (_old, new) in zip(payloads, chunk, strict=True):
                    done = applications.submit(
                        conn, ctx, teller, "AC-TRANSFER-IN", payload, member_account_no=new, complete=True
                    )
                    filed += done.state == "approved"
            else:
                outcomes = bulk.submit_many(
                    conn, ctx, teller, "AC-TRANSFER-IN",
                    [bulk.BulkItem(p, new) for p, (_old, new) in zip(payloads, chunk, strict=True)],
                )  # fmt: skip
                filed += sum(isinstance(o, bulk.Filed) for o in outcomes)
    seconds = time.perf_counter() - t0
    statements = counter[0]
    engine.dispose()
    assert filed == len(people), f"filed {filed} of {len(people)}"
    return seconds, statements


def _transfers(url: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    with read_transaction(engine) as conn:
        t = transfer.c
        rows = conn.execute(
            select(t.letter_no, t.member_id, t.application_id, t.state, t.due_on).order_by(t.id)
        )
        out = [tuple(r) for r in rows]
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=1000)
    parser.add_argument("--file", type=int, default=200, help="applications per bulk call (and transaction)")
    parser.add_argument("--batch", type=int, default=100, help="items per BDC902 (0: single signed messages)")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    n = min(args.applications, 9999)  # one day's letters
    work = args.dir or Path(tempfile.mkdtemp(prefix="hpf-bench-filing-"))
    work.mkdir(parents=True, exist_ok=True)
    today = datetime.now(CHINA_TZ).date()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpu, Python {platform.python_version()}; "
          f"load {os.getloadavg()[0]:.1f}; dir {work}")  # fmt: skip
    t0 = time.perf_counter()
    built = build(work, n, today)
    print(f"set-up (two centers of {n} members, not timed): {time.perf_counter() - t0:.1f}s")
    urls = built["urls"]
    base = urls[NEW].removeprefix("sqlite:///")
    copies = {"one by one": f"{base}.single.sqlite3", "bulk": f"{base}.bulk.sqlite3"}
    for path in copies.values():
        shutil.copyfile(base, path)
    public = built["keys"]["000000"].public()
    bootstrap.start(
        Settings(
            database_url=urls[NEW], env="development", center_code=NEW, center_name=NAMES[NEW],
            hub_url="http://127.0.0.1:9", hub_public_keys=f"{public.sign}:{public.encrypt}",
            message_key_file=str(work / f"{NEW}-keys.json"), transfer_batch=args.batch,
        )
    )  # fmt: skip
    engine = make_engine(urls[OLD])
    with read_transaction(engine) as conn:
        old_accounts = dict(conn.execute(select(member.c.id, member.c.account_no)).all())
    engine.dispose()
    engine = make_engine(urls[NEW])
    with read_transaction(engine) as conn:
        new_accounts = dict(conn.execute(select(member.c.id, member.c.account_no)).all())
    engine.dispose()
    people = [(old_accounts[m], new_accounts[m]) for m in sorted(set(old_accounts) & set(new_accounts))[:n]]
    results = {}
    for name, path in copies.items():
        seconds, statements = _file(f"sqlite:///{path}", people, args.file, name == "one by one", today)
        results[name] = seconds
        print(f"  {name}: {len(people)} applications in {seconds:.2f}s, {seconds / len(people) * 1000:.2f} ms each,"
              f" {statements / len(people):.1f} statements each")  # fmt: skip
    same = _transfers(f"sqlite:///{copies['one by one']}") == _transfers(f"sqlite:///{copies['bulk']}")
    print(f"  the same transfers and letter numbers on both: {same}")
    print(f"  bulk / one by one: {results['bulk'] / results['one by one']:.2f}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
