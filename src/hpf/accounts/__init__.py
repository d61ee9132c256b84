"""Employer (缴存单位) and member (缴存职工) accounts: opening, changes, sealing, freezing,
internal transfer, closing, with a history row for every change.
"""
