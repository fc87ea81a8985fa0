"""Table tests of chain.statetree: the JMT-style versioned state tree and its proofs."""

from __future__ import annotations

import hashlib
from itertools import count

import pytest

from chain.errors import NotFoundError, ProofError, StorageError, ValidationError
from chain.statetree import (
    EMPTY_ROOT,
    StateProof,
    StateTree,
    StateUpdate,
    internal_hash,
    key_hash,
    leaf_hash,
    verify_proof,
)
from chain.storage.kv import MemoryKV, WriteBatch


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def nibble(path: bytes, depth: int) -> int:
    return path[depth // 2] & 15 if depth % 2 else path[depth // 2] >> 4


def reference_root(state: dict[bytes, bytes]) -> bytes:
    """The root straight from the definition in chain/statetree_proof.py, recursively."""
    leaves = {sha(key): sha(value) for key, value in state.items()}

    def subtree(paths: list[bytes], depth: int) -> bytes:
        if len(paths) == 1:
            return sha(b"\x00" + paths[0] + leaves[paths[0]])
        groups: dict[int, list[bytes]] = {}
        for path in paths:
            groups.setdefault(nibble(path, depth), []).append(path)
        bitmap = sum(1 << n for n in groups)
        children = b"".join(subtree(groups[n], depth + 1) for n in sorted(groups))
        return sha(b"\x01" + bitmap.to_bytes(2, "big") + children)

    return subtree(sorted(leaves), 0) if leaves else EMPTY_ROOT


class Chain:
    """A tree over a MemoryKV plus the dict model of every version, committing each update."""

    def __init__(self) -> None:
        self.kv = MemoryKV()
        self.tree = StateTree(self.kv)
        self.versions: dict[int, dict[bytes, bytes]] = {}
        self.latest: int | None = None

    def commit(self, changes: dict[bytes, bytes | None], version: int | None = None) -> StateUpdate:
        new_version = version if version is not None else (0 if self.latest is None else self.latest + 1)
        update = self.tree.update(self.latest, new_version, changes)
        self.kv.write(update.batch)
        state = dict(self.versions[self.latest]) if self.latest is not None else {}
        for key, value in changes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        self.versions[new_version] = state
        self.latest = new_version
        assert update.root == reference_root(state)
        return update

    def check_version(self, version: int, keys: list[bytes]) -> None:
        state = self.versions[version]
        root = self.tree.root_hash(version)
        assert root == reference_root(state)
        for key in keys:
            value, proof = self.tree.get_with_proof(key, version)
            assert value == state.get(key)
            assert self.tree.get(key, version) == value
            verify_proof(root, key, value, proof)
            assert StateProof.from_wire(proof.to_wire()) == proof


def keys_sharing_nibbles(shared: int) -> tuple[bytes, bytes]:
    """Two keys whose hashes share exactly the first ``shared`` nibbles (found by search)."""
    seen: dict[str, bytes] = {}
    for i in count():
        key = b"k%d" % i
        path = sha(key)
        prefix = path.hex()[:shared]
        other = seen.get(prefix)
        if other is not None and sha(other).hex()[shared] != path.hex()[shared]:
            return other, key
        seen.setdefault(prefix, key)
    raise AssertionError("unreachable")


# --- hashing -------------------------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == sha(b"")
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_hashing_known_answer_two_keys() -> None:
    a, b = key_hash(b"alpha"), key_hash(b"beta")
    assert nibble(a, 0) != nibble(b, 0)
    bitmap = (1 << nibble(a, 0)) | (1 << nibble(b, 0))
    first, second = sorted([(a, b"1"), (b, b"2")])
    expected = sha(
        b"\x01"
        + bitmap.to_bytes(2, "big")
        + sha(b"\x00" + first[0] + sha(first[1]))
        + sha(b"\x00" + second[0] + sha(second[1]))
    )
    update = StateTree(MemoryKV()).update(None, 0, {b"alpha": b"1", b"beta": b"2"})
    assert update.root == expected
    assert leaf_hash(a, sha(b"1")) == sha(b"\x00" + a + sha(b"1"))
    assert internal_hash(3, b"x" * 64) == sha(b"\x01\x00\x03" + b"x" * 64)


# --- table tests ---------------------------------------------------------------------------------


def test_empty_tree() -> None:
    tree = StateTree(MemoryKV())
    assert tree.latest_version() is None
    assert tree.root_hash(0) == EMPTY_ROOT
    assert tree.get(b"missing") is None
    value, proof = tree.get_with_proof(b"missing", 5)
    assert value is None and proof == StateProof((), None)
    verify_proof(EMPTY_ROOT, b"missing", None, proof)
    with pytest.raises(ProofError, match="empty tree"):
        verify_proof(sha(b"x"), b"missing", None, proof)
    with pytest.raises(ProofError, match="absence"):
        verify_proof(EMPTY_ROOT, b"missing", b"value", proof)


def test_one_key_root_is_its_leaf() -> None:
    chain = Chain()
    update = chain.commit({b"asset/1": b"record"})
    assert update.root == leaf_hash(key_hash(b"asset/1"), sha(b"record"))
    assert chain.tree.latest_version() == 0
    value, proof = chain.tree.get_with_proof(b"asset/1", 0)
    assert value == b"record" and proof.levels == ()
    verify_proof(update.root, b"asset/1", b"record", proof)
    chain.check_version(0, [b"asset/1", b"asset/2"])


def test_delete_to_empty() -> None:
    chain = Chain()
    chain.commit({b"a": b"1", b"b": b"2", b"c": b"3"})
    update = chain.commit({b"a": None, b"b": None, b"c": None, b"never-there": None})
    assert update.root == EMPTY_ROOT
    assert chain.tree.root_hash(1) == EMPTY_ROOT
    assert chain.tree.get(b"a") is None
    chain.check_version(1, [b"a", b"b", b"c"])
    chain.check_version(0, [b"a", b"b", b"c"])


def test_update_same_key() -> None:
    chain = Chain()
    chain.commit({b"a": b"1", b"b": b"2"})
    chain.commit({b"a": b"one"})
    assert chain.tree.get(b"a") == b"one"
    assert chain.tree.get(b"a", 0) == b"1"
    chain.check_version(1, [b"a", b"b"])
    chain.check_version(0, [b"a", b"b"])


def test_same_value_and_absent_delete_are_no_ops() -> None:
    chain = Chain()
    first = chain.commit({b"a": b"1", b"b": b"2"})
    again = chain.commit({b"a": b"1", b"zzz": None})
    assert again.root == first.root
    node_or_value_keys = [k for k in again.batch.ops if k[:2] in (b"Tn", b"Tv")]
    assert node_or_value_keys == []
    assert again.stale == (b"Tr" + (0).to_bytes(8, "big"),)


def test_empty_value_is_a_value_not_a_deletion() -> None:
    chain = Chain()
    chain.commit({b"a": b""})
    assert chain.tree.get(b"a") == b""
    chain.check_version(0, [b"a", b"b"])


def test_non_membership_in_non_empty_tree_both_kinds() -> None:
    chain = Chain()
    chain.commit({b"a": b"1", b"b": b"2"})
    used = {nibble(sha(b"a"), 0), nibble(sha(b"b"), 0)}
    empty_slot = next(b"x%d" % i for i in count() if nibble(sha(b"x%d" % i), 0) not in used)
    other_leaf = next(b"y%d" % i for i in count() if nibble(sha(b"y%d" % i), 0) == nibble(sha(b"a"), 0))
    root = chain.tree.root_hash(0)
    value, proof = chain.tree.get_with_proof(empty_slot, 0)
    assert value is None and proof.leaf is None and len(proof.levels) == 1
    verify_proof(root, empty_slot, None, proof)
    value, proof = chain.tree.get_with_proof(other_leaf, 0)
    assert value is None and proof.leaf == (sha(b"a"), sha(b"1"))
    verify_proof(root, other_leaf, None, proof)
    with pytest.raises(ProofError, match="another key"):
        verify_proof(root, other_leaf, b"1", proof)


def test_deep_split_and_collapse() -> None:
    near, far = keys_sharing_nibbles(4)
    chain = Chain()
    chain.commit({near: b"1"})
    update = chain.commit({far: b"2"})  # the first leaf moves down five levels
    value, proof = chain.tree.get_with_proof(far, 1)
    assert value == b"2" and len(proof.levels) == 5
    verify_proof(update.root, far, b"2", proof)
    chain.commit({b"other": b"3"})
    update = chain.commit({far: None})  # and back up: the chain of one-child nodes collapses
    value, proof = chain.tree.get_with_proof(near, 3)
    assert value == b"1" and len(proof.levels) == 1
    chain.commit({b"other": None})
    assert chain.tree.root_hash(4) == leaf_hash(sha(near), sha(b"1"))
    for version in range(5):
        chain.check_version(version, [near, far, b"other"])


def test_old_versions_readable_and_provable_after_newer_updates() -> None:
    chain = Chain()
    keys = [b"key-%d" % i for i in range(60)]
    for version in range(8):
        chain.commit({key: b"v%d" % version for key in keys[version * 5 : version * 5 + 20]})
        chain.commit({keys[version]: None})
    for version in chain.versions:
        chain.check_version(version, keys)


def test_sparse_versions_read_the_newest_before() -> None:
    chain = Chain()
    chain.commit({b"a": b"1"}, version=3)
    chain.commit({b"a": b"2"}, version=10)
    tree = chain.tree
    assert tree.root_hash(2) == EMPTY_ROOT
    assert tree.root_hash(7) == tree.root_hash(3) != tree.root_hash(10)
    assert tree.get(b"a", 2) is None and tree.get(b"a", 9) == b"1" and tree.get(b"a", 10) == b"2"
    assert tree.get(b"a", 99) == b"2"
    value, proof = tree.get_with_proof(b"a", 9)
    verify_proof(tree.root_hash(9), b"a", b"1", proof)


def test_prune_removes_only_stale_data() -> None:
    chain = Chain()
    keys = [b"key-%d" % i for i in range(40)]
    stale_by_version: dict[int, tuple[bytes, ...]] = {}
    for version in range(10):
        changes: dict[bytes, bytes | None] = {key: b"v%d" % version for key in keys[version : version + 12]}
        changes[keys[(version * 7) % 40]] = None
        stale_by_version[version] = chain.commit(changes).stale
    before = dict(chain.kv.iterate())
    chain.kv.write(chain.tree.prune(6))
    after = dict(chain.kv.iterate())
    expected_gone = {key for version in range(7) for key in stale_by_version[version]}
    gone = set(before) - set(after)
    index = {key for key in gone if key.startswith(b"Ts")}
    assert gone - index == expected_gone
    assert all(int.from_bytes(key[2:10], "big") <= 6 for key in index)
    assert set(after) - set(before) == {b"Tp"}
    for version in range(6, 10):
        chain.check_version(version, keys)
    for version in range(6):
        with pytest.raises(NotFoundError, match="pruned"):
            chain.tree.get_with_proof(keys[0], version)
        with pytest.raises(NotFoundError):
            chain.tree.root_hash(version)
        with pytest.raises(NotFoundError):
            chain.tree.get(keys[0], version)
    chain.commit({b"late": b"1"})  # the tree keeps working on top of a pruned history
    chain.check_version(10, keys + [b"late"])


def test_prune_everything_but_the_latest_leaves_only_live_data() -> None:
    chain = Chain()
    chain.commit({b"a": b"1", b"b": b"2"})
    chain.commit({b"a": None, b"b": b"3"})
    chain.commit({b"b": None})
    chain.kv.write(chain.tree.prune(2))
    assert {key[:2] for key, _ in chain.kv.iterate()} == {b"TL", b"Tp", b"Tr"}


def test_two_speculative_updates_for_one_version() -> None:
    chain = Chain()
    keys = [b"key-%d" % i for i in range(50)]
    chain.commit({key: b"base" for key in keys})
    tree = chain.tree
    first = tree.update(0, 1, {keys[0]: b"first", keys[1]: None, b"new-a": b"x"})
    second = tree.update(0, 1, {keys[0]: b"second", keys[2]: None, b"new-b": b"y"})
    assert first.root != second.root
    assert first.root == tree.update(0, 1, {keys[0]: b"first", keys[1]: None, b"new-a": b"x"}).root
    assert tree.latest_version() == 0  # nothing was written
    chain.kv.write(second.batch)
    chain.versions[1] = {**chain.versions[0], keys[0]: b"second", b"new-b": b"y"}
    del chain.versions[1][keys[2]]
    chain.latest = 1
    chain.check_version(1, keys + [b"new-a", b"new-b"])
    chain.check_version(0, keys)
    chain.commit({keys[3]: b"next"})  # the next update builds on the batch that was written
    chain.check_version(2, keys + [b"new-a", b"new-b"])
    assert_cache_matches_store(chain)


def assert_cache_matches_store(chain: Chain) -> None:
    """Every cached node is the stored one (or was pruned from the store): never a losing batch's."""
    assert chain.tree._cache
    for node_key, raw in chain.tree._cache.items():
        assert chain.kv.get(node_key) in (raw, None)


def test_recomputing_an_old_version_is_pure() -> None:
    chain = Chain()
    genesis = {b"key-%d" % i: b"genesis" for i in range(30)}
    first = chain.commit(dict(genesis))
    chain.commit({b"key-1": b"changed", b"key-2": None})
    before = dict(chain.kv.iterate())
    again = chain.tree.update(None, 0, dict(genesis))  # what a restarting node does to check genesis
    assert again.root == first.root
    assert dict(chain.kv.iterate()) == before
    chain.commit({b"key-3": b"later"})
    chain.check_version(2, list(genesis))
    assert_cache_matches_store(chain)


def test_keys_live_under_the_prefix_only() -> None:
    kv = MemoryKV()
    one, two = StateTree(kv, prefix=b"A"), StateTree(kv, prefix=b"B")
    kv.write(one.update(None, 0, {b"k": b"1"}).batch)
    kv.write(two.update(None, 0, {b"k": b"2"}).batch)
    assert all(key[:1] in (b"A", b"B") for key, _ in kv.iterate())
    assert one.get(b"k") == b"1" and two.get(b"k") == b"2"


# --- validation and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "new", "changes", "message"),
    [
        (None, 0, {b"k" * 1025: b"v"}, "exceeds"),
        (None, 0, {"text": b"v"}, "bytes"),
        (None, 0, {b"k": "text"}, "bytes or None"),
        (None, -1, {}, "not an integer"),
        (None, 2**64 - 1, {}, "not an integer"),
        (0, 0, {}, "above the base"),
        (5, 6, {}, "not written"),
    ],
)
def test_update_rejects(base: int | None, new: int, changes: dict, message: str) -> None:
    chain = Chain()
    chain.commit({b"a": b"1"})
    with pytest.raises(ValidationError, match=message):
        chain.tree.update(base, new, changes)


