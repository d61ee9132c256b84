"""Electronic audit (电子稽查, D4): a rule pack run over the whole center, and its cases.

``rules.json`` (the rules as data: id, title, severity, object, what an auditor does,
parameters) and ``rules.py`` (pure: the pack, the case state machine); ``pack.py`` (each rule's
set-based SQL over the published reads of the business packages); ``service.py`` (``scan``,
the case steps and the reads); ``tables.py`` (runs, findings, cases, steps); ``api.py``
(``/api/v1/inspection/…``) and ``pages.py`` (``/inspection/cases``). Decision 0033.
"""
