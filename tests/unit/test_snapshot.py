"""State snapshots (ADR 0021): a checkpoint's manifest and chunks are produced, every forged part is
rejected, and an installed snapshot is the same state, index and history as the source's."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import codec
from chain.contracts.anchoring import ANCHOR_INDEX
from chain.crypto import KeyPair, Signer
from chain.errors import SnapshotError
from chain.genesis import parse_genesis
from chain.ledger import Ledger
from chain.localnode import LocalNode
from chain.statesync.install import install, snapshot_base
from chain.statesync.snapshot import (
    CHUNKS,
    Chunk,
    Manifest,
    decode_history,
    history_pages,
    root_from_summary,
    verify_chunk,
    verify_history,
    verify_manifest,
)
from chain.statesync.source import SnapshotSource
from chain.statetree import StateTree
from chain.storage.kv import MemoryKV
from chain.types import make_tx
from testkit import contracts as testkit

VALIDATORS = [testkit.key(f"validator-{i}") for i in range(4)]
CHECKPOINT = 16


def genesis():  # type: ignore[no-untyped-def]
    document: dict[str, Any] = testkit.genesis_document(roles=[(testkit.REGISTRAR, "registrar")])
    document["params"] = {"test_mode": True, "checkpoint_interval": CHECKPOINT}
    return parse_genesis(document)


def build_chain(blocks: int = 2 * CHECKPOINT) -> LocalNode:
    """A chain with many state keys (one nonce per sender) and anchored hashes in the local index."""
    node = LocalNode(genesis(), VALIDATORS)
    for height in range(1, blocks + 1):
        for sender in range(6):
            user = KeyPair.from_seed(bytes([sender + 1, height % 256]) + bytes(30))
            node.submit_tx(make_tx(testkit.CHAIN_ID, "noop", "ping", {"note": f"{height}/{sender}"}, [user], 1))
        hashes = [codec.sha256(b"%d/%d" % (height, i)) for i in range(20)]
        node.submit_tx(make_tx(testkit.CHAIN_ID, "anchoring", "anchor", {"hashes": hashes}, [testkit.REGISTRAR], height))
        node.produce_block()
    return node


def source(node: LocalNode, index: int = 1) -> SnapshotSource:
    return SnapshotSource(node.ledger, Signer(VALIDATORS[index]), lambda: index)


def fetch_all(src: SnapshotSource, height: int) -> tuple[Manifest, list[Chunk], list[bytes]]:
    manifest = Manifest.decode(src.manifest(height))
    chunks = [Chunk.decode(src.chunk(height, k)) for k in range(CHUNKS)]
    manifest_ = manifest
    history = [h for page in range(history_pages(height)) for h in decode_history(src.history(height, page), manifest_, page)]
    return manifest, chunks, history


@pytest.fixture(scope="module")
def chain() -> LocalNode:
    return build_chain()


def test_a_snapshot_verifies_installs_and_replays_the_tail(chain: LocalNode) -> None:
    src = source(chain)
    height = src.latest_checkpoint(chain.ledger.height - 3)
    assert height == CHECKPOINT
    manifest, chunks, history = fetch_all(src, height)
    keys = chain.ledger.validator_keys
    verify_manifest(manifest, testkit.CHAIN_ID, keys)
    for k, chunk in enumerate(chunks):
        verify_chunk(manifest, k, chunk, manifest.index_digests)
    genesis_hash = chain.ledger.store.block_hash(0)
    assert genesis_hash is not None
    verify_history(manifest, history, genesis_hash)
    assert sum(len(c.entries) for c in chunks) == 20 * CHECKPOINT  # entries above the checkpoint left out

    kv = MemoryKV()
    install(kv, genesis(), manifest, [leaf for c in chunks for leaf in c.leaves],
            [e for c in chunks for e in c.entries], history)
    ledger = Ledger(kv, genesis())
    assert (ledger.height, ledger.head_hash, snapshot_base(kv)) == (height, manifest.header.block_hash, height)
    assert ledger.tree.root_hash(height) == manifest.header.state_root
    assert ledger.history.root() == chain.ledger.store.header(height + 1).history_root  # type: ignore[union-attr]
    assert ledger.raw_blocks(1, height, 1 << 20) == []  # no bodies at or below the snapshot
    for next_height in range(height + 1, chain.ledger.height + 1):  # the tail replays through the ledger
        block, certificate = chain.ledger.store.block(next_height), chain.ledger.store.certificate(next_height)
        assert block is not None and certificate is not None
        ledger.commit(block, certificate)
    assert ledger.tree.root_hash(ledger.height) == chain.ledger.tree.root_hash(chain.ledger.height)
    assert ledger.raw_blocks(height + 1, height + 1, 1 << 20) == chain.ledger.raw_blocks(height + 1, height + 1, 1 << 20)


def test_install_replaces_an_older_store_atomically(chain: LocalNode) -> None:
    """A node behind (not wiped) ends with exactly the snapshot: no key of its old state survives."""
    behind = build_chain(3)
    manifest, chunks, history = fetch_all(source(chain), CHECKPOINT)
    install(behind.ledger.kv, genesis(), manifest, [leaf for c in chunks for leaf in c.leaves],
            [e for c in chunks for e in c.entries], history)
    ledger = Ledger(behind.ledger.kv, genesis())
    assert ledger.height == CHECKPOINT
    fresh = MemoryKV()
    install(fresh, genesis(), manifest, [leaf for c in chunks for leaf in c.leaves],
            [e for c in chunks for e in c.entries], history)
    def chain_keys(kv: Any) -> dict[bytes, bytes]:
        return {k: v for k, v in kv.iterate() if not k.startswith(b"V")}
    assert chain_keys(behind.ledger.kv) == chain_keys(fresh)


def forged(chunk: Chunk, **changes: Any) -> Chunk:
    return dataclasses.replace(chunk, **changes)


def test_forged_chunks_are_rejected(chain: LocalNode) -> None:
    src = source(chain)
    manifest = Manifest.decode(src.manifest(CHECKPOINT))
    k = next(i for i in range(CHUNKS) if len(Chunk.decode(src.chunk(CHECKPOINT, i)).leaves) >= 2)
    good = Chunk.decode(src.chunk(CHECKPOINT, k))
    verify_chunk(manifest, k, good, manifest.index_digests)
    leaves = list(good.leaves)
    cases = {
        "changed value": forged(good, leaves=((leaves[0][0], leaves[0][1] + b"x"), *leaves[1:])),
        "truncated": forged(good, leaves=tuple(leaves[:-1])),
        "reordered": forged(good, leaves=(leaves[1], leaves[0], *leaves[2:])),
        "wrong index": forged(good, index=(k + 1) % CHUNKS),
        "another height": Chunk.decode(src.chunk(2 * CHECKPOINT, k)),
        "extra index entry": forged(good, entries=(*good.entries, (ANCHOR_INDEX + bytes([k]) + bytes(31), bytes(16)))),
        "dropped index entry": forged(good, entries=good.entries[1:]) if good.entries else forged(good, index=-1),
    }
    for name, chunk in cases.items():
        with pytest.raises(SnapshotError):
            verify_chunk(manifest, k, chunk, manifest.index_digests)
            pytest.fail(f"{name} was accepted")
    with pytest.raises(SnapshotError):
        Chunk.decode(good.encode()[:-3])  # truncated bytes
    other = next(i for i in range(CHUNKS) if i != k)
    with pytest.raises(SnapshotError):  # another chunk's leaves sent under this index
        verify_chunk(manifest, k, forged(Chunk.decode(src.chunk(CHECKPOINT, other)), index=k), manifest.index_digests)


def test_forged_manifests_are_rejected(chain: LocalNode) -> None:
    src = source(chain)
    manifest = Manifest.decode(src.manifest(CHECKPOINT))
    keys = chain.ledger.validator_keys
    first = min(manifest.summary)
    wrong_root = dataclasses.replace(manifest, summary={**manifest.summary, first: (1, bytes(32))})
    bad_signature = dataclasses.replace(manifest, signer=2)
    other_block = Manifest.decode(src.manifest(2 * CHECKPOINT))
    mixed = dataclasses.replace(manifest, certificate=other_block.certificate)
    outsiders = tuple(KeyPair.from_seed(bytes([i]) * 32).public_key for i in range(4))
    for bad, validators in ((wrong_root, keys), (bad_signature, keys), (mixed, keys), (manifest, outsiders)):
        with pytest.raises(SnapshotError):
            verify_manifest(bad, testkit.CHAIN_ID, validators)
    with pytest.raises(SnapshotError):
        verify_manifest(manifest, "another-chain", keys)
    for data in (b"", b"\x93\x01\x02", manifest.encode()[:-1], codec.encode(("x", 1, 2))):
        with pytest.raises(SnapshotError):
            Manifest.decode(data)
    history = [h for p in range(history_pages(CHECKPOINT)) for h in decode_history(src.history(CHECKPOINT, p), manifest, p)]
    with pytest.raises(SnapshotError):
        verify_history(manifest, [*history[:-1], bytes(32)], history[0])
    with pytest.raises(SnapshotError):
        decode_history(src.history(2 * CHECKPOINT, 0), manifest, 0)


def test_only_checkpoints_the_node_holds_are_served(chain: LocalNode) -> None:
    from chain.errors import NotFoundError, ValidationError

    src = source(chain)
    for height in (0, CHECKPOINT + 1, 10 * CHECKPOINT):
        with pytest.raises(NotFoundError):
            src.check_height(height, chain.ledger.height)
    with pytest.raises(ValidationError):
        src.chunk(CHECKPOINT, CHUNKS)
    with pytest.raises(ValidationError):
        src.history(CHECKPOINT, 1)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.binary(min_size=1, max_size=12), st.binary(max_size=24), max_size=300))
def test_any_state_gives_back_its_root_through_a_snapshot(state: dict[bytes, bytes]) -> None:
    kv = MemoryKV()
    tree = StateTree(kv, prefix=b"T")
    update = tree.update(None, 5, state)
    kv.write(update.batch)
    src: Any = object.__new__(SnapshotSource)
    src.tree, src.kv = StateTree(kv, prefix=b"T"), kv
    src.node_prefix, src.value_prefix = b"Tn", b"Tv"
    summary = src.summary(5)
    assert root_from_summary(summary) == update.root
    leaves = [(leaf.key_hash, src._value(leaf)) for k in range(CHUNKS) for leaf in src.subtree_leaves(5, k)]
    assert sorted(leaves) == sorted((codec.sha256(key), value) for key, value in state.items())
    fresh = MemoryKV()
    installed = StateTree(fresh, prefix=b"T").install(7, leaves)
    fresh.write(installed.batch)
    assert installed.root == update.root
    for key, value in list(state.items())[:20]:
        assert StateTree(fresh, prefix=b"T").get(key, 7) == value


wire = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=40) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=6).map(tuple),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(wire.map(codec.encode), st.binary(max_size=200)))
def test_any_bytes_from_a_peer_are_a_snapshot_error_or_a_part(chain: LocalNode, data: bytes) -> None:
    """A Byzantine peer's answer never raises anything but SnapshotError (the sync drops that peer)."""
    manifest = Manifest.decode(source(chain).manifest(CHECKPOINT))
    for decode in (Manifest.decode, Chunk.decode, lambda d: decode_history(d, manifest, 0)):
        try:
            decoded = decode(data)
            if isinstance(decoded, Chunk):
                verify_chunk(manifest, decoded.index % CHUNKS, decoded, manifest.index_digests)
            elif isinstance(decoded, Manifest):
                verify_manifest(decoded, testkit.CHAIN_ID, chain.ledger.validator_keys)
        except SnapshotError:
            pass
