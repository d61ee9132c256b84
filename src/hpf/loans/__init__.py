"""Housing loans (个人住房公积金贷款): rates, repayment schedules, overdue rules, eligibility and
limits, and the loan book.

The pure rules (``rates``, ``schedule``, ``overdue``, ``rules``, ``batch``) own every number of a
loan; they import only the standard library and ``hpf.kernel``. ``cli``, ``api`` and ``pages`` are
the loan calculator anyone may use. The loan book stores contracts and schedules (``tables``),
runs the use cases (``service``) and the month-end and daily jobs (``jobs``), and adds its checks
to ``hpf check`` (``check``).
"""
