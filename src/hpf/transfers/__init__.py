"""The center's side of the hub (decision 0027): the link, the outbox and its delivery worker,
the message endpoint and the handlers of the messages a center takes.

``link.py`` (the hub's address and keys, this center's keys, the handlers: installed by
``hpf.bootstrap``), ``service.py`` (``send`` in the caller's transaction, ``deliver_due`` — the
``hub.delivery`` consumer of ``hub_message.queued`` events, then the sending with backoff —,
``receive``, the handlers of BDC909 and BDC904), ``api.py`` (the endpoint), ``tables.py``.
Cross-center transfer (转移接续: BDC901/905) and co-investigation build on it next.
"""
