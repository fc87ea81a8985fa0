"""Hypothesis properties of chain.merkle (RFC 9162 §2.1): provers agree with the recursive
definitions, every honest proof verifies, every tampered one fails with ProofError only, and the
accumulator agrees with root() at every size.
The verifiers return None or raise ProofError, so a bare ``verify_*(...)`` call asserts acceptance.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import ProofError
from chain.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

SETTINGS = settings(max_examples=200, deadline=None)
MAX_LEAVES = 150


# --- the RFC 9162 §2.1 definitions, recursively and literally -----------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return reference_path(m, leaves[:k]) + [reference_mth(leaves[k:])]
    return reference_path(m - k, leaves[k:]) + [reference_mth(leaves[:k])]


def reference_depth(m: int, n: int) -> int:
    """len(PATH(m, D[n])): the depth of leaf m in the RFC 9162 tree of n leaves."""
    if n == 1:
        return 0
    k = _k(n)
    return 1 + (reference_depth(m, k) if m < k else reference_depth(m - k, n - k))


def reference_subproof(m: int, leaves: list[bytes], known: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1."""
    if m == len(leaves):
        return [] if known else [reference_mth(leaves)]
    k = _k(len(leaves))
    if m <= k:
        return reference_subproof(m, leaves[:k], known) + [reference_mth(leaves[k:])]
    return reference_subproof(m - k, leaves[k:], False) + [reference_mth(leaves[:k])]


# --- strategies -----------------------------------------------------------------------------------


def _leaves(salt: bytes, size: int) -> list[bytes]:
    """Distinct leaf hashes (distinct leaves keep "wrong index" from matching by coincidence)."""
    return [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(size)]


salts = st.binary(max_size=8)
sizes = st.integers(min_value=1, max_value=MAX_LEAVES)


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    leaves = _leaves(draw(salts), draw(sizes))
    return leaves, draw(st.integers(min_value=0, max_value=len(leaves) - 1))


@st.composite
def tree_and_old_size(draw: st.DrawFn) -> tuple[list[bytes], int]:
    leaves = _leaves(draw(salts), draw(st.integers(min_value=2, max_value=MAX_LEAVES)))
    return leaves, draw(st.integers(min_value=1, max_value=len(leaves) - 1))


def _flipped(proof: list[bytes], element: int, position: int, mask: int) -> list[bytes]:
    tampered = bytearray(proof[element])
    tampered[position] ^= mask
    return [*proof[:element], bytes(tampered), *proof[element + 1 :]]


masks = st.integers(min_value=1, max_value=255)


# --- provers ------------------------------------------------------------------------------------


@SETTINGS
@given(salts, st.integers(min_value=0, max_value=MAX_LEAVES))
def test_root_matches_recursive_definition_and_accumulator(salt: bytes, size: int) -> None:
    leaves = _leaves(salt, size)
    expected = reference_mth(leaves)
    assert root(leaves) == expected
    accumulator = MerkleAccumulator()
    assert accumulator.root() == EMPTY_ROOT
    for count, leaf in enumerate(leaves, start=1):
        accumulator.append(leaf)
        assert accumulator.size == count
        assert accumulator.root() == root(leaves[:count])
        assert len(accumulator.to_state()[1]) == count.bit_count()
    assert accumulator.root() == expected


@SETTINGS
@given(salts, st.integers(min_value=0, max_value=MAX_LEAVES), st.data())
def test_accumulator_survives_save_and_load(salt: bytes, size: int, data: st.DataObject) -> None:
    leaves = _leaves(salt, size)
    cut = data.draw(st.integers(min_value=0, max_value=size))
    first = MerkleAccumulator()
    first.extend(leaves[:cut])
    resumed = MerkleAccumulator.from_state(*first.to_state())
    assert resumed == first
    resumed.extend(leaves[cut:])
    assert resumed.root() == root(leaves)
    assert first.root() == root(leaves[:cut])


@SETTINGS
@given(tree_and_index())
def test_inclusion_proof_matches_path(tree: tuple[list[bytes], int]) -> None:
    leaves, index = tree
    assert inclusion_proof(leaves, index) == reference_path(index, leaves)


@SETTINGS
@given(tree_and_old_size())
def test_consistency_proof_matches_subproof(tree: tuple[list[bytes], int]) -> None:
    leaves, old_size = tree
    assert consistency_proof(leaves, old_size) == reference_subproof(old_size, leaves, True)


# --- inclusion: honest proofs verify, tampered ones fail -----------------------------------------


