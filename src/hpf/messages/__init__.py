"""Messages between a center and the hub: the versioned envelope, SM2 signatures, sealed bodies.

Low level (it imports only ``hpf.kernel``), shared by both roles: the center's side
(``hpf.transfers``) and the hub (``hpf.hub``) compose, sign, seal, verify and open messages
with it. ``envelope.py`` (the envelope and its hop), ``bodies.py`` (a model per message type and
direction), ``crypto.py`` (SM2 through ``gmssl-pyx``, SM4-GCM through ``cryptography``),
``keys.py`` (a party's key pairs), ``protocol.py`` (compose, hop, the receiver's checks,
backoff), ``errors.py`` (the refusals). Decision 0027.
"""
