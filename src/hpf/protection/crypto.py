"""Encryption at rest: SM4-GCM value tokens, HMAC-SM3 blind indexes, key rings and rotation.

**Token.** A protected value is stored as the text ``"{key_id}:{base64url(iv | ciphertext | tag)}"``
(no padding): a 12-byte random IV, the SM4-GCM ciphertext (as long as the UTF-8 plaintext) and a
16-byte tag. The key id travels with every value, so keys can be rotated one row at a time
(``rotate_column``) while old and new tokens coexist. The associated data binds the token to its
key id and to a *context* naming the column (``"member.resident_id"``): a token copied into
another column, or relabelled with another key id, fails authentication instead of decrypting.
``token_length`` gives the column width a token needs.

**Random IVs.** GCM must never reuse an IV under one key. 96-bit random IVs keep the collision
probability below 2⁻³² for up to 2³² encryptions per key (NIST SP 800-38D §8.3); a center with
10⁷ members, four protected fields and a full re-encryption a year stays many orders of
magnitude under that. Rotate keys long before 2³² values (the active key id is in every token,
so counting them is one query).

**Blind index.** Exact lookup (by ID number, phone) cannot search ciphertext, so each protected
column that is looked up gets a second column: a keyed hash HMAC-SM3(context key, value), where
the context key is derived from the blind-index key and the column context (equal values in two
columns do not link). The blind-index key is *separate from the data keys and does not rotate
with them*: rotating a data key re-encrypts values, but lookups must keep working across and
during the rotation, and re-keying an index means recomputing it from every plaintext at once.
It has its own id (``blind_key_id``) so a later, deliberate index re-key is possible (a new
index column under a new id, filled, then swapped). It is as secret as a data key: ID numbers
have at most ~10¹¹ plausible values, so whoever holds the key can enumerate them.

The index is truncated to 128 bits (32 hex characters). A collision between two different values
needs ~2⁶⁴ values by the birthday bound; for 10⁸ values its probability is about
n²/2¹²⁹ ≈ 10⁻²³. Even then nothing silent happens: a unique index refuses the second value, and
callers compare the decrypted value after a lookup.

Callers normalise a value (upper-case ``X`` in an ID number, no spaces) *before* both indexing
and lookup; this module hashes exactly the text it is given.

**Keys.** A key ring holds named data keys and one active id (new values are encrypted under
it). Each key is given as at least 32 bytes of secret material (base64) from which the 16-byte
SM4 key is derived with HKDF-SM3; the blind-index key (32 bytes) is derived from its own
material, or — when none is configured — from the *first* data key listed, which then must stay
listed for ever (configure ``HPF_BLIND_INDEX_KEY`` to avoid that tie). ``key_check_values`` gives
short fingerprints the application stores and compares at start, so a changed key is refused
before a lookup silently finds nothing. A built-in, public DEVELOPMENT key is used only when the
environment is ``development`` or ``test``; elsewhere no key, or that key, refuses to start
(``security.default_key``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import stat
from collections.abc import Mapping
from math import ceil
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, Table, bindparam, column, func, select, table, update

from hpf.kernel.errors import HpfError

DEVELOPMENT_ENVS = frozenset({"development", "test"})
# Public by design: anyone can read it here. Only ever accepted in development and tests.
DEVELOPMENT_KEY_ID = "dev"
DEVELOPMENT_KEY_MATERIAL = b"OpenHPF DEVELOPMENT KEY - public, never use outside development"
DEVELOPMENT_BLIND_KEY_ID = "dev-bidx"

IV_BYTES = 12
TAG_BYTES = 16
MIN_KEY_MATERIAL = 32
BLIND_KEY_BYTES = 32
BLIND_INDEX_HEX = 32  # 128 bits; see the module docstring for the collision reasoning

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}")
_DATA_INFO = b"OpenHPF v1 SM4-GCM data key"
_BLIND_INFO = b"OpenHPF v1 HMAC-SM3 blind-index key"
_CONTEXT_INFO = b"OpenHPF v1 blind-index context\x00"
_CHECK_INFO = b"OpenHPF v1 key check value"


def _key_error(detail: str) -> HpfError:
    return HpfError("security.key_config", "密钥配置错误", detail, status=500)


def _decrypt_error(detail: str, **extra: Any) -> HpfError:
    return HpfError("security.decrypt_failed", "数据解密失败", detail, status=500, **extra)


def _default_key_error(detail: str) -> HpfError:
    return HpfError("security.default_key", "不得使用默认密钥", detail, status=500)


def _hkdf(material: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SM3(), length=length, salt=None, info=info).derive(material)


def _mac(key: bytes, data: bytes) -> bytes:
    m = hmac.HMAC(key, hashes.SM3())
    m.update(data)
    return m.finalize()


def _b64decode(text: str, what: str) -> bytes:
    cleaned = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _key_error(f"{what} is not valid base64") from exc


def _check_key_id(key_id: str) -> str:
    if not _KEY_ID.fullmatch(key_id):
        raise _key_error(
            f"key id {key_id!r} must be 1-16 characters of letters, digits, '_', '.', '-' (no ':')"
        )
    return key_id


def token_length(max_plaintext_bytes: int, key_id_length: int = 16) -> int:
    """The longest token for a plaintext of ``max_plaintext_bytes`` UTF-8 bytes (column width)."""
    return key_id_length + 1 + ceil((IV_BYTES + max_plaintext_bytes + TAG_BYTES) * 4 / 3)


def key_id_of(token: str) -> str:
    """The key id a token was encrypted under (the text before the first ``:``)."""
    key_id, sep, _ = token.partition(":")
    if not sep:
        raise _decrypt_error("not an encrypted token (no key id)")
    return key_id


class KeyRing:
    """Named SM4 data keys with one active id, plus the (non-rotating) blind-index key.

    Objects that cost to build (SM4 algorithm objects, per-context HMAC states, associated-data
    bytes) are built once and reused; one ring serves a whole process. ``repr`` shows key ids
    only. A ring pickles (for ``ProcessPoolExecutor`` workers) by its raw keys.
    """

    __slots__ = ("_aad", "_active", "_algs", "_blind_id", "_blind_key", "_blind_macs", "_keys")

    def __init__(
        self, data_keys: Mapping[str, bytes], active: str, blind_key_id: str, blind_key: bytes
    ) -> None:
        if not data_keys:
            raise _key_error("a key ring needs at least one data key")
        for key_id, key in data_keys.items():
            _check_key_id(key_id)
            if len(key) != 16:
                raise _key_error(f"SM4 data key {key_id!r} must be 16 bytes, got {len(key)}")
        if active not in data_keys:
            raise _key_error(f"active key {active!r} is not among the keys {sorted(data_keys)}")
        _check_key_id(blind_key_id)
        if len(blind_key) < BLIND_KEY_BYTES:
            raise _key_error(f"the blind-index key must be at least {BLIND_KEY_BYTES} bytes")
        self._keys: dict[str, bytes] = dict(data_keys)
        self._active = active
        self._blind_id = blind_key_id
        self._blind_key = bytes(blind_key)
        self._algs = {key_id: algorithms.SM4(key) for key_id, key in self._keys.items()}
        self._aad: dict[tuple[str, str], bytes] = {}
        self._blind_macs: dict[str, hmac.HMAC] = {}

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_material(
        cls,
        materials: Mapping[str, bytes],
        active: str | None = None,
        blind: tuple[str, bytes] | None = None,
    ) -> KeyRing:
        """A ring from secret material (≥ 32 bytes per key); SM4 keys derived with HKDF-SM3.

        ``active`` defaults to the last key listed. ``blind`` is ``(id, material)`` for the
        blind-index key; without it the key is derived from the first listed key (id
        ``"{first}.bidx"``), which must then never be removed from the configuration.
        """
        if not materials:
            raise _key_error("no keys configured")
        for key_id, material in materials.items():
            _check_key_id(key_id)
            if len(material) < MIN_KEY_MATERIAL:
                raise _key_error(
                    f"key {key_id!r} has {len(material)} bytes of material; at least {MIN_KEY_MATERIAL} are required"
                )
        ids = list(materials)
        if blind is None:
            blind = (f"{ids[0]}.bidx"[:16], materials[ids[0]])
        blind_id, blind_material = blind
        if len(blind_material) < MIN_KEY_MATERIAL:
            raise _key_error(f"the blind-index key needs at least {MIN_KEY_MATERIAL} bytes of material")
        return cls(
            {key_id: _hkdf(material, _DATA_INFO, 16) for key_id, material in materials.items()},
            active if active is not None else ids[-1],
            blind_id,
            _hkdf(blind_material, _BLIND_INFO, BLIND_KEY_BYTES),
        )

    @classmethod
    def development(cls) -> KeyRing:
        """The public DEVELOPMENT ring: for development and tests only."""
        return cls.from_material(
            {DEVELOPMENT_KEY_ID: DEVELOPMENT_KEY_MATERIAL},
            DEVELOPMENT_KEY_ID,
            (DEVELOPMENT_BLIND_KEY_ID, DEVELOPMENT_KEY_MATERIAL),
        )

    @classmethod
    def from_settings(
        cls,
        env: str,
        keys_spec: str | None,
        key_file: str | None,
        *,
        active_key: str | None = None,
        blind_index_key: str | None = None,
    ) -> KeyRing:
        """The ring the application runs with; refuses a missing or default key in production.

        - ``keys_spec`` (``HPF_KEYS``): ``"k1:<base64>,k2:<base64>"``, each ≥ 32 bytes.
        - ``key_file`` (``HPF_KEY_FILE``): JSON ``{"active": "k2", "keys": {"k1": "<base64>", …},
          "blind_index": {"id": "b1", "key": "<base64>"}}``; outside development it must not be
          readable by other users.
        - ``active_key`` (``HPF_ACTIVE_KEY``): overrides the file's ``active``; default the last
          key listed.
        - ``blind_index_key`` (``HPF_BLIND_INDEX_KEY``): ``"b1:<base64>"``; overrides the file's.

        With neither keys nor file, ``development``/``test`` get the DEVELOPMENT ring; any other
        environment gets ``security.default_key``, as it does for the DEVELOPMENT key itself.
        """
        development = env in DEVELOPMENT_ENVS
        if keys_spec and keys_spec.strip() and key_file:
            raise _key_error("configure keys either in HPF_KEYS or in HPF_KEY_FILE, not both")
        materials: dict[str, bytes] = {}
        blind: tuple[str, bytes] | None = None
        active = active_key or None
        if keys_spec and keys_spec.strip():
            materials = _parse_spec(keys_spec)
        elif key_file:
            materials, file_active, blind = _read_key_file(Path(key_file), check_permissions=not development)
            active = active or file_active
        if blind_index_key:
            parsed = _parse_spec(blind_index_key)
            if len(parsed) != 1:
                raise _key_error("HPF_BLIND_INDEX_KEY holds exactly one 'id:<base64>' entry")
            blind = next(iter(parsed.items()))
        if not materials:
            if development:
                return cls.development()
            raise _default_key_error(
                f"environment {env!r} has no encryption keys: set HPF_KEYS or HPF_KEY_FILE "
                "(the built-in DEVELOPMENT key is refused outside development)"
            )
        if not development:
            used = [*materials.items(), *([blind] if blind else [])]
            if any(
                key_id in (DEVELOPMENT_KEY_ID, DEVELOPMENT_BLIND_KEY_ID)
                or material == DEVELOPMENT_KEY_MATERIAL
                for key_id, material in used
            ):
                raise _default_key_error(
                    f"environment {env!r} is configured with the public DEVELOPMENT key; generate real keys"
                )
        return cls.from_material(materials, active, blind)

    # -- facts ---------------------------------------------------------------------------

    @property
    def active_key_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def blind_key_id(self) -> str:
        return self._blind_id

    @property
    def is_development(self) -> bool:
        return DEVELOPMENT_KEY_ID in self._keys or self._blind_id == DEVELOPMENT_BLIND_KEY_ID

    def key_check_values(self) -> dict[str, str]:
        """Short public fingerprints of every key (blind-index key under ``"bidx:{id}"``).

        Store them at first start and compare later: a changed blind-index key would otherwise
        make every lookup miss without an error.
        """
        values = {key_id: _mac(key, _CHECK_INFO).hex()[:16] for key_id, key in self._keys.items()}
        values[f"bidx:{self._blind_id}"] = _mac(self._blind_key, _CHECK_INFO).hex()[:16]
        return values

    def __repr__(self) -> str:
        return f"KeyRing(keys={list(self._keys)}, active={self._active!r}, blind_index={self._blind_id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (KeyRing, (self._keys, self._active, self._blind_id, self._blind_key))

    # -- values --------------------------------------------------------------------------

    def _associated_data(self, key_id: str, context: str) -> bytes:
        aad = self._aad.get((key_id, context))
        if aad is None:
            aad = b"hpf1\x00" + key_id.encode() + b"\x00" + context.encode()
            self._aad[(key_id, context)] = aad
        return aad

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """``"{active_key_id}:{base64url(iv | ciphertext | tag)}"``, bound to ``context``."""
        key_id = self._active
        iv = os.urandom(IV_BYTES)
        encryptor = Cipher(self._algs[key_id], modes.GCM(iv)).encryptor()
        encryptor.authenticate_additional_data(self._associated_data(key_id, context))
        body = encryptor.update(plaintext.encode()) + encryptor.finalize()
        blob = iv + body + encryptor.tag
        return key_id + ":" + base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii")

    def decrypt(self, token: str, *, context: str) -> str:
        """The plaintext, or ``security.decrypt_failed`` (unknown key, wrong context, tampering)."""
        key_id, sep, body = token.partition(":")
        if not sep:
            raise _decrypt_error("not an encrypted token (no key id)")
        alg = self._algs.get(key_id)
        if alg is None:
            raise _decrypt_error(f"key {key_id!r} is not in the key ring", key_id=key_id)
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise _decrypt_error("token body is not base64url") from exc
        if len(blob) < IV_BYTES + TAG_BYTES:
            raise _decrypt_error("token is too short")
        decryptor = Cipher(alg, modes.GCM(blob[:IV_BYTES], blob[-TAG_BYTES:])).decryptor()
        decryptor.authenticate_additional_data(self._associated_data(key_id, context))
        try:
            plain = decryptor.update(blob[IV_BYTES:-TAG_BYTES]) + decryptor.finalize()
            return plain.decode()
        except (InvalidTag, UnicodeDecodeError) as exc:
            raise _decrypt_error(
                f"token under key {key_id!r} does not authenticate for {context!r} (wrong column, key or tampered)",
                key_id=key_id,
            ) from exc

    def blind_index(self, value: str, *, context: str) -> str:
        """32 hex characters of HMAC-SM3 under the blind-index key, specific to ``context``."""
        mac = self._blind_macs.get(context)
        if mac is None:
            context_key = _mac(self._blind_key, _CONTEXT_INFO + context.encode())
            mac = hmac.HMAC(context_key, hashes.SM3())
            self._blind_macs[context] = mac
        one = mac.copy()
        one.update(value.encode())
        return one.finalize().hex()[:BLIND_INDEX_HEX]

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` is not under the active key (``rotate_column`` re-encrypts it)."""
        return not token.startswith(self._active + ":")


