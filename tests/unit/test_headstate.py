"""The head-state read cache (ADR 0023) answers exactly what the state tree answers, at every version."""

from __future__ import annotations

import random
import threading

from test_block_building import KEYS, genesis, ping

from chain.crypto import KeyPair
from chain.headstate import HeadState
from chain.localnode import LocalNode


class Versions:
    """A naive versioned map: the model the cache is checked against."""

    def __init__(self) -> None:
        self.states: list[dict[bytes, bytes | None]] = [{}]
        self.reads = 0

    def read(self, key: bytes, version: int) -> bytes | None:
        self.reads += 1
        return self.states[version].get(key)

    def commit(self, changes: dict[bytes, bytes | None]) -> None:
        state = dict(self.states[-1])
        state.update(changes)
        self.states.append(state)


def test_random_blocks_and_reads_agree_with_the_model() -> None:
    rng = random.Random(7)
    model = Versions()
    cache = HeadState(model.read, 0, capacity=12)  # small: the clear-when-full path runs too
    keys = [bytes([i]) for i in range(20)]
    for _ in range(300):
        head = len(model.states) - 1
        for _ in range(rng.randrange(8)):
            key, version = rng.choice(keys), rng.choice([head, head, head, rng.randrange(head + 1)])
            assert cache.get(key, version) == model.states[version].get(key)
        changes = {rng.choice(keys): rng.choice([None, rng.randbytes(3)]) for _ in range(rng.randrange(5))}
        model.commit(changes)
        cache.advance(head + 1, changes)
    assert cache.hits > 0 and cache.misses > 0


def test_a_repeated_read_at_the_head_costs_one_tree_read() -> None:
    model = Versions()
    model.commit({b"k": b"v"})
    cache = HeadState(model.read, 1)
    assert [cache.get(b"k", 1) for _ in range(5)] == [b"v"] * 5 and model.reads == 1
    assert cache.get(b"absent", 1) is None and cache.get(b"absent", 1) is None and model.reads == 2
    assert cache.get(b"k", 0) is None and model.reads == 3  # an older version goes to the tree


def test_a_jump_of_versions_forgets_everything() -> None:
    model = Versions()
    model.commit({b"k": b"1"})
    cache = HeadState(model.read, 1)
    assert cache.get(b"k", 1) == b"1"
    model.commit({b"k": b"2"})
    model.commit({b"k": b"3"})
    cache.advance(3, {})  # e.g. a snapshot: the diff from 1 to 3 is not known
    assert cache.get(b"k", 3) == b"3"


def test_other_threads_read_the_tree() -> None:
    model = Versions()
    model.commit({b"k": b"v"})
    cache = HeadState(model.read, 1)
    cache.get(b"k", 1)
    seen: list[bytes | None] = []
    worker = threading.Thread(target=lambda: seen.append(cache.get(b"k", 1)))
    worker.start()
    worker.join()
    assert seen == [b"v"] and model.reads == 2 and cache.hits == 0


def test_a_ledger_with_the_cache_agrees_with_its_tree_block_after_block() -> None:
    node = LocalNode(genesis(), KEYS)
    senders = [KeyPair.generate() for _ in range(5)]
    nonces = dict.fromkeys(range(5), 0)
    rng = random.Random(3)
    for _ in range(8):
        for who in rng.sample(range(5), 3):
            nonces[who] += 1
            node.submit_tx(ping(nonces[who], who=senders[who]))
        node.produce_block()
        ledger = node.ledger
        for key in list(ledger.head_state._values):
            assert ledger.state_get(key) == ledger.tree.get(key, ledger.height), key
    assert ledger.head_state.hits > 0


def test_the_bodies_are_stored_as_execution_encoded_them_and_a_mismatch_is_refused() -> None:
    import pytest

    from chain.errors import ValidationError

    node = LocalNode(genesis(), KEYS)
    txs = [ping(1), ping(1)]
    for tx in txs:
        node.submit_tx(tx)
    block = node.produce_block()
    stored = node.ledger.store.txs(block.height)
    assert [tx.tx_id for tx in stored] == [tx.tx_id for tx in block.txs]
    assert node.ledger.store.txs(block.height) and len(stored) == 2
    for tx in (ping(1), ping(1)):
        node.submit_tx(tx)
    result_block = node.ledger.build_block(0, block.header.timestamp_ms + 1000, 0)
    receipts = node.ledger._results[result_block.block_hash].receipts
    with pytest.raises(ValidationError, match="1 encoded bodies for 2 transactions"):
        node.ledger.store.commit(result_block, None, receipts, leaf_data=[b"x"])
    assert node.ledger.store.head() == (block.height, block.block_hash)  # nothing written
