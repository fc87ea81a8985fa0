"""State snapshots at a certified checkpoint: formats and verification (ADR 0021, DESIGN.md §5).

A snapshot of height ``H`` (a stable checkpoint) has a **manifest** and 256 **chunks**.

- The manifest holds header ``H`` with its CommitCertificate, the *summary* of the state tree at
  nibble depth 2 — for each of the 256 two-nibble prefixes that hold a key, ``(prefix, kind, hash)``
  of the subtree there (a raised leaf or an internal node, ADR 0003) — the SHA-256 of each chunk's
  node-local index page (ADR 0009) and the number of history pages. The receiver checks the
  certificate against its validator set and recomputes the root from the summary (the 16-ary
  hashing of :mod:`chain.statetree_proof`): the summary then **is** certified by ``state_root``.
- Chunk ``k`` holds the leaves ``(key_hash, value)`` whose path starts with byte ``k``, ascending,
  and the index entries whose anchored hash starts with byte ``k``. The leaves must rebuild exactly
  the subtree hash in the summary, so a forged, truncated, reordered or foreign chunk is rejected on
  arrival and asked from another peer (the "chunks checked against the root" idea of CometBFT state
  sync and Ethereum's snap sync, with the proof made by the tree's own top levels).
- The index is not in ``state_root``. Its page digests are accepted only when ``f + 1`` validators
  signed manifests with the same height, block and digests: at least one of them is correct, and a
  correct replica's index is a deterministic function of the certified chain.
- History pages list the block hashes ``0 .. H-1``; together they must give header ``H``'s
  ``history_root`` (RFC 6962), so the node can extend the history without the old blocks.

This module is pure: hashlib and the codec only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chain import codec, merkle
from chain.contracts.anchoring import ANCHOR_INDEX, LOCATION
from chain.crypto import Signer, is_valid_signature
from chain.errors import DecodeError, ProofError, SnapshotError, ValidationError
from chain.statetree_proof import EMPTY_ROOT, HASH_SIZE, internal_hash, leaf_hash
from chain.types import CommitCertificate, Header, validators_hash

FORMAT = "silkport-snapshot/1"
CHUNKS = 256
"""Chunks per snapshot: one per first byte of a key's path (nibble depth 2)."""
HISTORY_PAGE = 32_768
"""Block hashes per history page (1 MiB)."""
LEAF, INTERNAL = 1, 2
MAX_MANIFEST_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 64 * 1024 * 1024

Summary = tuple[int, bytes]
"""``(kind, hash)`` of a subtree: ``LEAF`` (a raised leaf) or ``INTERNAL``."""


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _nibble(path: bytes, depth: int) -> int:
    byte = path[depth >> 1]
    return byte & 0x0F if depth & 1 else byte >> 4


def summarize(leaves: list[tuple[bytes, bytes]], depth: int) -> Summary | None:
    """The subtree at ``depth`` holding ``(key_hash, value_hash)`` leaves (ascending, sharing their
    first ``depth`` nibbles): the canonical shape of ADR 0003, None when there are none."""
    if not leaves:
        return None
    if len(leaves) == 1:
        return LEAF, leaf_hash(*leaves[0])
    bitmap, hashes, start = 0, [], 0
    for i in range(1, len(leaves) + 1):
        if i == len(leaves) or _nibble(leaves[i][0], depth) != _nibble(leaves[start][0], depth):
            child = summarize(leaves[start:i], depth + 1)
            assert child is not None
            bitmap |= 1 << _nibble(leaves[start][0], depth)
            hashes.append(child[1])
            start = i
    return INTERNAL, internal_hash(bitmap, b"".join(hashes))


def _combine(children: list[tuple[int, Summary]]) -> Summary | None:
    """A node over ``(nibble, summary)`` children: a lone leaf rises, anything else is internal."""
    if not children:
        return None
    if len(children) == 1 and children[0][1][0] == LEAF:
        return children[0][1]
    bitmap = 0
    for n, _summary in children:
        bitmap |= 1 << n
    return INTERNAL, internal_hash(bitmap, b"".join(summary[1] for _n, summary in children))


def root_from_summary(entries: dict[int, Summary]) -> bytes:
    """The state root from the depth-2 summary ``{first path byte: (kind, hash)}``."""
    top: list[tuple[int, Summary]] = []
    for high in range(16):
        node = _combine([(low, entries[high << 4 | low]) for low in range(16) if high << 4 | low in entries])
        if node is not None:
            top.append((high, node))
    root = _combine(top)
    return EMPTY_ROOT if root is None else root[1]


def index_digest(entries: list[tuple[bytes, bytes]]) -> bytes:
    """SHA-256 of one chunk's index page (its canonical encoding)."""
    return codec.digest(tuple((key, value) for key, value in entries))