def _parse_spec(spec: str) -> dict[str, bytes]:
    materials: dict[str, bytes] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = _check_key_id(key_id.strip())
        if not sep or not encoded.strip():
            raise _key_error(f"key entry {key_id!r} must look like 'id:<base64 of 32+ bytes>'")
        if key_id in materials:
            raise _key_error(f"key id {key_id!r} is listed twice")
        materials[key_id] = _b64decode(encoded, f"key {key_id!r}")
    return materials


def _read_key_file(
    path: Path, *, check_permissions: bool
) -> tuple[dict[str, bytes], str | None, tuple[str, bytes] | None]:
    try:
        mode = path.stat().st_mode
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _key_error(f"cannot read key file {path}: {exc}") from exc
    if check_permissions and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _key_error(f"key file {path} is accessible to other users; chmod 600 it")
    if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
        raise _key_error(f'key file {path} must hold {{"keys": {{"k1": "<base64>"}}, …}}')
    materials: dict[str, bytes] = {}
    for key_id, encoded in document["keys"].items():
        if not isinstance(encoded, str):
            raise _key_error(f"key {key_id!r} in {path} must be a base64 string")
        materials[_check_key_id(key_id)] = _b64decode(encoded, f"key {key_id!r}")
    active = document.get("active")
    if active is not None and not isinstance(active, str):
        raise _key_error(f"'active' in {path} must be a key id")
    blind: tuple[str, bytes] | None = None
    spec = document.get("blind_index")
    if spec is not None:
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("id"), str)
            or not isinstance(spec.get("key"), str)
        ):
            raise _key_error(f'\'blind_index\' in {path} must be {{"id": "b1", "key": "<base64>"}}')
        blind = (_check_key_id(spec["id"]), _b64decode(spec["key"], "blind-index key"))
    return materials, active, blind


