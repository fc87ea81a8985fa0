"""chain.merkle against the independent RFC 6962 / RFC 9162 vectors in tests/data/rfc6962_*.json.

Also pins the decisions of docs/adr/0002-merkle-policy-dependent-cases.md.
The verifiers return None or raise ProofError, so a bare ``verify_*(...)`` call asserts acceptance.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from chain import merkle
from chain.errors import ProofError, ValidationError
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

DATA = Path(__file__).parent.parent / "data"


def _load(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / name).read_text())
    return result


ROOTS = _load("rfc6962_roots.json")
INCLUSION = _load("rfc6962_inclusion.json")
CONSISTENCY = _load("rfc6962_consistency.json")
GENERATED = _load("rfc6962_generated.json")
ACCUMULATED = _load("rfc6962_accumulated.json")

REFERENCE_LEAVES = [leaf_hash(bytes.fromhex(leaf["data"])) for leaf in ROOTS["leaves"]]

# ADR 0002: our outcome for the cases the source library marks policy_dependent.
POLICY_DECISIONS = {
    "tdm/consistency/additional/sizes-are-equal-one-and-proof-is-empty": False,  # 12-byte roots
    "tdm/consistency/additional/sizes-are-equal-zero-and-proof-is-empty": False,  # 12-byte roots
}


def _h(text: str) -> bytes:
    return bytes.fromhex(text)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_h(element) for element in case["proof"]]


def _expected(case: dict[str, Any]) -> bool:
    if case.get("policy_dependent"):
        return POLICY_DECISIONS[case["id"]]
    valid: bool = case["valid"]
    return valid


# --- hashing and roots ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", ROOTS["hasher"], ids=lambda v: v["desc"])
def test_hasher_vectors(vector: dict[str, Any]) -> None:
    if vector["type"] == "leaf":
        assert leaf_hash(_h(vector["data"])) == _h(vector["hash"])
    elif vector["type"] == "node":
        assert node_hash(_h(vector["left"]), _h(vector["right"])) == _h(vector["hash"])
    else:
        assert vector["type"] == "empty_tree"
        assert EMPTY_ROOT == _h(vector["hash"]) == root([])


def test_reference_leaf_hashes_and_empty_root() -> None:
    assert EMPTY_ROOT == _h(ROOTS["empty_tree_root"])
    for leaf in ROOTS["leaves"]:
        assert REFERENCE_LEAVES[leaf["index"]] == _h(leaf["leaf_hash"])


@pytest.mark.parametrize("entry", ROOTS["roots"], ids=lambda e: f"size{e['tree_size']}")
def test_roots_of_reference_tree(entry: dict[str, Any]) -> None:
    size = entry["tree_size"]
    assert root(REFERENCE_LEAVES[:size]) == _h(entry["root"])
    accumulator = MerkleAccumulator()
    accumulator.extend(REFERENCE_LEAVES[:size])
    assert accumulator.root() == _h(entry["root"])


@pytest.mark.parametrize("node", ROOTS["nodes"], ids=lambda n: f"L{n['level']}I{n['index']}")
def test_every_complete_subtree(node: dict[str, Any]) -> None:
    start, end = node["range"]
    assert end - start == 1 << node["level"]
    assert root(REFERENCE_LEAVES[start:end]) == _h(node["hash"])


# --- inclusion -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", INCLUSION["cases"], ids=lambda c: c["id"])
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    args = (_h(case["leaf_hash"]), case["leaf_index"], case["tree_size"], _proof(case), _h(case["root"]))
    if _expected(case):
        verify_inclusion(*args)
        assert root_from_inclusion(*args[:4]) == args[4]
        if "leaf_data" in case:
            assert leaf_hash(_h(case["leaf_data"])) == args[0]
            if case["tree_size"] <= len(REFERENCE_LEAVES):
                leaves = REFERENCE_LEAVES[: case["tree_size"]]
                assert inclusion_proof(leaves, case["leaf_index"]) == args[3]
    else:
        with pytest.raises(ProofError):
            verify_inclusion(*args)


def test_inclusion_vector_counts() -> None:
    assert len(INCLUSION["cases"]) == 98
    assert sum(1 for case in INCLUSION["cases"] if case["valid"]) == 6


@pytest.mark.parametrize("case", GENERATED["inclusion"], ids=lambda c: f"{c['leaf_index']}of{c['tree_size']}")
def test_generated_inclusion(case: dict[str, Any]) -> None:
    leaves = REFERENCE_LEAVES[: case["tree_size"]]
    assert leaf_hash(_h(case["leaf_data"])) == _h(case["leaf_hash"]) == leaves[case["leaf_index"]]
    assert inclusion_proof(leaves, case["leaf_index"]) == _proof(case)
    assert root(leaves) == _h(case["root"])
    args = (_h(case["leaf_hash"]), case["leaf_index"], case["tree_size"], _proof(case), _h(case["root"]))
    assert case["valid"] is True
    verify_inclusion(*args)


# --- consistency ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CONSISTENCY["cases"], ids=lambda c: c["id"])
def test_consistency_vectors(case: dict[str, Any]) -> None:
    args = (case["size1"], case["size2"], _proof(case), _h(case["root1"]), _h(case["root2"]))
    if _expected(case):
        verify_consistency(*args)
        if case["size2"] <= len(REFERENCE_LEAVES):
            assert consistency_proof(REFERENCE_LEAVES[: case["size2"]], case["size1"]) == args[2]
    else:
        with pytest.raises(ProofError):
            verify_consistency(*args)


def test_consistency_vector_counts() -> None:
    assert len(CONSISTENCY["cases"]) == 98
    assert sum(1 for case in CONSISTENCY["cases"] if case["valid"]) == 6
    assert {c["id"] for c in CONSISTENCY["cases"] if c.get("policy_dependent")} == set(POLICY_DECISIONS)


@pytest.mark.parametrize("case", GENERATED["consistency"], ids=lambda c: f"{c['size1']}to{c['size2']}")
def test_generated_consistency(case: dict[str, Any]) -> None:
    leaves = REFERENCE_LEAVES[: case["size2"]]
    assert consistency_proof(leaves, case["size1"]) == _proof(case)
    assert root(leaves[: case["size1"]]) == _h(case["root1"])
    assert root(leaves) == _h(case["root2"])
    assert case["valid"] is True
    verify_consistency(case["size1"], case["size2"], _proof(case), _h(case["root1"]), _h(case["root2"]))


# --- accumulated vectors (draft-ietf-plants-merkle-tree-certs, "Subtree Test Vectors") ----------

MAX_SIZE = ACCUMULATED["tree"]["max_size"]
ACCUMULATED_LEAVES = [leaf_hash(bytes([i])) for i in range(MAX_SIZE)]
ACCUMULATED_DIGESTS = {vector["name"]: vector["sha256"] for vector in ACCUMULATED["vectors"]}


def _valid_subtree(start: int, end: int) -> bool:
    """The file's rule: start <= end and (start == 0 or start == end or start % bit_ceil(len) == 0)."""
    if start > end:
        return False
    if start in (0, end):
        return True
    return start % (1 << (end - start - 1).bit_length()) == 0


