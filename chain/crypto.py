"""Ed25519 keys, signatures and key files (RFC 8032 via PyNaCl / libsodium).

libsodium's ``crypto_sign_verify_detached`` rejects non-canonical ``S`` (``S >= L``), small-order
and non-canonical public keys, which covers the RFC 8032 must-reject vectors we test against.
Key files are JSON written with mode 0600 and refused on load when group/other can read them.

A key file may be **encrypted at rest** (ADR 0012): type ``silkport-ed25519-encrypted/1``, the seed
sealed with ``crypto_secretbox`` (XSalsa20-Poly1305) under a key derived from a passphrase with
Argon2id (RFC 9106); the cost parameters and salt are stored in the file, the public key in the
clear (so a node home or a genesis can be checked without the passphrase). The passphrase comes
from the caller, else the ``SILKPORT_KEY_PASSPHRASE`` environment variable, else a terminal prompt.
Out of scope: HSMs / PKCS#11 tokens, and rotation (governance's ``rotate_validator_key``).
"""

from __future__ import annotations

import getpass
import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from chain.errors import KeyFormatError, SignatureError

PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
SIGNATURE_SIZE = 64
KEY_FILE_TYPE = "silkport-ed25519/1"
ENCRYPTED_KEY_FILE_TYPE = "silkport-ed25519-encrypted/1"
PASSPHRASE_ENV = "SILKPORT_KEY_PASSPHRASE"
KDF_OPSLIMIT = 3
KDF_MEMLIMIT = 64 * 1024 * 1024
"""Argon2id costs of new files (≈0.1 s here); loading accepts any stored costs within the bounds below."""
KDF_MAX_OPSLIMIT = 64
KDF_MAX_MEMLIMIT = 1024 * 1024 * 1024


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


def _derive(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase, salt,
                                    opslimit=opslimit, memlimit=memlimit)


def encrypted_document(
    keypair: KeyPair, passphrase: bytes, *, opslimit: int = KDF_OPSLIMIT, memlimit: int = KDF_MEMLIMIT
) -> dict[str, object]:
    """The JSON document of an encrypted key file (fresh salt and nonce)."""
    if not passphrase:
        raise KeyFormatError("an empty passphrase does not protect a key")
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive(passphrase, salt, opslimit, memlimit))
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    return {
        "type": ENCRYPTED_KEY_FILE_TYPE,
        "public_key": keypair.public_hex,
        "kdf": {"name": "argon2id", "opslimit": opslimit, "memlimit": memlimit, "salt": salt.hex()},
        "cipher": "xsalsa20-poly1305",
        "nonce": nonce.hex(),
        "ciphertext": box.encrypt(keypair.seed, nonce).ciphertext.hex(),
    }


def save_key_file(
    path: Path | str,
    keypair: KeyPair,
    *,
    overwrite: bool = False,
    passphrase: bytes | None = None,
    opslimit: int = KDF_OPSLIMIT,
    memlimit: int = KDF_MEMLIMIT,
) -> None:
    """Write ``keypair`` to ``path`` as JSON, created with mode 0600 (never world-readable); encrypted
    under ``passphrase`` when one is given."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    document: dict[str, object]
    if passphrase is not None:
        document = encrypted_document(keypair, passphrase, opslimit=opslimit, memlimit=memlimit)
    else:
        document = {"type": KEY_FILE_TYPE, "public_key": keypair.public_hex, "secret_key": keypair.seed.hex()}
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (json.dumps(document, indent=1) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_passphrase_file(path: Path | str) -> bytes:
    """A passphrase file's contents without the final newline; it must not be readable by others."""
    path = Path(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFormatError(f"cannot read passphrase file {path}: {exc.strerror}") from exc
    if mode & 0o077:
        raise KeyFormatError(f"passphrase file {path} is readable by others (mode {mode:o}); chmod 600 it")
    passphrase = data.rstrip(b"\r\n")
    if not passphrase:
        raise KeyFormatError(f"passphrase file {path} is empty")
    return passphrase


def _passphrase_for(path: Path, given: bytes | None) -> bytes:
    """The caller's passphrase, else ``$SILKPORT_KEY_PASSPHRASE``, else a prompt on a terminal."""
    if given is not None:
        return given
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env.encode()
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"passphrase for {path}: ").encode()
    raise KeyFormatError(
        f"key file {path} is encrypted: give its passphrase in {PASSPHRASE_ENV} or a passphrase file"
    )


