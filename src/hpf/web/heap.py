"""The server's heap once it has started: what start-up built is set aside from the collector.

A server process builds some 200,000 long-lived objects before its first request (routes, models,
schemas, tables, the key ring). Python's collector walked them all on each full pass, a pause of
100–150 ms on this machine during which no request moves; under load one came every few seconds
and made the slowest answers (decision 0047). ``gc.freeze`` moves them to a generation the
collector never walks: the full passes then cost what the requests in flight hold (~10 ms).
Objects made later are collected as before.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what start-up left over, then freeze what remains (call once, before serving)."""
    gc.collect()
    gc.freeze()