def _subtrees() -> list[tuple[int, int]]:
    """'for end in 0..max_size: for start in 0..end' with both bounds inclusive (empty ranges too)."""
    return [(s, e) for e in range(MAX_SIZE + 1) for s in range(e + 1) if _valid_subtree(s, e)]


@cache
def _mth(start: int, end: int) -> bytes:
    return root(ACCUMULATED_LEAVES[start:end])


def _subtree_subproof(start: int, end: int, low: int, high: int, known: bool) -> list[bytes]:
    """SUBTREE_SUBPROOF of the draft in absolute indices; for start == 0 it is RFC 9162 SUBPROOF."""
    if (start, end) == (low, high):
        return [] if known else [_mth(low, high)]
    middle = low + (1 << ((high - low - 1).bit_length() - 1))
    if end <= middle:
        return _subtree_subproof(start, end, low, middle, known) + [_mth(middle, high)]
    if middle <= start:
        return _subtree_subproof(start, end, middle, high, known) + [_mth(low, middle)]
    return _subtree_subproof(middle, end, middle, high, False) + [_mth(low, middle)]


def _proof_line(prefix: str, proof: list[bytes]) -> bytes:
    return (prefix + "".join(" " + h.hex() for h in proof) + "\n").encode()


def test_accumulated_subtree_hash() -> None:
    digest = hashlib.sha256()
    for start, end in _subtrees():
        digest.update(f"[{start}, {end}) {root(ACCUMULATED_LEAVES[start:end]).hex()}\n".encode())
    assert digest.hexdigest() == ACCUMULATED_DIGESTS["subtree_hash"]


def test_accumulated_subtree_inclusion() -> None:
    digest = hashlib.sha256()
    for start, end in _subtrees():
        leaves = ACCUMULATED_LEAVES[start:end]
        subtree_root = _mth(start, end)
        for index in range(start, end):
            proof = inclusion_proof(leaves, index - start)
            digest.update(_proof_line(f"{index} [{start}, {end})", proof))
            verify_inclusion(leaves[index - start], index - start, end - start, proof, subtree_root)
    assert digest.hexdigest() == ACCUMULATED_DIGESTS["subtree_inclusion"]


