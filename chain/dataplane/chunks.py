"""The chunk tree of a dataset (issue 14 part 2; docs/adr/0018-data-valve.md).

A dataset of ``size`` bytes is cut into ``ceil(size / chunk_size)`` chunks; every chunk but the
last holds exactly ``chunk_size`` bytes, and an empty dataset has no chunks. Chunk ``i`` has the
chunk hash ``SHA-256(chunk)`` and the leaf hash ``leaf_hash(chunk hash)`` (RFC 9162 §2.1.1);
``chunk_root`` is the RFC 6962 root of the leaf hashes, via :mod:`chain.merkle`, so one chunk
is proved against ``chunk_root`` with an ordinary inclusion proof (RFC 9162 §2.1.3).

Pure (DESIGN.md §2): no I/O, clock or randomness. :class:`ChunkHasher` takes the bytes in any
pieces, so a caller streams a file through it without holding more than one chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from chain import merkle
from chain.errors import ProofError, ValidationError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "ChunkHasher",
    "ChunkProofs",
    "ChunkSummary",
    "check_chunk_size",
    "chunk_count",
    "chunk_hash",
    "chunk_inclusion_proof",
    "chunk_length",
    "chunk_root",
    "split_chunks",
    "summarize",
    "verify_chunk",
]

DEFAULT_CHUNK_SIZE = 1 << 20
"""1 MiB, the chunk size the issue fixes as default."""
MIN_CHUNK_SIZE = 1 << 10
"""Smallest accepted chunk size (1 KiB): smaller chunks only inflate the tree."""
MAX_CHUNK_SIZE = 1 << 24
"""Largest accepted chunk size (16 MiB): one chunk is held in memory at a time."""


def check_chunk_size(chunk_size: object) -> int:
    """Return ``chunk_size`` if it is an int power of two in ``[MIN, MAX]``; else ValidationError."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise ValidationError(f"chunk_size must be an int, got {type(chunk_size).__name__}")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE or chunk_size & (chunk_size - 1):
        raise ValidationError(
            f"chunk_size {chunk_size} must be a power of two in [{MIN_CHUNK_SIZE}, {MAX_CHUNK_SIZE}]"
        )
    return chunk_size


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValidationError(f"size must be a non-negative int, got {size!r:.40}")
    return size


