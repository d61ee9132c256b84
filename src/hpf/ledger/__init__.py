"""The double-entry ledger: chart of accounts, journal entries and lines, materialised balances,
reversal and period closing. It is the only code that writes money.
"""
