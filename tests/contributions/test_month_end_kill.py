"""End to end: the month-end job is killed midway (a real SIGKILL) and run again."""

import os
import signal
import subprocess
import sys
import time
from datetime import date

from contribution_support import list_rows
from sqlalchemy import func, select

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.check import check_center
from hpf.contributions import service
from hpf.contributions.rules import Kind
from hpf.contributions.tables import remittance
from hpf.db.calendar import set_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger.tables import journal_entry
from hpf.schema import upgrade

EMPLOYERS = 24


def build(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    clock = FixedClock(date(2025, 3, 1))
    ctx = Context("test", clock, "990001")
    with write_transaction(engine) as conn:
        for e in range(1, EMPLOYERS + 1):
            emp = accounts.register_employer(conn, ctx, employer_payload(e))
            members = [
                accounts.open_member(conn, ctx, emp.account_no, member_payload(e * 10 + i, base_fen=500_000))
                for i in range(3)
            ]
            rem = service.submit_list(conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month="2025-03",
                                      rows=list_rows(members), source="api", idempotency_key=f"k{e}")  # fmt: skip
            service.record_receipt(conn, ctx, emp.account_no, rem.total_fen, f"B{e}", date(2025, 3, 1))
        set_business_date(conn, date(2025, 3, 31))
    engine.dispose()


def posted(url: str) -> int:
    engine = make_engine(url)
    with read_transaction(engine) as conn:
        n = conn.scalar(select(func.count()).select_from(remittance).where(remittance.c.state == "posted"))
    engine.dispose()
    return int(n or 0)


def month_end(url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HPF_DATABASE_URL": url}
    cmd = [sys.executable, "-m", "hpf.cli", "month-end", "--month", "2025-03", "--chunk-size", "1", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_month_end_killed_midway_then_rerun_posts_everything_once(tmp_path):
    url = f"sqlite:///{tmp_path}/center.sqlite3"
    build(url)
    job = month_end(url, "--throttle-seconds", "0.2")
    deadline = time.monotonic() + 60
    while posted(url) < 3:
        assert job.poll() is None, job.stdout.read() if job.stdout else b""
        assert time.monotonic() < deadline, "month-end did not start posting"
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    halfway = posted(url)
    assert 3 <= halfway < EMPLOYERS

    rerun = month_end(url)
    out, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out.decode()
    assert posted(url) == EMPLOYERS

    engine = make_engine(url)
    with read_transaction(engine) as conn:
        keys = conn.scalars(
            select(journal_entry.c.idempotency_key).where(journal_entry.c.idempotency_key.like("alloc:%"))
        )
        keys = list(keys)
        assert len(keys) == len(set(keys)) == EMPLOYERS  # nothing posted twice, nothing lost
        assert check_center(conn) == []
    check = subprocess.run([sys.executable, "-m", "hpf.cli", "check"], env={**os.environ, "HPF_DATABASE_URL": url},
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout
