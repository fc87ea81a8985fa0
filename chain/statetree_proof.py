"""State-tree hashing and proofs: what a verifier needs, and nothing else (DESIGN.md §4, §9).

This module is the verifier's half of :mod:`chain.statetree`; it needs no storage. The public names
are re-exported by :mod:`chain.statetree`. Everything here is pure: hashlib and :mod:`chain.codec`.

Tree shape
----------
The state is a map from byte-string keys to byte-string values. A key's *path* is
``key_hash = SHA-256(key)``, read as 64 *nibbles* (4-bit digits): nibble ``i`` is the high half of
byte ``i // 2`` when ``i`` is even, the low half when it is odd. The tree is the 16-ary compressed
sparse Merkle tree of the Jellyfish Merkle Tree (Gao et al., "Jellyfish Merkle Tree", Diem 2021):
the subtree holding the set ``S`` of key hashes that share their first ``d`` nibbles is

- nothing (empty) when ``S`` is empty,
- a **leaf** ``(key_hash, value_hash)`` when ``S`` holds one key (the leaf sits as high as it can),
- otherwise an **internal node** whose child at nibble ``n`` is the subtree of the key hashes in
  ``S`` whose nibble ``d`` is ``n`` (so an internal node has two or more children, or exactly one
  child that is itself an internal node).

The shape depends only on the set of keys, never on the order of updates, so the same key/value
set always has the same root.

Hashing (all SHA-256; ``||`` is concatenation)
----------------------------------------------
- ``value_hash    = SHA-256(value)``
- ``leaf_hash     = SHA-256(0x00 || key_hash || value_hash)``                     (65-byte input)
- ``internal_hash = SHA-256(0x01 || bitmap || child_hash_0 || ... || child_hash_k)`` where
  ``bitmap`` is 2 bytes big-endian with bit ``n`` (value ``1 << n``) set iff the child at nibble
  ``n`` is present, and the child hashes of the present children follow in ascending nibble order
  (3 + 32·k bytes).
- ``EMPTY_ROOT    = SHA-256("")`` (``e3b0c442...b855``): the root of the empty map, the same value as
  the RFC 6962 root of an empty tree. Its preimage is empty, so it can never equal a leaf or
  internal hash (whose preimages start with 0x00 / 0x01 and are 65+ bytes); empty children are not
  hashed at all — the bitmap leaves them out.

One internal node costs one hash whatever its fan-out (as in Ethereum's hexary Merkle Patricia
trie), instead of JMT's fifteen for a binary tree inside each node: batch updates stay cheap in
Python, at the price of proofs of up to 15 sibling hashes per level (about 2-3 KiB for a million
keys, still ``O(log16 n)``).

Proofs
------
A :class:`StateProof` for a key lists, from the root down, every internal node on the key's path:
its ``bitmap`` and the hashes of its *other* children (``siblings``, ascending nibble order). It
ends with ``leaf``: the ``(key_hash, value_hash)`` of the leaf found where the path leaves the last
internal node, or ``None`` if that slot of the last internal node is empty (or the tree is empty).

- **membership** of ``(key, value)``: ``leaf == (SHA-256(key), SHA-256(value))``.
- **non-membership** of ``key``: either ``leaf`` is ``None`` (the path ends in an empty slot, or the
  tree is empty and the root is ``EMPTY_ROOT``), or ``leaf`` is another key whose hash shares the
  first ``len(levels)`` nibbles with ``SHA-256(key)`` — a leaf that high is the only key there.

:func:`verify_proof` recomputes the root bottom-up: start with the leaf hash (or "empty"); at each
level (deepest first) put the current hash into ``siblings`` at the index of the key's nibble and
hash the node, checking that the bitmap has (or, for an empty slot, lacks) that nibble and that
``len(siblings)`` is the bitmap's population count minus one (or equal to it, for an empty slot).

Wire form (:mod:`chain.codec`, arrays only): ``[levels, leaf]`` with
``levels = [[bitmap: uint, [sibling: bin32, ...]], ...]`` and ``leaf = nil | [key_hash: bin32,
value_hash: bin32]``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chain import codec
from chain.errors import DecodeError, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_KEY_SIZE",
    "StateProof",
    "internal_hash",
    "key_hash",
    "leaf_hash",
    "verify_proof",
]

HASH_SIZE = 32
"""Length in bytes of every key, value, node and root hash (SHA-256)."""

MAX_KEY_SIZE = 1024
"""Longest key the tree accepts, in bytes."""

MAX_DEPTH = 64
"""Nibbles in a key hash: no proof has more levels than this."""

MAX_PROOF_WIRE_SIZE = 64 * 1024
"""Largest wire proof :meth:`StateProof.from_wire` decodes (64 levels of 15 siblings fit easily)."""

LEAF_TAG = b"\x00"
INTERNAL_TAG = b"\x01"

_sha256 = hashlib.sha256

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""Root of the empty tree: ``SHA-256("")``, as in RFC 6962 (see the module docstring)."""


def key_hash(key: bytes) -> bytes:
    """``SHA-256(key)``: the key's path in the tree."""
    return _sha256(key).digest()


def leaf_hash(key_hash_: bytes, value_hash: bytes) -> bytes:
    """``SHA-256(0x00 || key_hash || value_hash)``."""
    return _sha256(LEAF_TAG + key_hash_ + value_hash).digest()


def internal_hash(bitmap: int, child_hashes: bytes) -> bytes:
    """``SHA-256(0x01 || bitmap (2 bytes, big-endian) || child hashes in nibble order)``."""
    return _sha256(INTERNAL_TAG + bitmap.to_bytes(2, "big") + child_hashes).digest()


def nibble(path: bytes, depth: int) -> int:
    """Nibble ``depth`` of a 32-byte path: high half of byte ``depth // 2`` when ``depth`` is even."""
    byte = path[depth >> 1]
    return byte & 0x0F if depth & 1 else byte >> 4


@dataclass(frozen=True)
class StateProof:
    """A membership or non-membership proof for one key against one state root (see module docs)."""

    levels: tuple[tuple[int, tuple[bytes, ...]], ...]
    """One ``(bitmap, siblings)`` per internal node on the key's path, root first."""

    leaf: tuple[bytes, bytes] | None
    """``(key_hash, value_hash)`` of the leaf where the path ends, or ``None`` for an empty slot."""

    def to_wire(self) -> bytes:
        """Canonical bytes ``[levels, leaf]`` (:mod:`chain.codec`)."""
        _check_structure(self)
        levels = [[bitmap, list(siblings)] for bitmap, siblings in self.levels]
        leaf = None if self.leaf is None else list(self.leaf)
        return codec.encode([levels, leaf])

    @classmethod
    def from_wire(cls, data: bytes) -> StateProof:
        """Strict inverse of :meth:`to_wire`; raises :class:`ProofError` for anything malformed."""
        try:
            value = codec.decode(data, max_size=MAX_PROOF_WIRE_SIZE)
        except DecodeError as exc:
            raise ProofError(f"state proof: malformed wire bytes: {exc.message}") from exc
        if not isinstance(value, tuple) or len(value) != 2:
            raise ProofError("state proof: wire form must be the array [levels, leaf]")
        raw_levels, raw_leaf = value
        if not isinstance(raw_levels, tuple):
            raise ProofError("state proof: levels must be an array")
        levels = []
        for raw_level in raw_levels:
            if not isinstance(raw_level, tuple) or len(raw_level) != 2:
                raise ProofError("state proof: each level must be the array [bitmap, siblings]")
            bitmap, siblings = raw_level
            if not isinstance(siblings, tuple):
                raise ProofError("state proof: siblings must be an array")
            levels.append((bitmap, siblings))
        leaf = raw_leaf
        if leaf is not None and (not isinstance(leaf, tuple) or len(leaf) != 2):
            raise ProofError("state proof: leaf must be nil or the array [key_hash, value_hash]")
        proof = cls(tuple(levels), leaf)
        _check_structure(proof)
        return proof


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"state proof: {what} must be {HASH_SIZE} bytes")
    return value


def _check_structure(proof: Any) -> None:
    """Types, sizes and sibling counts of a proof, before any hashing; raises :class:`ProofError`."""
    if not isinstance(proof, StateProof):
        raise ProofError(f"state proof: expected a StateProof, got {type(proof).__name__}")
    levels, leaf = proof.levels, proof.leaf
    if leaf is not None:
        if not isinstance(leaf, tuple) or len(leaf) != 2:
            raise ProofError("state proof: leaf must be None or (key_hash, value_hash)")
        _check_hash(leaf[0], "leaf key hash")
        _check_hash(leaf[1], "leaf value hash")
    if not isinstance(levels, tuple):
        raise ProofError("state proof: levels must be a tuple")
    if len(levels) > MAX_DEPTH:
        raise ProofError(f"state proof: {len(levels)} levels exceed the maximum depth {MAX_DEPTH}")
    last = len(levels) - 1
    for depth, level in enumerate(levels):
        if not isinstance(level, tuple) or len(level) != 2:
            raise ProofError(f"state proof: level {depth} must be (bitmap, siblings)")
        bitmap, siblings = level
        if isinstance(bitmap, bool) or not isinstance(bitmap, int) or not 0 < bitmap <= 0xFFFF:
            raise ProofError(f"state proof: level {depth} bitmap must be an integer in 1..0xFFFF")
        if not isinstance(siblings, tuple):
            raise ProofError(f"state proof: level {depth} siblings must be a tuple")
        children = bitmap.bit_count()
        on_path = depth < last or leaf is not None
        expected = children - 1 if on_path else children
        if len(siblings) != expected:
            raise ProofError(
                f"state proof: level {depth} has {len(siblings)} siblings, its bitmap needs {expected}"
            )
        if depth == last and leaf is not None and children == 1:
            raise ProofError(f"state proof: level {depth} has a leaf as its only child (not compressed)")
        for sibling in siblings:
            _check_hash(sibling, f"level {depth} sibling")


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: StateProof) -> None:
    """Check that ``key`` maps to ``value`` (``None``: is absent) in the tree with root ``root``.

    Returns only when the proof is valid; raises :class:`~chain.errors.ProofError` naming the failed
    check for anything else, garbage of any type included.
    """
    try:
        _verify(root, key, value, proof)
    except ProofError:
        raise
    except Exception as exc:  # fail closed: a verifier of untrusted input never raises anything else
        raise ProofError(f"state proof: malformed input ({type(exc).__name__}: {exc})") from exc


def _verify(root: bytes, key: bytes, value: bytes | None, proof: StateProof) -> None:
    _check_hash(root, "expected root")
    if not isinstance(key, bytes) or len(key) > MAX_KEY_SIZE:
        raise ProofError(f"state proof: key must be bytes of at most {MAX_KEY_SIZE} bytes")
    if value is not None and not isinstance(value, bytes):
        raise ProofError("state proof: value must be bytes or None")
    _check_structure(proof)
    levels, leaf = proof.levels, proof.leaf
    path = key_hash(key)
    depth = len(levels)
    current: bytes | None
    if value is not None:
        if leaf is None:
            raise ProofError("state proof: proves absence, but a value was claimed")
        if leaf[0] != path:
            raise ProofError("state proof: the leaf belongs to another key")
        if leaf[1] != _sha256(value).digest():
            raise ProofError("state proof: the leaf's value hash does not match the value")
        current = leaf_hash(leaf[0], leaf[1])
    elif leaf is not None:
        if leaf[0] == path:
            raise ProofError("state proof: the key is present, but absence was claimed")
        for index in range(depth):
            if nibble(leaf[0], index) != nibble(path, index):
                raise ProofError(f"state proof: the other leaf leaves the key's path at nibble {index}")
        current = leaf_hash(leaf[0], leaf[1])
    else:
        current = None
        if depth == 0 and root != EMPTY_ROOT:
            raise ProofError("state proof: claims an empty tree, but the root is not EMPTY_ROOT")
    for index in range(depth - 1, -1, -1):
        bitmap, siblings = levels[index]
        position = nibble(path, index)
        bit = 1 << position
        slot = (bitmap & (bit - 1)).bit_count()
        if current is None:
            if bitmap & bit:
                raise ProofError(f"state proof: level {index} has a child on the key's path")
            children = b"".join(siblings)
        else:
            if not bitmap & bit:
                raise ProofError(f"state proof: level {index} has no child on the key's path")
            children = b"".join(siblings[:slot]) + current + b"".join(siblings[slot:])
        current = internal_hash(bitmap, children)
    if current is not None and current != root:
        raise ProofError(
            f"state proof: computed root {current.hex()[:16]}... does not match {root.hex()[:16]}..."
        )
