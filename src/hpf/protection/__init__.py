"""Protection of personal data at rest and in answers: the classification of every column, SM4 and
HMAC-SM3 with key rings, the protected fields of the process ring, key check values and rotation,
masks that do not combine with what is stored in clear (G1–G3)."""
