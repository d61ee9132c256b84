"""Housing loans (个人住房公积金贷款): rates, repayment schedules, overdue rules, eligibility and limits.

The pure rules (``rates``, ``schedule``, ``overdue``, ``rules``) own every number of a loan; they
import only the standard library and ``hpf.kernel``. ``cli``, ``api`` and ``pages`` are the loan
calculator anyone may use. Storage, applications and the repayment job build on these rules.
"""
