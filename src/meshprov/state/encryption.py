"""Client-side encryption of state, state journals and saved plans (``meshprov { encryption }``).

A passphrase from the environment (``passphrase_env``) is stretched by scrypt (n=2**15, r=8,
p=1) with a random salt into an AES-256-GCM key. Every file gets its own salt, so the same
passphrase never yields the same key twice; a random 96-bit nonce is drawn per encryption.

A whole file (state, backup, ``errored.state.json``, plan) becomes a self-describing JSON
*envelope*::

    {"meshprov_encrypted": 1, "content": "meshprov-state", "cipher": "AES-256-GCM",
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<base64>"},
     "nonce": "<base64>", "ciphertext": "<base64: ciphertext and GCM tag>"}

``content`` says what is inside and is bound to the ciphertext (it is the GCM associated data),
so a sealed plan cannot pass for a state.

The apply journal is appended line by line and each line must be durable on its own, yet one
scrypt per line would cost ~0.1 s a resource. So a journal derives its key once, in its header
line (salt and a sealed key check), and seals each following line with that key and its own
nonce; the header's lineage, serial and salt are every line's associated data.

Rotation: ``fallback_passphrase_env`` names a second passphrase that is tried when the first
does not open a file. Everything is written with the first one.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from meshprov.state.model import StateError

ENVELOPE_KEY = "meshprov_encrypted"
ENVELOPE_VERSION = 1
CIPHER = "AES-256-GCM"
KDF = "scrypt"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
NONCE_BYTES = 12
KEY_BYTES = 32
# Bounds on the KDF parameters a file may ask for: a crafted file must not make us spend
# gigabytes or minutes deriving a key.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16

CONTENT_STATE = "meshprov-state"
CONTENT_PLAN = "meshprov-plan"
_JOURNAL_CHECK = b"meshprov journal key check"


class EncryptionError(StateError):
    """A file cannot be encrypted or decrypted: no passphrase, a wrong one, a damaged file."""


@dataclass(frozen=True)
class Passphrase:
    env: str  # the environment variable it came from
    setting: str  # "passphrase_env" or "fallback_passphrase_env"
    value: bytes

    def __repr__(self) -> str:  # never the passphrase itself
        return f"Passphrase(env={self.env!r}, setting={self.setting!r})"


@dataclass(frozen=True)
class _Kdf:
    n: int
    r: int
    p: int
    salt: bytes

    def to_json(self) -> dict:
        return {"name": KDF, "n": self.n, "r": self.r, "p": self.p, "salt": _b64(self.salt)}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, what: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise EncryptionError(f"{source} is a damaged encrypted file: {what} is missing", source)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionError(
            f"{source} is a damaged encrypted file: {what} is not base64", source
        ) from None


def is_envelope(data: bytes) -> bool:
    """Whether ``data`` looks like an encrypted meshprov file (not yet checked further)."""
    head = data[:200].lstrip()
    return head.startswith(b"{") and f'"{ENVELOPE_KEY}"'.encode() in head


class StateEncryption:
    """The passphrases of one configuration, and the keys derived from them in this process.

    Thread-safe: the apply's background state push and the main thread may seal at once.
    """

    def __init__(
        self,
        primary: Passphrase,
        fallback: Passphrase | None = None,
        *,
        n: int = SCRYPT_N,
        r: int = SCRYPT_R,
        p: int = SCRYPT_P,
    ):
        self.primary = primary
        self.fallback = fallback
        self._params = (n, r, p)
        self._keys: dict[tuple[bytes, _Kdf], bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StateEncryption(primary={self.primary!r}, fallback={self.fallback!r})"

    @classmethod
    def from_environment(
        cls,
        passphrase_env: str,
        fallback_passphrase_env: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> StateEncryption:
        """Read the passphrases; raises EncryptionError if the first one is not set."""
        environ = os.environ if environ is None else environ
        value = environ.get(passphrase_env, "")
        if not value:
            raise EncryptionError(
                f"State encryption is configured, but the environment variable "
                f"{passphrase_env} (encryption.passphrase_env) is not set or is empty. "
                f"Set it to the passphrase of this configuration's state; meshprov changed "
                "nothing."
            )
        primary = Passphrase(passphrase_env, "passphrase_env", value.encode("utf-8"))
        fallback = None
        if fallback_passphrase_env:
            old = environ.get(fallback_passphrase_env, "")
            if old:
                fallback = Passphrase(
                    fallback_passphrase_env, "fallback_passphrase_env", old.encode("utf-8")
                )
        return cls(primary, fallback)

    # -- keys -------------------------------------------------------------------------------

    def _new_kdf(self) -> _Kdf:
        n, r, p = self._params
        return _Kdf(n, r, p, os.urandom(SALT_BYTES))

    def _key(self, passphrase: Passphrase, kdf: _Kdf) -> bytes:
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        cache_key = (passphrase.value, kdf)
        with self._lock:
            key = self._keys.get(cache_key)
        if key is None:
            key = Scrypt(salt=kdf.salt, length=KEY_BYTES, n=kdf.n, r=kdf.r, p=kdf.p).derive(
                passphrase.value
            )
            with self._lock:
                self._keys[cache_key] = key
        return key

    def _passphrases(self) -> tuple[Passphrase, ...]:
        return (self.primary,) if self.fallback is None else (self.primary, self.fallback)

    def _wrong_passphrase(self, source: str) -> EncryptionError:
        names = " or ".join(f"{p.env} ({'encryption.' + p.setting})" for p in self._passphrases())
        return EncryptionError(
            f"Cannot decrypt {source}: the passphrase in {names} is not the one it was "
            "encrypted with (or the file was altered). Set the right passphrase; while "
            "rotating, put the old one in the variable named by fallback_passphrase_env. "
            "meshprov changed nothing.",
            source,
        )

    # -- whole files --------------------------------------------------------------------------

    def seal(self, plaintext: bytes, content: str) -> bytes:
        """An envelope holding ``plaintext``, under a key from the primary passphrase."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kdf = self._new_kdf()
        key = self._key(self.primary, kdf)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, content.encode("utf-8"))
        envelope = {
            ENVELOPE_KEY: ENVELOPE_VERSION,
            "content": content,
            "cipher": CIPHER,
            "kdf": kdf.to_json(),
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }
        return (json.dumps(envelope, indent=2) + "\n").encode("ascii")

    def open(self, data: bytes, content: str, source: str) -> tuple[bytes, Passphrase]:
        """The plaintext of an envelope, and the passphrase that opened it."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        envelope = _parse_envelope(data, source)
        found = envelope.get("content")
        if found != content:
            raise EncryptionError(
                f"{source} holds an encrypted {found or 'unknown file'}, not a {content}", source
            )
        kdf = _kdf_of(envelope.get("kdf"), source)
        nonce = _unb64(envelope.get("nonce"), "the nonce", source)
        ciphertext = _unb64(envelope.get("ciphertext"), "the ciphertext", source)
        if len(nonce) != NONCE_BYTES:
            raise EncryptionError(f"{source} is a damaged encrypted file: bad nonce", source)
        for passphrase in self._passphrases():
            try:
                plain = AESGCM(self._key(passphrase, kdf)).decrypt(
                    nonce, ciphertext, content.encode("utf-8")
                )
            except InvalidTag:
                continue
            return plain, passphrase
        raise self._wrong_passphrase(source)

    # -- journals -----------------------------------------------------------------------------

    def journal_header(self, lineage: str, serial: int) -> tuple[dict, JournalSealer]:
        """The ``encryption`` member of a new journal's header, and the sealer of its lines."""
        kdf = self._new_kdf()
        sealer = JournalSealer(self._key(self.primary, kdf), _journal_aad(lineage, serial, kdf))
        check = sealer.seal_fields(_JOURNAL_CHECK)
        return {"cipher": CIPHER, "kdf": kdf.to_json(), "check": check}, sealer

    def journal_opener(self, header: dict, source: str) -> JournalSealer:
        """The sealer that opens a journal's lines; raises EncryptionError for a wrong key."""
        params = header.get("encryption")
        if not isinstance(params, dict) or params.get("cipher") != CIPHER:
            raise EncryptionError(f"State journal {source} has an unknown encryption", source)
        kdf = _kdf_of(params.get("kdf"), source)
        check = params.get("check")
        if not isinstance(check, dict):
            raise EncryptionError(f"State journal {source} has no key check", source)
        aad = _journal_aad(header["lineage"], header["serial"], kdf)
        for passphrase in self._passphrases():
            sealer = JournalSealer(self._key(passphrase, kdf), aad)
            if sealer.open_fields(check) == _JOURNAL_CHECK:
                return sealer
        raise self._wrong_passphrase(f"the state journal {source}")


