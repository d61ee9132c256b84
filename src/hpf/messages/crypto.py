"""SM2 signatures and sealed bodies: an SM4-GCM content key wrapped with the recipient's SM2 key.

**Signatures**: SM2 with SM3 and the standard default signer id (GM/T 0009), ASN.1 DER, over the
canonical bytes of what is signed (``hpf.messages.envelope``).

**Sealing** (the scheme of decision 0027): a fresh random 16-byte SM4 key and a 12-byte nonce per
message; the body's JSON is encrypted with SM4-GCM (``cryptography``), the message header as
associated data (so a sealed body cannot be moved under another header); the SM4 key is
encrypted to the recipient's SM2 encryption public key (SM2 public-key encryption, GM/T 0003.4,
``gmssl-pyx``). Only the holder of the recipient's private key opens it: the hub, which routes by
the header, never reads what a center sends another.
"""

from __future__ import annotations

import base64
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl_pyx import sm2_decrypt, sm2_encrypt, sm2_sign, sm2_verify

ALGORITHM: Final = "SM2+SM4-GCM"
_TAG = 16


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def sign(private_key: bytes, public_key: bytes, data: bytes) -> str:
    """The SM2 signature of ``data`` (base64 of the DER encoding)."""
    return b64(sm2_sign(private_key, public_key, data))


def verifies(public_key: bytes, data: bytes, signature: str) -> bool:
    """Whether ``signature`` is the SM2 signature of ``data`` by ``public_key``; never raises."""
    try:
        return bool(sm2_verify(public_key, data, unb64(signature)))
    except Exception:  # a malformed signature or key: it does not verify
        return False


def seal(recipient_public: bytes, plaintext: bytes, associated: bytes) -> tuple[str, str, str]:
    """(wrapped key, nonce, ciphertext‖tag), each base64."""
    key, nonce = os.urandom(16), os.urandom(12)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated)
    data = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag
    return b64(sm2_encrypt(recipient_public, key)), b64(nonce), b64(data)


def unseal(private_key: bytes, wrapped: str, nonce: str, data: str, associated: bytes) -> bytes | None:
    """The plaintext, or ``None`` when it does not open (wrong key, altered body or header)."""
    try:
        key = sm2_decrypt(private_key, unb64(wrapped))
        raw = unb64(data)
        if len(key) != 16 or len(raw) < _TAG:
            return None
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(unb64(nonce), raw[-_TAG:])).decryptor()
        decryptor.authenticate_additional_data(associated)
        return decryptor.update(raw[:-_TAG]) + decryptor.finalize()
    except (InvalidTag, Exception):  # GmsslInnerError, binascii.Error, ValueError …
        return None
