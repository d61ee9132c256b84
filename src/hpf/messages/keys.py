"""A party's SM2 key pairs (one to sign, one to receive sealed bodies) and their public halves.

Each party of the network — every center and the hub — holds two SM2 key pairs, as the national
practice of dual certificates has it: a **signing** pair (its messages and hops are signed with
it) and an **encryption** pair (bodies addressed to it are sealed to it). Keys are hex strings in
a JSON key file (``HPF_MESSAGE_KEY_FILE``, chmod 600), written by ``hpf hub keygen`` /
``hpf transfers keygen``; public keys are 64 bytes (the point's x‖y), private keys 32 bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gmssl_pyx import sm2_key_generate

from hpf.kernel.errors import HpfError

_PUBLIC = re.compile(r"[0-9a-f]{128}")
_PRIVATE = re.compile(r"[0-9a-f]{64}")


def _key_error(detail: str) -> HpfError:
    return HpfError("message.key_invalid", "报文密钥无效", detail, status=500)


def public_key(text: str) -> bytes:
    """A public key from its 128 hex digits (refused otherwise)."""
    value = text.strip().lower()
    if not _PUBLIC.fullmatch(value):
        raise _key_error("an SM2 public key is 128 hex digits (x‖y)")
    return bytes.fromhex(value)


def _private_key(text: str) -> bytes:
    value = text.strip().lower()
    if not _PRIVATE.fullmatch(value):
        raise _key_error("an SM2 private key is 64 hex digits")
    return bytes.fromhex(value)


@dataclass(frozen=True)
class PublicKeys:
    """What others know of a party: its public signing and encryption keys (hex)."""

    sign: str
    encrypt: str

    def __post_init__(self) -> None:
        public_key(self.sign)
        public_key(self.encrypt)


@dataclass(frozen=True)
class KeyPair:
    """A party's own keys: signing and encryption, private and public halves."""

    sign_private: bytes
    sign_public: bytes
    encrypt_private: bytes
    encrypt_public: bytes

    def __repr__(self) -> str:  # never print the private halves
        return f"KeyPair(sign={self.sign_public.hex()[:16]}…, encrypt={self.encrypt_public.hex()[:16]}…)"

    @classmethod
    def generate(cls) -> KeyPair:
        sign_public, sign_private = sm2_key_generate()
        encrypt_public, encrypt_private = sm2_key_generate()
        return cls(sign_private, sign_public, encrypt_private, encrypt_public)

    def public(self) -> PublicKeys:
        return PublicKeys(sign=self.sign_public.hex(), encrypt=self.encrypt_public.hex())

    def to_json(self) -> str:
        return json.dumps(
            {
                "sign": {"private": self.sign_private.hex(), "public": self.sign_public.hex()},
                "encrypt": {"private": self.encrypt_private.hex(), "public": self.encrypt_public.hex()},
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> KeyPair:
        try:
            data = json.loads(text)
            sign, encrypt = data["sign"], data["encrypt"]
            return cls(
                _private_key(sign["private"]),
                public_key(sign["public"]),
                _private_key(encrypt["private"]),
                public_key(encrypt["public"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _key_error(f"the message key file is not valid: {type(exc).__name__}") from exc

    @classmethod
    def from_file(cls, path: str | Path) -> KeyPair:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise _key_error(f"the message key file {path} cannot be read") from exc
        return cls.from_json(text)

    def write(self, path: str | Path) -> None:
        """Write the key file, readable by its owner only."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(mode=0o600, exist_ok=True)
        target.chmod(0o600)
        target.write_text(self.to_json())