class JournalSealer:
    """Seals and opens journal lines with one derived key; each line has its own nonce."""

    def __init__(self, key: bytes, aad: bytes):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(key)
        self._aad = aad

    def seal_fields(self, plaintext: bytes) -> dict:
        nonce = os.urandom(NONCE_BYTES)
        return {
            "nonce": _b64(nonce),
            "ciphertext": _b64(self._aead.encrypt(nonce, plaintext, self._aad)),
        }

    def seal_line(self, plaintext: bytes) -> bytes:
        return json.dumps(self.seal_fields(plaintext), separators=(",", ":")).encode("ascii")

    def open_fields(self, fields: Any) -> bytes | None:
        """The plaintext, or None if ``fields`` is not a line sealed with this key."""
        from cryptography.exceptions import InvalidTag

        if not isinstance(fields, dict):
            return None
        try:
            nonce = base64.b64decode(fields.get("nonce", ""), validate=True)
            ciphertext = base64.b64decode(fields.get("ciphertext", ""), validate=True)
            return self._aead.decrypt(nonce, ciphertext, self._aad)
        except (binascii.Error, ValueError, TypeError, InvalidTag):
            return None

    def open_line(self, line: bytes) -> bytes | None:
        try:
            fields = json.loads(line.decode("ascii"))
        except (ValueError, RecursionError):
            return None
        return self.open_fields(fields)


