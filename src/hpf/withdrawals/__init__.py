"""Withdrawals (提取, A5): every reason of the data standard, rules as data, the calculation sheet."""