@SETTINGS
@given(tree_and_index(), masks)
def test_inclusion_verifies_and_resists_tampering(tree: tuple[list[bytes], int], mask: int) -> None:
    leaves, index = tree
    size, leaf, top = len(leaves), leaves[index], root(leaves)
    proof = inclusion_proof(leaves, index)
    verify_inclusion(leaf, index, size, proof, top)
    assert root_from_inclusion(leaf, index, size, proof) == top

    for element in range(len(proof)):
        for position in range(32):
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, size, _flipped(proof, element, position, mask), top)
    for position in range(32):
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof, _flipped([top], 0, position, mask)[0])
        with pytest.raises(ProofError):
            verify_inclusion(_flipped([leaf], 0, position, mask)[0], index, size, proof, top)

    for other_index in [*range(size + 2), 2**64 - 1]:
        if other_index != index:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, other_index, size, proof, top)
    # A size travels with its own root (ADR 0002): a wrong size fails against that size's root,
    # and against the original root whenever the path length differs.
    for other_size in range(index + 1, 2 * size + 2):
        if other_size == size:
            continue
        if other_size <= size:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, other_size, proof, root(leaves[:other_size]))
        if reference_depth(index, other_size) != len(proof):
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, other_size, proof, top)
    for bad_size in (0, index):
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, bad_size, proof, top)

    truncated = [proof[:-1], proof[1:]] if proof else []
    for bad in (*truncated, [*proof, top], [top, *proof], [*proof, leaf]):
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, bad, top)


# --- consistency: honest proofs verify, tampered ones fail ---------------------------------------


@SETTINGS
@given(tree_and_old_size(), masks)
def test_consistency_verifies_and_resists_tampering(tree: tuple[list[bytes], int], mask: int) -> None:
    leaves, old_size = tree
    new_size = len(leaves)
    old_root, new_root = root(leaves[:old_size]), root(leaves)
    proof = consistency_proof(leaves, old_size)
    verify_consistency(old_size, new_size, proof, old_root, new_root)
    verify_consistency(old_size, old_size, [], old_root, old_root)
    verify_consistency(new_size, new_size, [], new_root, new_root)

    for element in range(len(proof)):
        for position in range(32):
            with pytest.raises(ProofError):
                verify_consistency(
                    old_size, new_size, _flipped(proof, element, position, mask), old_root, new_root
                )
    for position in range(32):
        with pytest.raises(ProofError):
            verify_consistency(
                old_size, new_size, proof, _flipped([old_root], 0, position, mask)[0], new_root
            )
        with pytest.raises(ProofError):
            verify_consistency(
                old_size, new_size, proof, old_root, _flipped([new_root], 0, position, mask)[0]
            )
    with pytest.raises(ProofError):
        verify_consistency(old_size, new_size, proof, new_root, old_root)
    with pytest.raises(ProofError):
        verify_consistency(new_size, old_size, proof, new_root, old_root)
    with pytest.raises(ProofError):
        verify_consistency(old_size, new_size, [], old_root, new_root)

    # Other sizes, each paired with its own honest root: the proof must not carry over.
    for other_old in range(0, new_size + 2):
        if other_old != old_size:
            with pytest.raises(ProofError):
                verify_consistency(other_old, new_size, proof, root(leaves[:other_old]), new_root)
    for other_new in range(old_size, new_size + 1):
        if other_new != new_size:
            with pytest.raises(ProofError):
                verify_consistency(old_size, other_new, proof, old_root, root(leaves[:other_new]))

    for bad in (proof[:-1], proof[1:], [*proof, proof[0]], [old_root, *proof], [new_root, *proof]):
        with pytest.raises(ProofError):
            verify_consistency(old_size, new_size, bad, old_root, new_root)


# --- arbitrary junk: ProofError and nothing else -------------------------------------------------

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32).map(bytearray),
    st.lists(st.binary(min_size=31, max_size=33), max_size=4),
    st.lists(st.one_of(st.none(), st.text(max_size=3), st.binary(min_size=32, max_size=32)), max_size=4),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
hashes = st.one_of(st.binary(min_size=32, max_size=32), junk)
counts = st.one_of(st.integers(min_value=0, max_value=2**66), junk)
proofs = st.one_of(st.lists(st.binary(min_size=32, max_size=32), max_size=70), junk)


@SETTINGS
@given(hashes, counts, counts, proofs, hashes)
def test_verify_inclusion_only_raises_proof_error(
    leaf: Any, index: Any, size: Any, proof: Any, expected_root: Any
) -> None:
    try:
        verify_inclusion(leaf, index, size, proof, expected_root)
    except ProofError:
        pass


@SETTINGS
@given(counts, counts, proofs, hashes, hashes)
def test_verify_consistency_only_raises_proof_error(
    old_size: Any, new_size: Any, proof: Any, old_root: Any, new_root: Any
) -> None:
    try:
        verify_consistency(old_size, new_size, proof, old_root, new_root)
    except ProofError:
        pass
