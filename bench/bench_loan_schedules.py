"""Benchmark: repayment schedules of 100,000 loans of 360 months (``hpf.loans.calculator.batch``).

    python bench/bench_loan_schedules.py [--loans 100000] [--months 360] [--seed 7] [--sample 300]

Random principals (50,000-1,500,000 yuan, whole fen), rates from the national table since 2024
(first and second home), and methods (equal installment / equal principal). Times
``many_schedules`` — every period's principal, interest and remaining principal of every loan,
exactly, in pure Python integers — then checks a random sample of loans row for row against the
ordinary ``build_schedule`` and times that path on the sample for comparison. Target: ≤ 5 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import date
from decimal import Decimal

from hpf.loans.calculator.batch import LoanTerms, many_schedules
from hpf.loans.calculator.schedule import Method, build_schedule

RATES = tuple(
    Decimal(r) for r in ("0.021", "0.026", "0.02525", "0.03075", "0.0235", "0.0285", "0.02775", "0.03325")
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=360)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    loans = [
        LoanTerms(
            rng.randrange(5_000_000, 150_000_001), rng.choice(RATES), args.months, rng.choice(tuple(Method))
        )
        for _ in range(args.loans)
    ]
    started = time.perf_counter()
    schedules = many_schedules(loans)
    elapsed = time.perf_counter() - started
    rows = args.loans * args.months
    print(f"machine: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cpus")
    print(
        f"{args.loans:,} loans x {args.months} months = {rows:,} rows in {elapsed:.2f} s ({rows / elapsed:,.0f} rows/s)"
    )

    sample = rng.sample(range(args.loans), min(args.sample, args.loans))
    started = time.perf_counter()
    for index in sample:
        loan = loans[index]
        exact = build_schedule(
            loan.principal_fen, loan.annual_rate, loan.months, loan.method, date(2025, 7, 1)
        )
        expected = [(r.principal_fen, r.interest_fen, r.remaining_fen) for r in exact.installments]
        if schedules.rows(index) != expected:
            print(f"MISMATCH for loan {index}: {loan}")
            return 1
    ordinary = (time.perf_counter() - started) / len(sample) * args.loans
    print(f"{len(sample)} sampled loans equal build_schedule row for row")
    print(f"the ordinary path would take about {ordinary:.0f} s for all {args.loans:,} loans")
    return 0 if elapsed <= 5 else 2


if __name__ == "__main__":
    sys.exit(main())