def _check_kdf(path: Path, kdf: dict[str, object]) -> tuple[bytes, int, int]:
    if kdf.get("name") != "argon2id":
        raise KeyFormatError(f"key file {path}: unknown key derivation {kdf.get('name')!r}")
    opslimit, memlimit = kdf["opslimit"], kdf["memlimit"]
    if not isinstance(opslimit, int) or not isinstance(memlimit, int):
        raise KeyFormatError(f"key file {path}: argon2id costs must be integers")
    if not (nacl.pwhash.argon2id.OPSLIMIT_MIN <= opslimit <= KDF_MAX_OPSLIMIT
            and nacl.pwhash.argon2id.MEMLIMIT_MIN <= memlimit <= KDF_MAX_MEMLIMIT):
        raise KeyFormatError(f"key file {path}: argon2id costs out of range (ops {opslimit}, mem {memlimit})")
    salt = bytes.fromhex(str(kdf["salt"]))
    if len(salt) != nacl.pwhash.argon2id.SALTBYTES:
        raise KeyFormatError(f"key file {path}: the salt is not {nacl.pwhash.argon2id.SALTBYTES} bytes")
    return salt, opslimit, memlimit


def _decrypt_seed(path: Path, document: dict[str, object], passphrase: bytes | None) -> bytes:
    kdf = document["kdf"]
    if not isinstance(kdf, dict) or document.get("cipher") != "xsalsa20-poly1305":
        raise KeyFormatError(f"key file {path}: unknown cipher or key derivation")
    salt, opslimit, memlimit = _check_kdf(path, kdf)
    nonce, ciphertext = bytes.fromhex(str(document["nonce"])), bytes.fromhex(str(document["ciphertext"]))
    secret = _passphrase_for(path, passphrase)
    try:
        box = nacl.secret.SecretBox(_derive(secret, salt, opslimit, memlimit))
        return box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError as exc:
        raise KeyFormatError(f"key file {path}: wrong passphrase (or the file was altered)") from exc


def _read_key_document(path: Path) -> dict[str, object]:
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
    except ValueError as exc:
        raise KeyFormatError(f"key file {path} is malformed") from exc
    if not isinstance(document, dict) or document.get("type") not in (KEY_FILE_TYPE, ENCRYPTED_KEY_FILE_TYPE):
        raise KeyFormatError(f"key file {path} is not of type {KEY_FILE_TYPE} or {ENCRYPTED_KEY_FILE_TYPE}")
    return document


def is_encrypted_key_file(path: Path | str) -> bool:
    return _read_key_document(Path(path)).get("type") == ENCRYPTED_KEY_FILE_TYPE


def key_file_public_key(path: Path | str) -> bytes:
    """The public key a key file names, without decrypting it (plain files are fully checked)."""
    path = Path(path)
    document = _read_key_document(path)
    if document["type"] == KEY_FILE_TYPE:
        return load_key_file(path).public_key
    try:
        return check_public_key(bytes.fromhex(str(document["public_key"])))
    except (ValueError, KeyError) as exc:
        raise KeyFormatError(f"key file {path} is malformed") from exc


def load_key_file(path: Path | str, passphrase: bytes | None = None) -> KeyPair:
    """Load and check a key file, plain or encrypted: mode 0600, known type, public key matching the
    secret. An encrypted file's passphrase: ``passphrase``, else the environment, else a prompt."""
    path = Path(path)
    document = _read_key_document(path)
    try:
        if document["type"] == ENCRYPTED_KEY_FILE_TYPE:
            seed = _decrypt_seed(path, document, passphrase)
        else:
            seed = bytes.fromhex(str(document["secret_key"]))
        keypair = KeyPair.from_seed(seed)
        expected_public = bytes.fromhex(str(document["public_key"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyFormatError(f"key file {path} is malformed") from exc
    if keypair.public_key != expected_public:
        raise KeyFormatError(f"key file {path}: public key does not match the secret key")
    return keypair