def _journal_aad(lineage: str, serial: int, kdf: _Kdf) -> bytes:
    return f"meshprov-journal\0{lineage}\0{serial}\0".encode() + kdf.salt


def _parse_envelope(data: bytes, source: str) -> dict:
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise EncryptionError(f"{source} is a damaged encrypted file (not JSON)", source) from None
    if not isinstance(envelope, dict) or ENVELOPE_KEY not in envelope:
        raise EncryptionError(f"{source} is not an encrypted meshprov file", source)
    version = envelope[ENVELOPE_KEY]
    if version != ENVELOPE_VERSION:
        raise EncryptionError(
            f"{source} was encrypted by a newer meshprov (envelope version {version}); this "
            f"meshprov reads version {ENVELOPE_VERSION}",
            source,
        )
    if envelope.get("cipher") != CIPHER:
        raise EncryptionError(
            f"{source} uses the cipher {envelope.get('cipher')!r}; meshprov supports {CIPHER}",
            source,
        )
    return envelope


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _kdf_of(data: Any, source: str) -> _Kdf:
    if not isinstance(data, dict) or data.get("name") != KDF:
        raise EncryptionError(f"{source} does not use the {KDF} key derivation", source)
    n, r, p = data.get("n"), data.get("r"), data.get("p")
    if (
        not (_whole(n) and _whole(r) and _whole(p))
        or not (2 <= n <= _MAX_N and n & (n - 1) == 0)
        or not (1 <= r <= _MAX_R)
        or not (1 <= p <= _MAX_P)
    ):
        raise EncryptionError(f"{source} has scrypt parameters out of bounds", source)
    salt = _unb64(data.get("salt"), "the salt", source)
    if len(salt) < 8:
        raise EncryptionError(f"{source} has a salt that is too short", source)
    return _Kdf(n, r, p, salt)


def decode(
    data: bytes, content: str, source: str, encryption: StateEncryption | None
) -> tuple[bytes, str]:
    """The plaintext of a state or plan file, and how it was stored.

    The second value is ``"plain"``, ``"primary"`` or ``"fallback"`` (which passphrase opened
    it). An encrypted file without encryption configured is an EncryptionError.
    """
    if not is_envelope(data):
        return data, "plain"
    if encryption is None:
        raise EncryptionError(
            f"{source} is encrypted, but the configuration has no encryption settings. Add "
            'meshprov { encryption { passphrase_env = "NAME" } } with NAME the environment '
            "variable that holds its passphrase.",
            source,
        )
    plain, passphrase = encryption.open(data, content, source)
    return plain, "primary" if passphrase is encryption.primary else "fallback"


def encode(data: bytes, content: str, encryption: StateEncryption | None) -> bytes:
    """``data`` as it is stored: sealed when encryption is configured."""
    return data if encryption is None else encryption.seal(data, content)