def test_accumulated_subtree_consistency() -> None:
    digest = hashlib.sha256()
    for size in range(MAX_SIZE + 1):
        tree = ACCUMULATED_LEAVES[:size]
        for start, end in _subtrees():
            if end > size:
                continue
            if start == 0:  # RFC 9162 PROOF(end, D[size]); [] for end 0 and end == size
                proof = consistency_proof(tree, end)
                if 0 < end < size:
                    assert proof == _subtree_subproof(0, end, 0, size, True)
                    verify_consistency(end, size, proof, _mth(0, end), _mth(0, size))
            elif start == end:
                proof = []
            else:
                proof = _subtree_subproof(start, end, 0, size, True)
            digest.update(_proof_line(f"[{start}, {end}) {size}", proof))
    assert digest.hexdigest() == ACCUMULATED_DIGESTS["subtree_consistency"]


# --- ADR 0002 decisions --------------------------------------------------------------------------

ROOT1 = REFERENCE_LEAVES[0]  # root of the 1-leaf reference tree
SHORT = b"don't care 2"  # the 12-byte "root" of the policy_dependent vectors


def test_policy_equal_sizes_need_empty_proof_and_equal_32_byte_roots() -> None:
    verify_consistency(1, 1, [], ROOT1, ROOT1)
    verify_consistency(8, 8, [], root(REFERENCE_LEAVES), root(REFERENCE_LEAVES))
    with pytest.raises(ProofError, match="32 bytes"):
        verify_consistency(1, 1, [], SHORT, SHORT)
    with pytest.raises(ProofError, match="not empty"):
        verify_consistency(1, 1, [ROOT1], ROOT1, ROOT1)
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(1, 1, [], ROOT1, EMPTY_ROOT)


def test_policy_size_zero() -> None:
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 0, (), EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="32 bytes"):
        verify_consistency(0, 0, [], SHORT, SHORT)
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, [], ROOT1, ROOT1)
    with pytest.raises(ProofError, match="old size is 0"):
        verify_consistency(0, 1, [ROOT1], EMPTY_ROOT, ROOT1)
    with pytest.raises(ProofError, match="old size is 0"):
        verify_consistency(0, 1, [], EMPTY_ROOT, ROOT1)
    with pytest.raises(ProofError, match="tree size is 0"):
        verify_inclusion(ROOT1, 0, 0, [], EMPTY_ROOT)


def test_policy_other_rejections_name_the_check() -> None:
    good = consistency_proof(REFERENCE_LEAVES, 3)
    r3, r8 = root(REFERENCE_LEAVES[:3]), root(REFERENCE_LEAVES)
    verify_consistency(3, 8, good, r3, r8)
    cases: list[tuple[tuple[Any, ...], str]] = [
        ((3, 8, [], r3, r8), "empty consistency proof"),
        ((8, 3, good, r8, r3), "greater than new size"),
        ((3, 8, good[:-1], r3, r8), "wrong consistency proof length"),
        ((3, 8, good, r8, r8), "old root mismatch"),
        ((3, 8, good, r3, r3), "new root mismatch"),
        ((3, 8, [*good[:-1], good[-1][:31]], r3, r8), r"proof\[3\] must be 32 bytes"),
        ((3, 8, good, r3, r8.hex()), "new root must be bytes"),
        ((3, 8, good, bytearray(r3), r8), "old root must be bytes"),
        ((3.0, 8, good, r3, r8), "old size must be an int"),
        ((True, 8, good, r3, r8), "old size must be an int"),
        ((-3, 8, good, r3, r8), "must not be negative"),
        ((3, 8, iter(good), r3, r8), "proof must be a list"),
        ((3, 8, b"".join(good), r3, r8), "proof must be a list"),
        ((3, 8, None, r3, r8), "proof must be a list"),
    ]
    for args, message in cases:
        with pytest.raises(ProofError, match=message):
            verify_consistency(*args)


def test_inclusion_rejections_name_the_check() -> None:
    proof = inclusion_proof(REFERENCE_LEAVES, 5)
    leaf, top = REFERENCE_LEAVES[5], root(REFERENCE_LEAVES)
    verify_inclusion(leaf, 5, 8, proof, top)
    verify_inclusion(leaf, 5, 8, tuple(proof), top)
    cases: list[tuple[tuple[Any, ...], str]] = [
        ((leaf, 8, 8, proof, top), "not below tree size"),
        ((leaf, 2**64 - 1, 8, proof, top), "not below tree size"),
        ((leaf, 5, 8, proof[:2], top), "wrong inclusion proof length"),
        ((leaf, 5, 8, [*proof, top], top), "wrong inclusion proof length"),
        ((leaf, 4, 8, proof, top), "root mismatch"),
        ((leaf, 5, 8, proof, EMPTY_ROOT), "root mismatch"),
        ((leaf[:31], 5, 8, proof, top), "leaf hash must be 32 bytes"),
        ((leaf.hex(), 5, 8, proof, top), "leaf hash must be bytes"),
        ((leaf, 5, 8, proof, None), "root must be bytes"),
        ((leaf, "5", 8, proof, top), "leaf index must be an int"),
        ((leaf, 5, 8.0, proof, top), "tree size must be an int"),
        ((leaf, 5, 8, [p.hex() for p in proof], top), r"proof\[0\] must be bytes"),
        ((leaf, 5, 8, {p: 0 for p in proof}, top), "proof must be a list"),
    ]
    for args, message in cases:
        with pytest.raises(ProofError, match=message):
            verify_inclusion(*args)


