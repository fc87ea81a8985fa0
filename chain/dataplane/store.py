"""A node's content store: datasets as chunks encrypted at rest (issue 14 part 2; ADR 0018).

Layout under ``<home>/content/``::

    data.key                 32-byte node-local key, mode 0600, made on first use
    assets/<asset_id>/       a complete, verified dataset (the only thing ever served)
        manifest             msgpack [version, content_hash, chunk_root, chunk_size, size, [chunk hashes]]
        chunks               records ``nonce(24) || XChaCha20-Poly1305(chunk)`` at fixed offsets
    incoming/<asset_id>.<n>/ an upload in progress; moved into ``assets/`` by one rename when verified

Each record is sealed with ``crypto_aead_xchacha20poly1305_ietf`` under the node key, a random
24-byte nonce, and associated data ``domain || asset_id || chunk_root || index``, so a copied disk
reveals nothing and a record swapped to another index, dataset or asset fails to open. Opened
chunks are also checked against their chunk hash, and the manifest's hashes against its root.
An upload is checked against the registered ``content_hash`` / ``chunk_root`` / ``size`` /
``chunk_size`` before the rename; a mismatch, a quota overrun or a full disk removes the
incoming directory, so nothing half-written is ever visible under ``assets/``.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nacl import bindings
from nacl.utils import random as random_bytes

from chain import codec
from chain.dataplane import chunks
from chain.errors import DecodeError, NotFoundError, QuotaError, StorageError, ValidationError

__all__ = ["ContentStore", "ExpectedContent", "Upload", "load_or_create_key", "summarize_file"]

KEY_SIZE = bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
NONCE_SIZE = bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
TAG_SIZE = bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
_AD_DOMAIN = b"silkport/chunk-at-rest/v1"
_MANIFEST_VERSION = 1
_ASSET_ID = re.compile(r"[0-9a-f]{64}")
_DISK_MARGIN = 1 << 20


def load_or_create_key(path: Path) -> bytes:
    """The node-local at-rest key at ``path``; created (0600) if absent, refused if not 0600."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise StorageError(f"content key {path} has mode {mode:o}; it must be 0600", code="bad_key_file")
        key = path.read_bytes()
        if len(key) != KEY_SIZE:
            raise StorageError(
                f"content key {path} is {len(key)} bytes, expected {KEY_SIZE}", code="bad_key_file"
            )
        return key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    key = random_bytes(KEY_SIZE)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def summarize_file(path: Path | str, chunk_size: int = chunks.DEFAULT_CHUNK_SIZE) -> chunks.ChunkSummary:
    """The chunk summary of a file, read in 1 MiB pieces (never the whole file in memory)."""
    with open(path, "rb") as f:
        return chunks.summarize(iter(lambda: f.read(1 << 20), b""), chunk_size)


def check_asset_id(asset_id: object) -> str:
    """``asset_id`` if it is 64 lowercase hex characters (so it is safe as a file name)."""
    if not isinstance(asset_id, str) or not _ASSET_ID.fullmatch(asset_id):
        raise ValidationError(
            f"asset id must be 64 lowercase hex characters, got {asset_id!r:.80}", code="bad_asset_id"
        )
    return asset_id