def encrypt_column(
    conn: Connection,
    table_: Table | str,
    id_column: str,
    plain_column: str,
    token_column: str,
    context: str,
    ring: KeyRing,
    *,
    bidx_column: str | None = None,
    batch: int = 10_000,
    commit: bool = False,
) -> int:
    """Fill ``token_column`` (and ``bidx_column``) from ``plain_column`` where the token is NULL.

    For the data step of the migration that introduces encryption, and for generators that
    load plaintext first: batches in id order, one executemany UPDATE per batch, restartable
    (rows already holding a token are skipped). Clearing or dropping the plaintext column is
    the caller's next step. Returns the number of rows encrypted.
    """
    columns = [id_column, plain_column, token_column, *([bidx_column] if bidx_column else [])]
    target: Any = table_ if isinstance(table_, Table) else table(table_, *(column(c) for c in columns))
    id_col, plain_col, token_col = target.c[id_column], target.c[plain_column], target.c[token_column]
    values: dict[str, Any] = {token_column: bindparam("b_token")}
    if bidx_column:
        values[bidx_column] = bindparam("b_bidx")
    write = update(target).where(id_col == bindparam("b_id"), token_col.is_(None)).values(values)
    done = 0
    last: Any = None
    while True:
        query = select(id_col, plain_col).where(token_col.is_(None), plain_col.is_not(None))
        if last is not None:
            query = query.where(id_col > last)
        rows = conn.execute(query.order_by(id_col).limit(batch)).all()
        if not rows:
            return done
        params = [
            {
                "b_id": row_id,
                "b_token": ring.encrypt(str(plain), context=context),
                **({"b_bidx": ring.blind_index(str(plain), context=context)} if bidx_column else {}),
            }
            for row_id, plain in rows
        ]
        conn.execute(write, params)
        done += len(params)
        last = rows[-1][0]
        if commit:
            conn.commit()