def test_missing_node_is_a_storage_error() -> None:
    chain = Chain()
    chain.commit({b"key-%d" % i: b"v" for i in range(40)})
    batch = WriteBatch()
    for key, _raw in chain.kv.iterate(b"Tn"):
        batch.delete(key)
    chain.kv.write(batch)
    chain.tree.clear_cache()
    with pytest.raises(StorageError, match="missing"):
        chain.tree.get_with_proof(b"key-1", 0)


def test_wire_form_is_canonical_arrays() -> None:
    chain = Chain()
    chain.commit({b"a": b"1", b"b": b"2", b"c": b"3"})
    _value, proof = chain.tree.get_with_proof(b"a", 0)
    wire = proof.to_wire()
    assert wire[0] == 0x92  # fixarray of two: [levels, leaf]
    assert StateProof.from_wire(wire) == proof
    for bad in [b"", b"\xc0", wire + b"\x00", b"\x92\x90\x92\xc4\x01a\xc4\x01b", b"\x81\x00\x00"]:
        with pytest.raises(ProofError):
            StateProof.from_wire(bad)


@pytest.mark.parametrize(
    "proof",
    [
        None,
        "proof",
        StateProof(None, None),  # type: ignore[arg-type]
        StateProof(((True, ()),), None),
        StateProof(((1, ("x",)),), None),  # type: ignore[arg-type]
        StateProof(((0x10000, ()),), None),
        StateProof((), (b"a" * 32,)),  # type: ignore[arg-type]
        StateProof((((1, ()),) * 65), None),
    ],
)
def test_verify_garbage_raises_proof_error_only(proof: object) -> None:
    with pytest.raises(ProofError):
        verify_proof(EMPTY_ROOT, b"k", None, proof)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("root", "key", "value"),
    [(b"short", b"k", None), ("root", b"k", None), (EMPTY_ROOT, "k", None), (EMPTY_ROOT, b"k", 5)],
)
def test_verify_garbage_arguments(root: object, key: object, value: object) -> None:
    with pytest.raises(ProofError):
        verify_proof(root, key, value, StateProof((), None))  # type: ignore[arg-type]


