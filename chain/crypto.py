"""Ed25519 keys, signatures and key files (RFC 8032 via PyNaCl / libsodium).

libsodium's ``crypto_sign_verify_detached`` rejects non-canonical ``S`` (``S >= L``), small-order
and non-canonical public keys, which covers the RFC 8032 must-reject vectors we test against.
Key files are JSON written with mode 0600 and refused on load when group/other can read them.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.signing

from chain.errors import KeyFormatError, SignatureError

PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
SIGNATURE_SIZE = 64
KEY_FILE_TYPE = "silkport-ed25519/1"


def check_public_key(public_key: bytes) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise KeyFormatError("an Ed25519 public key is exactly 32 bytes")
    return public_key


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is ``public_key``'s over ``message``."""
    check_public_key(public_key)
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        raise SignatureError("an Ed25519 signature is exactly 64 bytes")
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.CryptoError) as exc:
        raise SignatureError("signature does not verify") from exc


def is_valid_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        verify(public_key, message, signature)
    except (SignatureError, KeyFormatError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An Ed25519 key pair; ``seed`` is the RFC 8032 32-byte private key."""

    seed: bytes
    public_key: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
            raise KeyFormatError("an Ed25519 private key (seed) is exactly 32 bytes")
        signing_key = nacl.signing.SigningKey(seed)
        return cls(seed=seed, public_key=bytes(signing_key.verify_key))

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_seed(os.urandom(SEED_SIZE))

    def sign(self, message: bytes) -> bytes:
        return nacl.signing.SigningKey(self.seed).sign(message).signature

    @property
    def public_hex(self) -> str:
        return self.public_key.hex()

    def __repr__(self) -> str:  # never print the seed
        return f"KeyPair(public_key={self.public_hex})"


class Signer:
    """A key pair with its libsodium signing key cached (hot path: consensus votes)."""

    __slots__ = ("public_key", "_signing_key")

    def __init__(self, keypair: KeyPair) -> None:
        self.public_key = keypair.public_key
        self._signing_key = nacl.signing.SigningKey(keypair.seed)

    def sign(self, message: bytes) -> bytes:
        return self._signing_key.sign(message).signature


def save_key_file(path: Path | str, keypair: KeyPair, *, overwrite: bool = False) -> None:
    """Write ``keypair`` to ``path`` as JSON, created with mode 0600 (never world-readable)."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    document = {"type": KEY_FILE_TYPE, "public_key": keypair.public_hex, "secret_key": keypair.seed.hex()}
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (json.dumps(document, indent=1) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def load_key_file(path: Path | str) -> KeyPair:
    """Load and check a key file: mode 0600, known type, public key matching the secret."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text()
    except OSError as exc:
        raise KeyFormatError(f"cannot read key file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise KeyFormatError(f"key file {path} is not a Silkport key file (binary, not JSON text)") from None
    if mode & 0o077:
        raise KeyFormatError(f"key file {path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        document = json.loads(text)
        if document.get("type") != KEY_FILE_TYPE:
            raise KeyFormatError(f"key file {path} is not of type {KEY_FILE_TYPE}")
        keypair = KeyPair.from_seed(bytes.fromhex(document["secret_key"]))
        expected_public = bytes.fromhex(document["public_key"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyFormatError(f"key file {path} is malformed") from exc
    if keypair.public_key != expected_public:
        raise KeyFormatError(f"key file {path}: public key does not match the secret key")
    return keypair
