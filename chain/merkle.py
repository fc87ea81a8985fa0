"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs (DESIGN.md §4).

Hashing is exactly RFC 9162 §2.1.1 with SHA-256:

- leaf hash  ``SHA-256(0x00 || data)``
- node hash  ``SHA-256(0x01 || left || right)``
- empty tree ``SHA-256("")``
- a tree of ``n > 1`` leaves splits at ``k``, the largest power of two strictly smaller than ``n``.

Provers (:func:`root`, :func:`inclusion_proof`, :func:`consistency_proof`) take *leaf hashes*
(call :func:`leaf_hash` on the data first) and raise :class:`~chain.errors.ValidationError` for
malformed arguments. Verifiers (:func:`verify_inclusion`, :func:`root_from_inclusion`,
:func:`verify_consistency`) accept untrusted input: they return only when the proof is valid and
raise :class:`~chain.errors.ProofError`, whose message names the failed check, for anything else
(wrong types included). Every hash a verifier is given must be exactly 32 bytes; the policy for
the cases RFC 9162 leaves open is ``docs/adr/0002-merkle-policy-dependent-cases.md``.

:class:`MerkleAccumulator` appends leaf hashes one at a time and yields the current root in
``O(log n)``; it backs ``header.history_root``.

This module is pure (DESIGN.md §2): no I/O, clock or randomness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from chain.errors import ProofError, ValidationError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleAccumulator",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every leaf, node and root hash (SHA-256)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""MTH({}) = SHA-256("") — the root of the tree with no leaves (RFC 9162 §2.1.1)."""


# --- hashing (RFC 9162 §2.1.1) ------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the hash of one leaf's data (RFC 9162 §2.1.1)."""
    return _sha256(_LEAF_PREFIX + data).digest()


