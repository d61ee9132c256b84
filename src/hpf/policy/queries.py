"""What other packages read of policy: typed values in force on a day (the published reads).

The policy tables are private to ``hpf.policy``; a capability reads its parameters here, for
the business date its rule applies to (an application's date, a contract's date, a job's day),
never from the wall clock and never from the shipped files directly (decision 0022):

- :func:`policy_at` — contributions: base floor and cap, rate ranges, rounding, day basis, year;
- :func:`deposit_rates` — the deposit rate history (interest);
- :func:`alert_policy_at` — the security alert thresholds;
- :func:`withdrawal_policy_at` — the withdrawal parameters (rent cap, windows, intervals, ...);
- :func:`loan_policy_at` — the loan parameters (ceiling, loan-to-value, terms, multiples, ...);
- :func:`transfer_policy_at` — the cross-center transfer parameters (local extra condition, limits);
- :func:`liquidity_policy_at` — the fund operation thresholds (coverage, 个贷率, 使用率, 逾期率, large
  movements; decision 0038).
"""

from __future__ import annotations

from hpf.policy.rules import (
    AlertPolicy,
    DepositRate,
    LiquidityPolicy,
    LoanPolicy,
    Policy,
    TransferPolicy,
    WithdrawalPolicy,
)
from hpf.policy.service import (
    alert_policy_at,
    deposit_rates,
    liquidity_policy_at,
    loan_policy_at,
    policy_at,
    transfer_policy_at,
    withdrawal_policy_at,
)

__all__ = [
    "AlertPolicy",
    "DepositRate",
    "LiquidityPolicy",
    "LoanPolicy",
    "Policy",
    "TransferPolicy",
    "WithdrawalPolicy",
    "alert_policy_at",
    "deposit_rates",
    "liquidity_policy_at",
    "loan_policy_at",
    "policy_at",
    "transfer_policy_at",
    "withdrawal_policy_at",
]
