"""The default scorecard: features recorded at application, logistic regression trained on the
book, the active card and its scoring (``model.py``), its page and API (``pages.py``)."""