def root_of_data(items: Sequence[bytes]) -> bytes:
    """MTH over the leaf data ``items``: ``root([leaf_hash(d) for d in items])`` in one pass."""
    sha256, prefix = _sha256, _LEAF_PREFIX
    return _root_of([sha256(prefix + data).digest() for data in items])


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node (RFC 9162 §2.1.1).

    The raw hash function: it does not check the children's length (verifiers do that first).
    """
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """k: the largest power of two strictly smaller than ``n`` (``n >= 2``), RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def _root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-checked leaf hashes, bottom-up in ``O(n)`` hashes.

    Pairing neighbours level by level, and carrying an unpaired last node up unchanged, builds
    exactly the RFC 9162 §2.1.1 tree: at every height h the left-split subtrees are the aligned
    complete blocks of 2^h leaves, and only the right edge can be incomplete.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    sha256, prefix = _sha256, _NODE_PREFIX
    while len(level) > 1:
        paired = [
            sha256(prefix + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


# --- provers (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) ---------------------------------------------


def _checked_leaves(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    if isinstance(leaf_hashes, (bytes, bytearray, str)) or not isinstance(leaf_hashes, Iterable):
        raise ValidationError(f"leaf hashes must be a sequence of bytes, got {type(leaf_hashes).__name__}")
    leaves = list(leaf_hashes)
    if not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in leaves):
        for position, h in enumerate(leaves):
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ValidationError(f"leaf hash {position} is not {HASH_SIZE} bytes: {h!r:.80}")
    return leaves


def _checked_position(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValidationError(f"{what} {value} is outside [{low}, {high}]")
    return value


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]): the root over ``n`` leaf hashes (RFC 9162 §2.1.1); ``EMPTY_ROOT`` for none.

    Iterative, ``n - 1`` node hashes. Raises ValidationError unless every leaf hash is 32 bytes.
    """
    return _root_of(_checked_leaves(leaf_hashes))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 §2.1.3.1): sibling hashes from the leaf at ``index`` up to the root.

    Raises ValidationError unless ``0 <= index < len(leaf_hashes)``.
    """
    leaves = _checked_leaves(leaf_hashes)
    if not leaves:
        raise ValidationError("an empty tree has no inclusion proofs")
    index = _checked_position(index, "leaf index", 0, len(leaves) - 1)
    siblings: list[bytes] = []  # outermost first: PATH appends each level's sibling after recursing
    low, high = 0, len(leaves)
    while high - low > 1:
        middle = low + _split(high - low)
        if index < middle:
            siblings.append(_root_of(leaves[middle:high]))
            high = middle
        else:
            siblings.append(_root_of(leaves[low:middle]))
            low = middle
    siblings.reverse()
    return siblings


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1) with ``m = old_size``.

    RFC 9162 defines the proof for ``0 < m < n``; for ``m == 0`` and ``m == n`` there is nothing
    to prove and the result is ``[]``. Raises ValidationError unless ``0 <= old_size <= n``.
    """
    leaves = _checked_leaves(leaf_hashes)
    remaining = _checked_position(old_size, "old size", 0, len(leaves))
    if remaining in (0, len(leaves)):
        return []
    hashes: list[bytes] = []  # outermost first, like PATH above
    low, high, known = 0, len(leaves), True
    while True:
        if remaining == high - low:  # SUBPROOF(m, D[m], b): [] if b, else [MTH(D[m])]
            if not known:
                hashes.append(_root_of(leaves[low:high]))
            break
        middle = low + _split(high - low)
        if remaining <= middle - low:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            hashes.append(_root_of(leaves[middle:high]))
            high = middle
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            hashes.append(_root_of(leaves[low:middle]))
            remaining -= middle - low
            low, known = middle, False
    hashes.reverse()
    return hashes


# --- verifiers (RFC 9162 §2.1.3.2, §2.1.4.2) ---------------------------------------------------


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ProofError(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")
    return value


def _check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProofError(f"{what} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ProofError(f"{what} must not be negative, got {value}")
    return value


def _check_proof(proof: object) -> list[bytes]:
    if not isinstance(proof, (list, tuple)):
        raise ProofError(f"proof must be a list of hashes, got {type(proof).__name__}")
    return [_check_hash(element, f"proof[{position}]") for position, element in enumerate(proof)]


def _path_length(index: int, size: int) -> int:
    """Length of PATH(index, D[size]): one hash per level below the point where the paths to
    ``index`` and to the last leaf part (``inner``), plus one per left-edge node above it
    (``border``). Requires ``0 <= index < size``.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` yields for ``leaf_hash`` at ``index`` in a tree of ``size`` leaves.

    RFC 9162 §2.1.3.2 steps 1-4, after checking every hash is 32 bytes and the proof has exactly
    the length of the path for (index, size). Raises ProofError naming the failed check.
    """
    checked_leaf = _check_hash(leaf_hash, "leaf hash")
    index = _check_count(index, "leaf index")
    size = _check_count(size, "tree size")
    path = _check_proof(proof)
    if size == 0:
        raise ProofError("tree size is 0: an empty tree includes no leaf")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    expected = _path_length(index, size)
    if len(path) != expected:
        raise ProofError(
            f"wrong inclusion proof length: leaf {index} of a tree of size {size} needs {expected} "
            f"hashes, got {len(path)}"
        )
    fn, sn, result = index, size - 1, checked_leaf
    for sibling in path:
        if sn == 0:  # 4a (cannot happen after the length check; kept as the RFC states it)
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # 4b: the sibling is on the left
            result = node_hash(sibling, result)
            while fn and not fn & 1:  # 4b.ii: climb past levels where this node has no sibling
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 5
        raise ProofError("inclusion proof is shorter than the path to the root")
    return result


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    RFC 9162 §2.1.3.2. Returns None if valid; raises ProofError naming the failed check
    otherwise (non-32-byte hash, size 0, index >= size, wrong proof length, root mismatch, bad type).
    """
    expected_root = _check_hash(root, "root")
    computed = root_from_inclusion(leaf_hash, index, size, proof)
    if computed != expected_root:
        raise ProofError(
            f"root mismatch: inclusion proof for leaf {index} of size {size} yields {computed.hex()}, "
            f"expected {expected_root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree (old_size, old_root) is a prefix of the tree (new_size, new_root).

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. Beyond the RFC (ADR 0002): every hash must
    be 32 bytes; ``old_size == new_size`` is valid only with an empty proof and equal roots (and
    for size 0 the root must be ``EMPTY_ROOT``); ``old_size == 0 < new_size`` is rejected, as the
    RFC defines no proof for it. Returns None if valid; raises ProofError naming the failed check.
    """
    old_size = _check_count(old_size, "old size")
    new_size = _check_count(new_size, "new size")
    path = _check_proof(proof)
    old_root = _check_hash(old_root, "old root")
    new_root = _check_hash(new_root, "new root")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is greater than new size {new_size}")
    if old_size == new_size:
        if path:
            raise ProofError(f"sizes are equal ({old_size}) but the proof is not empty ({len(path)} hashes)")
        if old_root != new_root:
            raise ProofError(f"sizes are equal ({old_size}) but the roots differ")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError('root of the empty tree must be SHA-256("")')
        return
    if old_size == 0:
        raise ProofError("old size is 0: RFC 9162 defines consistency proofs only for 0 < old size")
    if not path:  # step 1
        raise ProofError(f"empty consistency proof for old size {old_size} < new size {new_size}")

    # The old tree's last leaf seen from the lowest level where the old tree is one complete node.
    level = (old_size & -old_size).bit_length() - 1
    old_index = (old_size - 1) >> level
    new_last = (new_size - 1) >> level
    expected = _path_length(old_index, new_last + 1) + (1 if old_index else 0)
    if len(path) != expected:
        raise ProofError(
            f"wrong consistency proof length: sizes {old_size} -> {new_size} need {expected} hashes, "
            f"got {len(path)}"
        )

    if old_size & (old_size - 1) == 0:  # step 2: old_size is a power of two
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    old_result = new_result = path[0]  # step 5
    for element in path[1:]:  # step 6
        if sn == 0:  # 6a (cannot happen after the length check; kept as the RFC states it)
            raise ProofError("consistency proof is longer than the path to the new root")
        if fn & 1 or fn == sn:  # 6b
            old_result = node_hash(element, old_result)
            new_result = node_hash(element, new_result)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            new_result = node_hash(new_result, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError("consistency proof is shorter than the path to the new root")
    if old_result != old_root:
        raise ProofError(
            f"old root mismatch: proof for sizes {old_size} -> {new_size} yields {old_result.hex()}, "
            f"expected {old_root.hex()}"
        )
    if new_result != new_root:
        raise ProofError(
            f"new root mismatch: proof for sizes {old_size} -> {new_size} yields {new_result.hex()}, "
            f"expected {new_root.hex()}"
        )


# --- incremental root (compact range over [0, n)) ----------------------------------------------


class MerkleAccumulator:
    """The RFC 9162 root of an append-only list of leaf hashes, kept in ``O(log n)`` space.

    It holds one hash per set bit of ``size``: the roots of the complete subtrees that cover
    ``[0, size)``, largest (leftmost) first. ``append`` merges equal-height neighbours like a
    binary counter; ``root`` folds the subtree roots right to left, which is MTH (RFC 9162
    §2.1.1) because each left split of the RFC tree is exactly one of these complete subtrees.

    For ``header.history_root`` at height H, append ``leaf_hash(block_hash)`` for blocks 0..H-1.
    """

    __slots__ = ("_size", "_peaks")

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash (``O(log n)`` amortised ``O(1)`` node hashes)."""
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise ValidationError(f"leaf hash must be {HASH_SIZE} bytes: {leaf_hash!r:.80}")
        merged, count = leaf_hash, self._size
        while count & 1:
            merged = node_hash(self._peaks.pop(), merged)
            count >>= 1
        self._peaks.append(merged)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append every leaf hash in order."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """MTH of the leaves appended so far (``EMPTY_ROOT`` when none), in ``O(log n)``."""
        if not self._peaks:
            return EMPTY_ROOT
        result = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            result = node_hash(peak, result)
        return result

    def to_state(self) -> tuple[int, list[bytes]]:
        """``(size, subtree roots)``, largest subtree first: everything needed to resume."""
        return self._size, list(self._peaks)

    @classmethod
    def from_state(cls, size: int, peaks: Sequence[bytes]) -> MerkleAccumulator:
        """Rebuild from :meth:`to_state`; raises ValidationError if the state is inconsistent."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValidationError(f"accumulator size must be a non-negative int, got {size!r}")
        if isinstance(peaks, (bytes, bytearray, str)) or not isinstance(peaks, Iterable):
            raise ValidationError(f"accumulator hashes must be a sequence, got {type(peaks).__name__}")
        hashes = list(peaks)
        if len(hashes) != size.bit_count():
            raise ValidationError(
                f"accumulator of size {size} needs {size.bit_count()} subtree hashes, got {len(hashes)}"
            )
        for position, h in enumerate(hashes):
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ValidationError(f"accumulator hash {position} is not {HASH_SIZE} bytes: {h!r:.80}")
        accumulator = cls()
        accumulator._size = size
        accumulator._peaks = hashes
        return accumulator

    def copy(self) -> MerkleAccumulator:
        """An independent accumulator with the same leaves."""
        return MerkleAccumulator.from_state(*self.to_state())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MerkleAccumulator):
            return NotImplemented
        return self._size == other._size and self._peaks == other._peaks

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"MerkleAccumulator(size={self._size}, root={self.root().hex()})"


CompactRange = MerkleAccumulator
"""Alias: the transparency-dev/merkle name for a compact range over ``[0, n)``."""