class _Key(bytes):
    """A bytes subclass: accepted as a key or value like bytes (the bulk type checks fall back)."""


def test_bytes_subclasses_are_accepted_as_before() -> None:
    chain = Chain()
    chain.commit({_Key(b"a"): _Key(b"1"), b"b": b"2"})
    assert chain.tree.get(_Key(b"a")) == b"1" and chain.tree.get(b"a", 0) == b"1"
    assert chain.tree.root_hash(0) == reference_root({b"a": b"1", b"b": b"2"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({b"ok": b"v", b"k" * 1025: "text"}, "bytes or None"),  # the first bad change is named
        ({b"ok": b"v", "text": "text"}, "bytes or None"),
        ({b"ok": b"v", "text": b"v", b"k" * 1025: b"v"}, "not str"),
        ({b"ok": b"v", b"k" * 1025: b"v", "text": b"v"}, "exceeds"),
    ],
)
def test_update_names_the_first_bad_change(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Chain().tree.update(None, 0, changes)


@pytest.mark.parametrize(
    ("key", "version", "error", "message"),
    [
        ("text", 0, ValidationError, "bytes"),
        (b"k" * 1025, 0, ValidationError, "exceeds"),
        (b"a", True, ValidationError, "not an integer"),
        (b"a", -1, ValidationError, "not an integer"),
        (b"a", 2**64 - 1, ValidationError, "not an integer"),
    ],
)
def test_get_rejects(key: object, version: object, error: type, message: str) -> None:
    chain = Chain()
    chain.commit({b"a": b"1"})
    with pytest.raises(error, match=message):
        chain.tree.get(key, version)  # type: ignore[arg-type]


def test_get_below_the_pruned_floor_is_refused_on_the_fast_path_too() -> None:
    chain = Chain()
    chain.commit({b"a": b"1"})
    chain.commit({b"a": b"2"})
    chain.commit({b"a": b"3"})
    chain.kv.write(chain.tree.prune(2))
    assert chain.tree.get(b"a", 2) == b"3"  # the floor is known now: reads take the fast path
    with pytest.raises(NotFoundError):
        chain.tree.get(b"a", 1)
