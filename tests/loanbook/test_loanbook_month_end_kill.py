"""End to end: the loan month-end job is killed midway (a real SIGKILL) and run again."""

import os
import signal
import subprocess
import sys
import time
from datetime import date

from loanbook_support import fund, new_loan, open_members
from sqlalchemy import func, select

from hpf.check import check_center
from hpf.db.calendar import set_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger.tables import journal_entry
from hpf.loans.book import service as loans
from hpf.loans.book.tables import loan_event, loan_installment
from hpf.schema import upgrade

LOANS = 24


def build(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    ctx = Context("test", FixedClock(date(2025, 3, 20)), "990001")
    with write_transaction(engine) as conn:
        members = open_members(conn, ctx, LOANS)
        for n, member in enumerate(members, start=1):
            bank = n % 3 == 0
            if not bank:
                fund(conn, ctx, member, 2_000_000 if n % 4 else 1_000, date(2025, 3, 20), f"fund{n}")
            source = loans.RepaymentSource.BANK_DEBIT if bank else loans.RepaymentSource.HPF_ACCOUNT
            new_loan(conn, ctx, member, n, repayment_source=source)
        set_business_date(conn, date(2025, 4, 30))
    engine.dispose()


def paid(url: str) -> int:
    engine = make_engine(url)
    with read_transaction(engine) as conn:
        n = conn.scalar(select(func.count()).where(loan_installment.c.state == "paid"))
    engine.dispose()
    return int(n or 0)


def month_end(url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HPF_DATABASE_URL": url}
    cmd = [
        sys.executable,
        "-m",
        "hpf.cli",
        "loan",
        "month-end",
        "--month",
        "2025-04",
        "--chunk-size",
        "1",
        *extra,
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_loan_month_end_killed_midway_then_rerun_collects_everything_once(tmp_path):
    url = f"sqlite:///{tmp_path}/center.sqlite3"
    build(url)
    job = month_end(url, "--throttle-seconds", "0.2")
    deadline = time.monotonic() + 60
    while paid(url) < 3:
        assert job.poll() is None, job.stdout.read() if job.stdout else b""
        assert time.monotonic() < deadline, "month-end did not start collecting"
        time.sleep(0.05)
    job.send_signal(signal.SIGKILL)
    job.wait()
    halfway = paid(url)
    collectable = LOANS - LOANS // 4 + LOANS // 12  # all but the poor hpf_account borrowers
    assert 3 <= halfway < collectable

    rerun = month_end(url)
    out, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, out.decode()
    assert paid(url) == collectable

    engine = make_engine(url)
    with read_transaction(engine) as conn:
        collected = conn.execute(
            select(loan_event.c.loan_id, func.count()).where(loan_event.c.kind == "collected")
            .group_by(loan_event.c.loan_id)
        ).all()  # fmt: skip
        assert len(collected) == collectable and {n for _, n in collected} == {1}  # nothing twice
        overdue = conn.scalar(select(func.count()).where(loan_installment.c.state == "overdue"))
        assert overdue == LOANS - collectable
        keys = list(conn.scalars(select(journal_entry.c.idempotency_key).where(
            journal_entry.c.idempotency_key.like("loan-overdue:%"))))  # fmt: skip
        assert len(keys) == 1
        assert check_center(conn) == []
    env = {**os.environ, "HPF_DATABASE_URL": url}
    check = subprocess.run(
        [sys.executable, "-m", "hpf.cli", "check"], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    again = subprocess.run([sys.executable, "-m", "hpf.cli", "loan", "month-end", "--month", "2025-04"], env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0 and "already_done" in again.stdout
