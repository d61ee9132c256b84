"""The loan book: contracts, schedules, events, collateral and dunning; activation, re-pricing,
repayment in the recovery order, prepayment and payoff; the month-end collection and the daily
overdue run; its part of ``hpf check``."""
