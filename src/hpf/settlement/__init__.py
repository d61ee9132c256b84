"""Bank settlement (资金结算): the only way money leaves the center.

Two-phase payouts (``service``: reserve in the ledger, send to the bank, resolve unknown
outcomes), owners told of outcomes (``owners``), the bank behind a protocol (``adapter``) with
the messages of REFERENCE §6.3 (``messages``), a fake bank (``fakebank``), and the daily
reconciliation (``reconciliation``). Decision 0008.
"""