def history_pages(height: int) -> int:
    """History pages of a snapshot at ``height`` (block hashes ``0 .. height-1``)."""
    return -(-height // HISTORY_PAGE)


@dataclass(frozen=True)
class Manifest:
    """A snapshot's manifest as one validator signed it (see module docs)."""

    header: Header
    certificate: CommitCertificate
    summary: dict[int, Summary]
    index_digests: tuple[bytes, ...]
    signer: int
    signature: bytes

    @property
    def height(self) -> int:
        return self.header.height

    def body(self) -> tuple[Any, ...]:
        entries = tuple((prefix, kind, digest) for prefix, (kind, digest) in sorted(self.summary.items()))
        return (FORMAT, self.header.to_wire(), self.certificate.to_wire(), entries, self.index_digests)

    def agreement(self) -> bytes:
        """What ``f + 1`` signers must share: height, block and index digests."""
        return codec.digest((self.height, self.header.block_hash, self.index_digests))

    def encode(self) -> bytes:
        return codec.encode((self.body(), self.signer, self.signature))

    @classmethod
    def create(
        cls, header: Header, certificate: CommitCertificate, summary: dict[int, Summary],
        index_digests: tuple[bytes, ...], signer_index: int, signer: Signer,
    ) -> Manifest:
        unsigned = cls(header, certificate, summary, index_digests, signer_index, b"")
        signature = signer.sign(codec.signing_bytes(codec.DOMAIN_SNAPSHOT, header.chain_id, unsigned.body()))
        return cls(header, certificate, summary, index_digests, signer_index, bytes(signature))

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        """Parse a manifest (shape only; :func:`verify_manifest` checks what it claims)."""
        try:
            body, signer, signature = codec.decode(data, max_size=MAX_MANIFEST_BYTES)
            fmt, header_wire, certificate_wire, entries, digests = body
            if fmt != FORMAT:
                raise SnapshotError(f"manifest format is {fmt!r}, not {FORMAT!r}")
            header = Header.from_wire(header_wire)
            certificate = CommitCertificate.from_wire(certificate_wire)
            summary: dict[int, Summary] = {}
            last = -1
            for prefix, kind, digest in entries:
                if not (isinstance(prefix, int) and last < prefix < CHUNKS):
                    raise SnapshotError("manifest summary prefixes must be ascending bytes 0..255")
                if kind not in (LEAF, INTERNAL) or not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
                    raise SnapshotError(f"manifest summary entry {prefix} is not (kind, 32-byte hash)")
                summary[prefix] = (kind, digest)
                last = prefix
            if len(digests) != CHUNKS or any(not isinstance(d, bytes) or len(d) != HASH_SIZE for d in digests):
                raise SnapshotError(f"manifest needs {CHUNKS} index page digests of {HASH_SIZE} bytes")
            if not isinstance(signer, int) or not isinstance(signature, bytes):
                raise SnapshotError("manifest signer is (validator index, signature)")
        except (ValueError, TypeError, DecodeError, ValidationError) as exc:
            if isinstance(exc, SnapshotError):
                raise
            raise SnapshotError(f"manifest does not decode: {exc}") from exc
        return cls(header, certificate, summary, tuple(digests), signer, signature)


def verify_manifest(manifest: Manifest, chain_id: str, validator_keys: tuple[bytes, ...]) -> None:
    """Raise :class:`SnapshotError` unless the header is certified by a quorum of ``validator_keys``,
    the summary gives its ``state_root`` and the named validator signed the manifest."""
    header = manifest.header
    if header.chain_id != chain_id:
        raise SnapshotError(f"snapshot is for chain {header.chain_id!r}, not {chain_id!r}")
    if header.validators_hash != validators_hash(validator_keys):
        raise SnapshotError(
            f"snapshot header {header.height} names another validator set than this node's (a trust chain may name it, ADR 0027)"
        )
    if manifest.certificate.height != header.height:
        raise SnapshotError("snapshot certificate is for another height than its header")
    try:
        manifest.certificate.verify(chain_id, validator_keys, header.block_hash)
    except ProofError as exc:
        raise SnapshotError(f"snapshot certificate: {exc.message}") from exc
    if root_from_summary(manifest.summary) != header.state_root:
        raise SnapshotError(f"snapshot summary does not give the state root of certified block {header.height}")
    if not 0 <= manifest.signer < len(validator_keys):
        raise SnapshotError(f"manifest signer {manifest.signer} is not a validator index")
    message = codec.signing_bytes(codec.DOMAIN_SNAPSHOT, chain_id, manifest.body())
    if not is_valid_signature(validator_keys[manifest.signer], message, manifest.signature):
        raise SnapshotError(f"manifest signature does not verify for validator {manifest.signer}")


@dataclass(frozen=True)
class Chunk:
    """One chunk: the leaves and index entries under one first path byte."""

    height: int
    index: int
    leaves: tuple[tuple[bytes, bytes], ...]
    """``(key_hash, value)`` ascending by key hash."""
    entries: tuple[tuple[bytes, bytes], ...]
    """Local-index ``(key, value)`` ascending by key."""

    def encode(self) -> bytes:
        return codec.encode((self.height, self.index, self.leaves, self.entries))

    @classmethod
    def decode(cls, data: bytes) -> Chunk:
        try:
            height, index, leaves, entries = codec.decode(data, max_size=MAX_CHUNK_BYTES)
            if not isinstance(height, int) or not isinstance(index, int):
                raise SnapshotError("chunk height and index are integers")
            pairs = []
            for group in (leaves, entries):
                if not all(len(p) == 2 and isinstance(p[0], bytes) and isinstance(p[1], bytes) for p in group):
                    raise SnapshotError("chunk items are (bytes, bytes) pairs")
                pairs.append(tuple((bytes(a), bytes(b)) for a, b in group))
        except (ValueError, TypeError, DecodeError) as exc:
            raise SnapshotError(f"chunk does not decode: {exc}") from exc
        return cls(height, index, pairs[0], pairs[1])


def verify_chunk(manifest: Manifest, index: int, chunk: Chunk, index_digests: tuple[bytes, ...]) -> None:
    """Raise :class:`SnapshotError` unless ``chunk`` is chunk ``index`` of ``manifest``'s snapshot:
    its leaves rebuild the summary's subtree and its index page has the agreed digest."""
    if chunk.height != manifest.height:
        raise SnapshotError(f"chunk is of height {chunk.height}, not the snapshot's {manifest.height}")
    if chunk.index != index:
        raise SnapshotError(f"chunk {chunk.index} was sent for chunk {index}")
    previous = b""
    hashed: list[tuple[bytes, bytes]] = []
    for path, value in chunk.leaves:
        if len(path) != HASH_SIZE or path[0] != index:
            raise SnapshotError(f"chunk {index} holds a key hash outside its prefix")
        if path <= previous:
            raise SnapshotError(f"chunk {index}: key hashes are not strictly ascending")
        previous = path
        hashed.append((path, _sha256(value)))
    if summarize(hashed, 2) != manifest.summary.get(index):
        raise SnapshotError(f"chunk {index} does not rebuild the certified subtree")
    previous = b""
    for key, value in chunk.entries:
        if len(key) != len(ANCHOR_INDEX) + HASH_SIZE or not key.startswith(ANCHOR_INDEX) \
                or key[len(ANCHOR_INDEX)] != index or len(value) != LOCATION.size:
            raise SnapshotError(f"chunk {index} holds a malformed index entry")
        if key <= previous:
            raise SnapshotError(f"chunk {index}: index keys are not strictly ascending")
        if LOCATION.unpack(value)[0] > manifest.height:
            raise SnapshotError(f"chunk {index} holds an index entry from above the snapshot height")
        previous = key
    if index_digest(list(chunk.entries)) != index_digests[index]:
        raise SnapshotError(f"chunk {index}: index page does not match the agreed digest")


def decode_history(data: bytes, manifest: Manifest, page: int) -> list[bytes]:
    """Block hashes of history page ``page``: the right count of 32-byte hashes (checked as a whole by
    :func:`verify_history`)."""
    try:
        height, number, hashes = codec.decode(data, max_size=HISTORY_PAGE * 40)
    except (ValueError, TypeError, DecodeError) as exc:
        raise SnapshotError(f"history page does not decode: {exc}") from exc
    expected = min(HISTORY_PAGE, manifest.height - page * HISTORY_PAGE)
    if not isinstance(hashes, tuple):
        raise SnapshotError(f"history page {page} does not hold an array of hashes")
    if height != manifest.height or number != page or len(hashes) != expected:
        raise SnapshotError(f"history page {page} is not the snapshot's ({expected} hashes of height {manifest.height})")
    if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in hashes):
        raise SnapshotError(f"history page {page} holds a value that is not a 32-byte hash")
    return list(hashes)


def verify_history(manifest: Manifest, hashes: list[bytes], genesis_hash: bytes) -> None:
    """Raise unless ``hashes`` are blocks ``0 .. H-1`` under header ``H``'s ``history_root``."""
    if len(hashes) != manifest.height or (hashes and hashes[0] != genesis_hash):
        raise SnapshotError("snapshot history does not start at this node's genesis block")
    accumulator = merkle.MerkleAccumulator()
    accumulator.extend(merkle.leaf_hash(h) for h in hashes)
    if accumulator.root() != manifest.header.history_root:
        raise SnapshotError(f"snapshot history does not give the history root of block {manifest.height}")
