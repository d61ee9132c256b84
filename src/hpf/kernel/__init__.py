"""Shared kernel: money, identifiers, code tables, business clock and error types.

Everything here is pure (standard library plus well-kept validators) and used by every
capability package; nothing here touches a database or HTTP.
"""