def chunk_count(size: int, chunk_size: int) -> int:
    """Number of chunks of a ``size``-byte dataset: ``ceil(size / chunk_size)``."""
    size, chunk_size = _check_size(size), check_chunk_size(chunk_size)
    return -(-size // chunk_size)


def chunk_length(index: int, size: int, chunk_size: int) -> int:
    """Length in bytes of chunk ``index``; ValidationError if the index is out of range."""
    count = chunk_count(size, chunk_size)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        raise ValidationError(f"chunk index {index!r:.40} is outside [0, {count}) for this dataset")
    return min(chunk_size, size - index * chunk_size)


def chunk_hash(chunk: bytes) -> bytes:
    """SHA-256 of one chunk's plaintext."""
    return hashlib.sha256(chunk).digest()


def chunk_root(chunk_hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 root over ``leaf_hash(h)`` for each chunk hash (``merkle.EMPTY_ROOT`` for none)."""
    return merkle.root([merkle.leaf_hash(h) for h in _checked_hashes(chunk_hashes)])


def chunk_inclusion_proof(chunk_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof of chunk ``index`` in :func:`chunk_root`."""
    return merkle.inclusion_proof([merkle.leaf_hash(h) for h in _checked_hashes(chunk_hashes)], index)


class ChunkProofs:
    """Every chunk's RFC 9162 §2.1.3.1 inclusion proof for one dataset, ``O(log n)`` hashes each.

    The egress stream needs one proof per chunk; :func:`chunk_inclusion_proof` costs ``O(n)`` per
    call (``O(n^2)`` per dataset). Here the subtree roots PATH uses are computed once and kept (at
    most ``n - 1`` of them), so a dataset's proofs cost ``O(n)`` hashes in all.
    """

    def __init__(self, chunk_hashes: Sequence[bytes]) -> None:
        self._leaves = [merkle.leaf_hash(h) for h in _checked_hashes(chunk_hashes)]
        self._subtrees: dict[tuple[int, int], bytes] = {}

    def _subtree(self, low: int, high: int) -> bytes:
        if high - low == 1:
            return self._leaves[low]
        found = self._subtrees.get((low, high))
        if found is None:
            middle = low + _split(high - low)
            found = merkle.node_hash(self._subtree(low, middle), self._subtree(middle, high))
            self._subtrees[(low, high)] = found
        return found

    def proof(self, index: int) -> list[bytes]:
        """The inclusion proof of chunk ``index`` (leaf-side sibling first, as :mod:`chain.merkle`)."""
        if not 0 <= index < len(self._leaves):
            raise ValidationError(f"chunk index {index} is outside [0, {len(self._leaves)})")
        path, low, high = [], 0, len(self._leaves)
        while high - low > 1:
            middle = low + _split(high - low)
            if index < middle:
                path.append(self._subtree(middle, high))
                high = middle
            else:
                path.append(self._subtree(low, middle))
                low = middle
        return path[::-1]


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n >= 2`` (RFC 9162 §2.1.1)."""
    return 1 << ((n - 1).bit_length() - 1)


def verify_chunk(chunk: bytes, index: int, count: int, proof: Sequence[bytes], root: bytes) -> None:
    """Return only if ``chunk`` is chunk ``index`` of ``count`` under ``root``; else ProofError."""
    if not isinstance(chunk, (bytes, bytearray, memoryview)):
        raise ProofError(f"chunk must be bytes, got {type(chunk).__name__}")
    merkle.verify_inclusion(merkle.leaf_hash(chunk_hash(bytes(chunk))), index, count, proof, root)


def _checked_hashes(chunk_hashes: Sequence[bytes]) -> list[bytes]:
    hashes = list(chunk_hashes)
    for position, h in enumerate(hashes):
        if not isinstance(h, bytes) or len(h) != merkle.HASH_SIZE:
            raise ValidationError(f"chunk hash {position} is not {merkle.HASH_SIZE} bytes")
    return hashes


@dataclass(frozen=True)
class ChunkSummary:
    """What an asset records about its content (the registry fields of issue 14 part 2)."""

    content_hash: bytes
    """SHA-256 of the whole dataset (the asset's existing ``content_hash``)."""
    chunk_root: bytes
    """RFC 6962 root over the chunk leaf hashes."""
    chunk_size: int
    """Bytes per chunk (the last chunk may be shorter)."""
    size: int
    """Total bytes of the dataset."""
    chunk_hashes: tuple[bytes, ...]
    """SHA-256 of every chunk, in order (``ceil(size / chunk_size)`` of them)."""


class ChunkHasher:
    """Streams a dataset in pieces of any length and yields each complete chunk as it fills.

    ``update(piece)`` returns the chunks completed by ``piece`` (so a store can write them);
    ``finish()`` returns the last, shorter chunk (if any) and the :class:`ChunkSummary`.
    At most one chunk is buffered.
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.chunk_size = check_chunk_size(chunk_size)
        self._buffer = bytearray()
        self._whole = hashlib.sha256()
        self._hashes: list[bytes] = []
        self._size = 0
        self._finished = False

    @property
    def size(self) -> int:
        """Bytes taken so far."""
        return self._size

    def update(self, piece: bytes) -> list[bytes]:
        """Take ``piece``; return the chunks it completes, in order."""
        if self._finished:
            raise ValidationError("the chunk hasher is already finished")
        if not isinstance(piece, (bytes, bytearray, memoryview)):
            raise ValidationError(f"piece must be bytes, got {type(piece).__name__}")
        self._whole.update(piece)
        self._size += len(piece)
        done: list[bytes] = []
        view = memoryview(piece)
        while len(view):
            room = self.chunk_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) == self.chunk_size:
                done.append(self._emit())
        return done

    def _emit(self) -> bytes:
        chunk = bytes(self._buffer)
        self._buffer.clear()
        self._hashes.append(chunk_hash(chunk))
        return chunk

    def finish(self) -> tuple[bytes | None, ChunkSummary]:
        """Close the stream: the final short chunk (``None`` if there is none) and the summary."""
        if self._finished:
            raise ValidationError("the chunk hasher is already finished")
        self._finished = True
        last = self._emit() if self._buffer else None
        hashes = tuple(self._hashes)
        summary = ChunkSummary(self._whole.digest(), chunk_root(hashes), self.chunk_size, self._size, hashes)
        return last, summary


def split_chunks(data: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """The chunks of ``data`` in order (empty data has none)."""
    check_chunk_size(chunk_size)
    for start in range(0, len(data), chunk_size):
        yield bytes(data[start : start + chunk_size])


def summarize(pieces: Iterable[bytes], chunk_size: int = DEFAULT_CHUNK_SIZE) -> ChunkSummary:
    """The :class:`ChunkSummary` of the dataset made of ``pieces`` (streamed, one chunk buffered)."""
    hasher = ChunkHasher(chunk_size)
    for piece in pieces:
        hasher.update(piece)
    return hasher.finish()[1]