def rotate_column(
    conn: Connection,
    table_: Table | str,
    id_column: str,
    token_column: str,
    context: str,
    ring: KeyRing,
    batch: int = 10_000,
    *,
    commit: bool = False,
) -> int:
    """Re-encrypt every token of ``token_column`` not under the active key; returns how many.

    Walks the table in ``id_column`` order, ``batch`` rows at a time (keyset pagination: only
    rows needing rotation are read), decrypts and re-encrypts in Python — unavoidable, the
    database cannot run SM4 — and writes each batch back with one executemany ``UPDATE … WHERE
    id = ? AND token = ?`` (a value changed meanwhile is left alone). NULLs are skipped.

    Idempotent and restartable: a second run finds nothing to do, and an interrupted run
    resumes where the tokens still carry an old key id. With ``commit=True`` each batch is
    committed (the connection must be in commit-as-you-go mode, i.e. not inside ``begin()``),
    so an interruption loses at most one batch; otherwise the caller's transaction holds all.
    A token that does not decrypt stops the run with ``security.decrypt_failed`` naming the row.
    """
    if isinstance(table_, Table):
        target: Any = table_
    else:
        target = table(table_, column(id_column), column(token_column))
    id_col = target.c[id_column]
    token_col = target.c[token_column]
    prefix = ring.active_key_id + ":"
    stale = func.substr(token_col, 1, len(prefix)) != prefix
    write = (
        update(target)
        .where(id_col == bindparam("b_id"), token_col == bindparam("b_old"))
        .values({token_column: bindparam("b_new")})
    )
    done = 0
    last: Any = None
    while True:
        query = select(id_col, token_col).where(token_col.is_not(None), stale)
        if last is not None:
            query = query.where(id_col > last)
        rows = conn.execute(query.order_by(id_col).limit(batch)).all()
        if not rows:
            return done
        params = []
        for row_id, token in rows:
            try:
                plain = ring.decrypt(token, context=context)
            except HpfError as exc:
                raise _decrypt_error(
                    f"{target.name}.{token_column} of row {row_id} does not decrypt: {exc.detail}",
                    table=target.name,
                    row_id=row_id,
                ) from exc
            params.append({"b_id": row_id, "b_old": token, "b_new": ring.encrypt(plain, context=context)})
        conn.execute(write, params)
        done += len(params)
        last = rows[-1][0]
        if commit:
            conn.commit()
