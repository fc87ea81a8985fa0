"""Hypothesis properties of chain.statetree against a plain dict model.

- the root depends only on the final key/value set: not on insertion order, on how the changes are
  split into versions, or on keys inserted and deleted (or values changed and restored) on the way;
- every key's proof verifies (membership and non-membership) and survives the wire form;
- every tampered proof, key, value or root fails with ProofError, and so does garbage wire data;
- an action list of update / speculative update / get / prove / prune agrees with the model.
"""

from __future__ import annotations

import hashlib
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chain.errors import NotFoundError, ProofError
from chain.statetree import EMPTY_ROOT, StateProof, StateTree, verify_proof
from chain.storage.kv import MemoryKV

SETTINGS = settings(max_examples=200, deadline=None)

# A small key universe so that updates, deletes and shared path prefixes are common.
keys = st.binary(min_size=0, max_size=3)
values = st.binary(min_size=0, max_size=4)
states = st.dictionaries(keys, values, max_size=40)


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


def build(batches: list[dict[bytes, bytes | None]]) -> tuple[MemoryKV, StateTree, int | None]:
    kv = MemoryKV()
    tree = StateTree(kv)
    version: int | None = None
    for changes in batches:
        new_version = 0 if version is None else version + 1
        kv.write(tree.update(version, new_version, changes).batch)
        version = new_version
    return kv, tree, version


# --- the root is a function of the final set ------------------------------------------------------


@SETTINGS
@given(state=states, data=st.data())
def test_root_independent_of_order_batches_and_history(state: dict[bytes, bytes], data: st.DataObject) -> None:
    expected = reference_root(state)
    items = data.draw(st.permutations(sorted(state.items())), label="order")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(items)), max_size=5), label="cuts"))
    bounds = [0, *cuts, len(items)]
    batches: list[dict[bytes, bytes | None]] = [dict(items[a:b]) for a, b in pairwise(bounds)]
    # history that must leave no trace: extra keys inserted then deleted, values changed then restored
    extra = data.draw(st.dictionaries(keys.filter(lambda k: k not in state), values, max_size=10), label="extra")
    changed = data.draw(st.lists(st.sampled_from(sorted(state)), max_size=5) if state else st.just([]))
    noise: dict[bytes, bytes | None] = {**extra, **{key: state[key] + b"!" for key in changed}}
    position = data.draw(st.integers(0, len(batches)), label="noise position")
    undo: dict[bytes, bytes | None] = {key: None for key in extra}
    undo.update({key: state[key] for key in changed})
    history = batches[:position] + [noise] + batches[position:] + [undo]
    _kv, tree, version = build(history)
    assert version is not None
    assert tree.root_hash(version) == expected
    assert build([dict(state)])[1].root_hash(0) == expected
    for key, value in state.items():
        assert tree.get(key) == value


# --- proofs ---------------------------------------------------------------------------------------


@SETTINGS
@given(state=states, absent=st.lists(keys, max_size=10))
def test_every_proof_verifies(state: dict[bytes, bytes], absent: list[bytes]) -> None:
    _kv, tree, _version = build([dict(state)])
    root = tree.root_hash(0)
    assert root == reference_root(state)
    for key in [*state, *absent]:
        value, proof = tree.get_with_proof(key, 0)
        assert value == state.get(key)
        verify_proof(root, key, value, proof)
        assert StateProof.from_wire(proof.to_wire()) == proof