def test_huge_indices_do_not_wrap() -> None:
    size = 2**64 + 3
    with pytest.raises(ProofError, match="wrong inclusion proof length"):
        verify_inclusion(ROOT1, 2**64 - 1, size, [], ROOT1)
    with pytest.raises(ProofError, match="wrong consistency proof length"):
        verify_consistency(2**64 - 1, 2**70, [ROOT1], ROOT1, ROOT1)


def test_size_is_bound_by_the_root_not_the_proof() -> None:
    """RFC 9162 property (ADR 0002, consequences): equal-shape paths alias across sizes.

    Leaf 0 of the 3-leaf tree has the same path shape as leaf 0 of a 4-leaf tree, so the 3-leaf
    proof "verifies" at size 4 against the 3-leaf root, and fails against the real 4-leaf root.
    """
    proof = inclusion_proof(REFERENCE_LEAVES[:3], 0)
    root3, root4 = root(REFERENCE_LEAVES[:3]), root(REFERENCE_LEAVES[:4])
    verify_inclusion(REFERENCE_LEAVES[0], 0, 4, proof, root3)
    with pytest.raises(ProofError, match="root mismatch"):
        verify_inclusion(REFERENCE_LEAVES[0], 0, 4, proof, root4)


# --- provers and accumulator: argument errors ---------------------------------------------------


def test_provers_reject_bad_arguments() -> None:
    with pytest.raises(ValidationError, match="outside"):
        inclusion_proof(REFERENCE_LEAVES, 8)
    with pytest.raises(ValidationError, match="outside"):
        inclusion_proof(REFERENCE_LEAVES, -1)
    with pytest.raises(ValidationError, match="empty tree"):
        inclusion_proof([], 0)
    with pytest.raises(ValidationError, match="must be an int"):
        inclusion_proof(REFERENCE_LEAVES, True)
    with pytest.raises(ValidationError, match="outside"):
        consistency_proof(REFERENCE_LEAVES, 9)
    with pytest.raises(ValidationError, match="leaf hash 1 is not 32 bytes"):
        root([REFERENCE_LEAVES[0], b"short"])
    with pytest.raises(ValidationError, match="leaf hash 0 is not 32 bytes"):
        root([REFERENCE_LEAVES[0].hex()])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="sequence of bytes"):
        root(b"".join(REFERENCE_LEAVES))  # type: ignore[arg-type]
    assert consistency_proof(REFERENCE_LEAVES, 0) == consistency_proof(REFERENCE_LEAVES, 8) == []
    assert consistency_proof([], 0) == []
    assert inclusion_proof(REFERENCE_LEAVES[:1], 0) == []


def test_accumulator_state_round_trip_and_validation() -> None:
    accumulator = MerkleAccumulator()
    assert accumulator.root() == EMPTY_ROOT and accumulator.size == 0
    accumulator.extend(REFERENCE_LEAVES[:7])
    size, hashes = accumulator.to_state()
    assert size == 7 and len(hashes) == 3
    assert hashes == [root(REFERENCE_LEAVES[:4]), root(REFERENCE_LEAVES[4:6]), REFERENCE_LEAVES[6]]
    restored = MerkleAccumulator.from_state(size, hashes)
    assert restored == accumulator and restored.root() == root(REFERENCE_LEAVES[:7])
    clone = accumulator.copy()
    clone.append(REFERENCE_LEAVES[7])
    assert clone.root() == root(REFERENCE_LEAVES) and accumulator.size == 7
    assert merkle.CompactRange is MerkleAccumulator
    with pytest.raises(ValidationError, match="needs 3 subtree hashes"):
        MerkleAccumulator.from_state(7, hashes[:2])
    with pytest.raises(ValidationError, match="non-negative int"):
        MerkleAccumulator.from_state(-1, [])
    with pytest.raises(ValidationError, match="hash 1 is not 32 bytes"):
        MerkleAccumulator.from_state(3, [hashes[0], b"x"])
    with pytest.raises(ValidationError, match="32 bytes"):
        accumulator.append(b"x" * 31)