@dataclass(frozen=True)
class ExpectedContent:
    """The hashes an upload must match: the asset's registered content fields."""

    content_hash: bytes
    chunk_root: bytes
    chunk_size: int
    size: int

    def __post_init__(self) -> None:
        for name in ("content_hash", "chunk_root"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise ValidationError(f"{name} must be 32 bytes", code="bad_expected_content")
        chunks.check_chunk_size(self.chunk_size)
        chunks.chunk_count(self.size, self.chunk_size)


def _aad(asset_id: str, chunk_root: bytes, index: int) -> bytes:
    return _AD_DOMAIN + bytes.fromhex(asset_id) + chunk_root + index.to_bytes(8, "big")


def _disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class ContentStore:
    """Encrypted, verified datasets of one node, with a byte quota over everything stored."""

    def __init__(
        self,
        home: Path | str,
        *,
        quota_bytes: int = 64 << 30,
        free_bytes: Callable[[Path], int] | None = None,
    ) -> None:
        self.root = Path(home) / "content"
        (self.root / "assets").mkdir(parents=True, exist_ok=True)
        (self.root / "incoming").mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._key = load_or_create_key(self.root / "data.key")
        self.quota_bytes = quota_bytes
        self._free_bytes = free_bytes or (lambda p: shutil.disk_usage(p).free)
        self._serial = 0
        for stale in (self.root / "incoming").iterdir():  # uploads cut off by a crash or restart
            shutil.rmtree(stale, ignore_errors=True)

    # --- size accounting -----------------------------------------------------------------------

    @staticmethod
    def stored_size(size: int, chunk_size: int) -> int:
        """Bytes a dataset takes at rest (records only; the manifest is small)."""
        return size + chunks.chunk_count(size, chunk_size) * (NONCE_SIZE + TAG_SIZE)

    def used_bytes(self) -> int:
        """Bytes of chunk records under ``assets/`` and ``incoming/``."""
        total = 0
        for area in ("assets", "incoming"):
            for entry in (self.root / area).glob("*/chunks"):
                total += entry.stat().st_size
        return total

    # --- upload --------------------------------------------------------------------------------

    def has(self, asset_id: str) -> bool:
        """True if a complete, verified dataset for ``asset_id`` is stored."""
        return (self.root / "assets" / check_asset_id(asset_id) / "manifest").is_file()

    def begin_upload(self, asset_id: str, expected: ExpectedContent) -> Upload:
        """Start an upload; QuotaError / StorageError(disk_full) before a byte is written."""
        asset_id = check_asset_id(asset_id)
        if self.has(asset_id):
            raise ValidationError(f"asset {asset_id} already has its content stored", code="content_exists")
        need = self.stored_size(expected.size, expected.chunk_size)
        if self.used_bytes() + need > self.quota_bytes:
            raise QuotaError(
                f"storing {expected.size} bytes would exceed the content quota of {self.quota_bytes} bytes",
                code="content_quota",
            )
        if self._free_bytes(self.root) < need + _DISK_MARGIN:
            raise StorageError(f"the disk has no room for {expected.size} bytes of content", code="disk_full")
        self._serial += 1
        staging = self.root / "incoming" / f"{asset_id}.{os.getpid()}.{self._serial}"
        staging.mkdir()
        return Upload(self, asset_id, expected, staging)

    def _install(self, upload: Upload, summary: chunks.ChunkSummary) -> None:
        manifest = codec.encode(
            [
                _MANIFEST_VERSION,
                summary.content_hash,
                summary.chunk_root,
                summary.chunk_size,
                summary.size,
                list(summary.chunk_hashes),
            ]
        )
        path = upload.staging / "manifest"
        with open(path, "wb") as f:
            f.write(manifest)
            f.flush()
            os.fsync(f.fileno())
        target = self.root / "assets" / upload.asset_id
        try:
            os.rename(upload.staging, target)
        except OSError as exc:  # another upload of the same asset won the race
            raise ValidationError(
                f"asset {upload.asset_id} already has its content stored", code="content_exists"
            ) from exc
        dir_fd = os.open(self.root / "assets", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # --- reading -------------------------------------------------------------------------------

    def manifest(self, asset_id: str) -> chunks.ChunkSummary:
        """The stored dataset's summary; NotFoundError if absent, StorageError if corrupt."""
        path = self.root / "assets" / check_asset_id(asset_id) / "manifest"
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no content stored for asset {asset_id}", code="no_content") from None
        try:
            version, content_hash, root, chunk_size, size, hashes = codec.decode(raw)
            summary = chunks.ChunkSummary(content_hash, root, chunk_size, size, tuple(hashes))
            ok = (
                version == _MANIFEST_VERSION
                and len(hashes) == chunks.chunk_count(size, chunk_size)
                and chunks.chunk_root(hashes) == root
            )
        except (ValueError, TypeError, DecodeError, ValidationError) as exc:
            raise StorageError(f"content manifest of asset {asset_id} is corrupt: {exc}") from exc
        if not ok:
            raise StorageError(f"content manifest of asset {asset_id} does not match its chunk root")
        return summary

    def read_chunk(self, asset_id: str, index: int, summary: chunks.ChunkSummary | None = None, *,
                   check_hash: bool = True) -> bytes:
        """Plaintext of chunk ``index``, opened and checked; StorageError if tampered at rest.

        ``summary``: the dataset's :meth:`manifest`, already read and checked (a stream reads it once,
        not once per chunk). ``check_hash=False`` skips the SHA-256 check after the AEAD opened the record
        (the egress stream: the AEAD already binds the record to this asset, root and index under the
        node key, and the recipient checks every chunk against the chunk root itself).
        """
        if summary is None:
            summary = self.manifest(asset_id)
        length = chunks.chunk_length(index, summary.size, summary.chunk_size)
        record = NONCE_SIZE + summary.chunk_size + TAG_SIZE
        with open(self.root / "assets" / asset_id / "chunks", "rb") as f:
            f.seek(index * record)
            blob = f.read(NONCE_SIZE + length + TAG_SIZE)
        if len(blob) != NONCE_SIZE + length + TAG_SIZE:
            raise StorageError(f"chunk {index} of asset {asset_id} is truncated at rest")
        try:
            plain = bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                blob[NONCE_SIZE:], _aad(asset_id, summary.chunk_root, index), blob[:NONCE_SIZE], self._key
            )
        except Exception as exc:  # nacl raises CryptoError; any failure means tampering
            raise StorageError(f"chunk {index} of asset {asset_id} fails authentication at rest") from exc
        if check_hash and chunks.chunk_hash(plain) != summary.chunk_hashes[index]:
            raise StorageError(f"chunk {index} of asset {asset_id} does not match its chunk hash")
        return plain

    def remove(self, asset_id: str) -> None:
        """Delete a stored dataset (no error if absent)."""
        shutil.rmtree(self.root / "assets" / check_asset_id(asset_id), ignore_errors=True)


class Upload:
    """One streamed upload: ``write`` pieces, then ``finish`` (verify + install) or ``abort``."""

    def __init__(self, store: ContentStore, asset_id: str, expected: ExpectedContent, staging: Path) -> None:
        self.store, self.asset_id, self.expected, self.staging = store, asset_id, expected, staging
        self._hasher = chunks.ChunkHasher(expected.chunk_size)
        self._file = open(staging / "chunks", "wb")  # noqa: SIM115 - closed in finish/abort
        self._index = 0
        self._done = False

    def write(self, piece: bytes) -> None:
        """Take the next piece of the dataset; refuses more bytes than the registered size."""
        self._check_open()
        if self._hasher.size + len(piece) > self.expected.size:
            self.abort()
            raise ValidationError(
                f"upload is longer than the registered size of {self.expected.size} bytes",
                code="content_mismatch",
            )
        for chunk in self._hasher.update(piece):
            self._seal(chunk)

    def _seal(self, chunk: bytes) -> None:
        nonce = random_bytes(NONCE_SIZE)
        sealed = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            chunk, _aad(self.asset_id, self.expected.chunk_root, self._index), nonce, self.store._key
        )
        try:
            self._file.write(nonce + sealed)
        except OSError as exc:
            self.abort()
            if _disk_full(exc):
                raise StorageError(
                    "the disk filled up during the upload; nothing was stored", code="disk_full"
                ) from exc
            raise StorageError(f"cannot write content: {exc.strerror}") from exc
        self._index += 1

    def finish(self) -> chunks.ChunkSummary:
        """Verify every registered field and install the dataset; on any mismatch store nothing."""
        self._check_open()
        last, summary = self._hasher.finish()
        if last is not None:
            self._seal(last)
        mismatches = [
            name
            for name, got, want in (
                ("size", summary.size, self.expected.size),
                ("content_hash", summary.content_hash, self.expected.content_hash),
                ("chunk_root", summary.chunk_root, self.expected.chunk_root),
            )
            if got != want
        ]
        if mismatches:
            self.abort()
            raise ValidationError(
                f"upload does not match the registered {', '.join(mismatches)}; nothing was stored",
                code="content_mismatch",
            )
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self.store._install(self, summary)
        except OSError as exc:
            self.abort()
            code = "disk_full" if _disk_full(exc) else "storage_error"
            raise StorageError(f"cannot install content: {exc.strerror}", code=code) from exc
        except ValidationError:
            self.abort()
            raise
        self._done = True
        return summary

    def abort(self) -> None:
        """Drop everything written so far (idempotent)."""
        if self._done:
            return
        self._done = True
        self._file.close()
        shutil.rmtree(self.staging, ignore_errors=True)

    def _check_open(self) -> None:
        if self._done:
            raise ValidationError("this upload is already finished or aborted", code="upload_closed")
