"""Contributions: monthly remittance (汇缴), back payment (补缴), receipts (到账) and allocation
(分摊), deferral and arrears (缓缴/欠缴), wrong-payment correction (错缴更正), base and rate
adjustment (调基调比), and the month-end job.
"""