def _flip(data: bytes, index: int, mask: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


Claim = tuple[bytes, bytes, bytes | None, StateProof]


@st.composite
def tampered(
    draw: st.DrawFn, state: dict[bytes, bytes], key: bytes, value: bytes | None, proof: StateProof, root: bytes
) -> Claim:
    """One change to an honest claim (root, key, value, proof); the result must not verify."""
    levels, leaf = proof.levels, proof.leaf
    kinds = ["value", "root", "add_level"]
    if value is not None or state:
        kinds.append("key")
    if levels:
        kinds += ["drop_level", "bitmap", "extend"]
        if any(siblings for _bitmap, siblings in levels):
            kinds += ["sibling", "truncate"]
    kinds += ["leaf_key", "leaf_value", "drop_leaf"] if leaf is not None else ["add_leaf"]
    kind = draw(st.sampled_from(kinds))
    index, mask = draw(st.integers(0, 2**16)), draw(st.integers(1, 255))
    hashes = st.binary(min_size=32, max_size=32)

    def with_level(at: int, level: tuple[int, tuple[bytes, ...]]) -> StateProof:
        return StateProof(levels[:at] + (level,) + levels[at + 1 :], leaf)

    if kind == "key":
        # another key: for an absence proof, a present one (another absent key may share the path)
        others = keys if value is not None else st.sampled_from(sorted(state))
        return root, draw(others.filter(lambda k: k != key)), value, proof
    if kind == "value":
        return root, key, draw((st.none() | values).filter(lambda v: v != value)), proof
    if kind == "root":
        return _flip(root, index, mask), key, value, proof
    if kind == "add_level":
        level = (draw(st.integers(1, 0xFFFF)), tuple(draw(st.lists(hashes, max_size=3))))
        at = draw(st.integers(0, len(levels)))
        return root, key, value, StateProof(levels[:at] + (level,) + levels[at:], leaf)
    if kind == "drop_level":
        at = index % len(levels)
        return root, key, value, StateProof(levels[:at] + levels[at + 1 :], leaf)
    if kind == "bitmap":
        at = index % len(levels)
        bitmap, siblings = levels[at]
        new_bitmap = draw(st.integers(1, 0xFFFF).filter(lambda b: b != bitmap))
        return root, key, value, with_level(at, (new_bitmap, siblings))
    if kind == "extend":
        at = index % len(levels)
        bitmap, siblings = levels[at]
        return root, key, value, with_level(at, (bitmap, siblings + (draw(hashes),)))
    if kind in ("sibling", "truncate"):
        candidates = [i for i, (_b, siblings) in enumerate(levels) if siblings]
        at = candidates[index % len(candidates)]
        bitmap, siblings = levels[at]
        which = draw(st.integers(0, len(siblings) - 1))
        replacement = (_flip(siblings[which], index // 7, mask),) if kind == "sibling" else ()
        return root, key, value, with_level(at, (bitmap, siblings[:which] + replacement + siblings[which + 1 :]))
    if kind == "leaf_key":
        assert leaf is not None
        return root, key, value, StateProof(levels, (_flip(leaf[0], index, mask), leaf[1]))
    if kind == "leaf_value":
        assert leaf is not None
        return root, key, value, StateProof(levels, (leaf[0], _flip(leaf[1], index, mask)))
    if kind == "drop_leaf":
        return root, key, value, StateProof(levels, None)
    return root, key, value, StateProof(levels, (draw(hashes), draw(hashes)))


@SETTINGS
@given(state=states, probe=keys, data=st.data())
def test_every_tampered_proof_fails(state: dict[bytes, bytes], probe: bytes, data: st.DataObject) -> None:
    _kv, tree, _version = build([dict(state)])
    root = tree.root_hash(0)
    use_present = bool(state) and data.draw(st.booleans(), label="present")
    key = data.draw(st.sampled_from(sorted(state))) if use_present else probe
    value, proof = tree.get_with_proof(key, 0)
    verify_proof(root, key, value, proof)
    bad_root, bad_key, bad_value, bad_proof = data.draw(tampered(state, key, value, proof, root))
    try:
        verify_proof(bad_root, bad_key, bad_value, bad_proof)
    except ProofError:
        return
    raise AssertionError(f"tampered proof verified: {bad_key!r} {bad_value!r} {bad_proof!r}")


@SETTINGS
@given(state=states, probe=keys, index=st.integers(0, 10**6), mask=st.integers(1, 255), garbage=st.binary(max_size=200))
def test_tampered_or_garbage_wire_data_fails(
    state: dict[bytes, bytes], probe: bytes, index: int, mask: int, garbage: bytes
) -> None:
    _kv, tree, _version = build([dict(state)])
    root = tree.root_hash(0)
    value, proof = tree.get_with_proof(probe, 0)
    wire = proof.to_wire()
    for data in (_flip(wire, index, mask), wire[: index % len(wire)], wire + garbage[:1] + b"\x00", garbage):
        try:
            decoded = StateProof.from_wire(data)
        except ProofError:
            continue
        assert decoded.to_wire() == data  # whatever decodes is canonical
        if decoded != proof:
            try:
                verify_proof(root, probe, value, decoded)
            except ProofError:
                continue
            raise AssertionError("a changed wire proof verified")


# --- action lists against the model ---------------------------------------------------------------


class StateTreeMachine(RuleBasedStateMachine):
    """update / speculative update / get / prove / prune, checked against a dict per version."""

    def __init__(self) -> None:
        super().__init__()
        self.kv = MemoryKV()
        self.tree = StateTree(self.kv, cache_nodes=8)  # a tiny cache so evictions happen too
        self.versions: dict[int, dict[bytes, bytes]] = {}
        self.latest: int | None = None
        self.pruned_below = 0

    def _next_state(self, changes: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
        state = dict(self.versions[self.latest]) if self.latest is not None else {}
        for key, value in changes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        return state

    @rule(changes=st.dictionaries(keys, st.none() | values, max_size=12), gap=st.integers(1, 3))
    def update(self, changes: dict[bytes, bytes | None], gap: int) -> None:
        new_version = 0 if self.latest is None else self.latest + gap
        update = self.tree.update(self.latest, new_version, changes)
        state = self._next_state(changes)
        assert update.root == reference_root(state)
        self.kv.write(update.batch)
        for skipped in range((self.latest or 0) + 1, new_version):
            self.versions[skipped] = self.versions[self.latest] if self.latest is not None else {}
        self.versions[new_version] = state
        self.latest = new_version

    @rule(changes=st.dictionaries(keys, st.none() | values, max_size=12))
    def speculative_update_is_discarded(self, changes: dict[bytes, bytes | None]) -> None:
        new_version = 0 if self.latest is None else self.latest + 1
        update = self.tree.update(self.latest, new_version, changes)
        assert update.root == reference_root(self._next_state(changes))

    @precondition(lambda self: self.latest is not None)
    @rule(key=keys, data=st.data())
    def get_and_prove(self, key: bytes, data: st.DataObject) -> None:
        assert self.latest is not None
        version = data.draw(st.integers(0, self.latest + 1))
        if version < self.pruned_below:
            for call in (lambda: self.tree.get(key, version), lambda: self.tree.get_with_proof(key, version)):
                try:
                    call()
                except NotFoundError:
                    continue
                raise AssertionError("read of a pruned version succeeded")
            return
        state = self.versions[min(version, self.latest)]
        assert self.tree.get(key, version) == state.get(key)
        value, proof = self.tree.get_with_proof(key, version)
        assert value == state.get(key)
        root = self.tree.root_hash(version)
        assert root == reference_root(state)
        verify_proof(root, key, value, proof)

    @precondition(lambda self: self.latest is not None)
    @rule(data=st.data())
    def prune(self, data: st.DataObject) -> None:
        assert self.latest is not None
        keep = data.draw(st.integers(self.pruned_below, self.latest + 1))
        self.kv.write(self.tree.prune(keep))
        self.pruned_below = max(self.pruned_below, min(keep, self.latest))  # the latest is always kept

    @invariant()
    def cache_holds_only_stored_nodes(self) -> None:
        for node_key, raw in self.tree._cache.items():
            assert self.kv.get(node_key) in (raw, None)  # None: pruned since it was cached

    @invariant()
    def latest_matches(self) -> None:
        assert self.tree.latest_version() == self.latest
        if self.latest is not None:
            state = self.versions[self.latest]
            for key, value in state.items():
                assert self.tree.get(key) == value


StateTreeMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=20, deadline=None)
TestStateTreeActions = StateTreeMachine.TestCase
