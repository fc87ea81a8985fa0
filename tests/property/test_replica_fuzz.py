"""Hypothesis over the replica's handlers (issue 12 part 6): whatever a peer sends, ``step`` never
raises, and an input it drops changes nothing but the ``dropped`` counters (consensus-specs: "invalid
calls to handlers must not modify store"; PBFT, Castro & Liskov §4: messages that fail checks are
discarded).

Inputs: random bytes; envelopes correctly signed by a known validator over garbage bodies; votes
with random heights, views and digests; byte-level mutations of a valid PRE-PREPARE. Each is fed to
replicas in a few reachable states (fresh, mid-round, after a view change). ``SILKPORT_LONG=1`` runs
ten times as many examples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain import codec
from chain.consensus import (
    BlockExecuted,
    MessageReceived,
    ReplicaConfig,
    Start,
    TimerFired,
    new_replica,
    step,
)
from chain.consensus.messages import COMMIT, DOMAINS, PREPARE, PREPREPARE, Vote, encode_block, make_message
from chain.crypto import KeyPair, Signer
from chain.types import ZERO_HASH, Block, Header, make_tx, validators_hash

CHAIN = "fuzz"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]
VALIDATORS = tuple(k.public_key for k in KEYS)
SIGNERS = [Signer(k) for k in KEYS]
GENESIS = Header(CHAIN, 0, 0, 0, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, validators_hash(VALIDATORS), 0, 0)
EXAMPLES = 3000 if os.environ.get("SILKPORT_LONG") == "1" else 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def block(height: int = 1, view: int = 0, ts: int = 1) -> Block:
    txs = (make_tx(CHAIN, "anchoring", "anchor", {"label": str(ts)}, [KEYS[0]], ts),)
    root = hashlib.sha256(b"".join(t.tx_hash for t in txs)).digest()
    header = Header(CHAIN, height, view, ts, GENESIS.block_hash, root, root, ZERO_HASH, GENESIS.validators_hash, 0,
                    view % 4)
    return Block(header, txs)


BLOCK = block()
PREPREPARE_BYTES = make_message(SIGNERS[0], CHAIN, 0, PREPREPARE, Vote(1, 0, BLOCK.block_hash), encode_block(BLOCK))


def base_states() -> list[Any]:
    """Fresh replicas (index 1, a backup) in three states: started, mid-round, after a view change."""
    config = ReplicaConfig(CHAIN, VALIDATORS, 1, SIGNERS[1], checkpoint_interval=2, window=4, view_timeout_ms=1000,
                           empty_block_interval_ms=100)

    def started() -> Any:
        state, _ = step(new_replica(config, 0, GENESIS.block_hash, []), Start(0))
        return state

    mid, _ = step(started(), MessageReceived(PREPREPARE_BYTES, 0))
    mid, _ = step(mid, BlockExecuted(BLOCK.block_hash, True))
    changed, _ = step(started(), TimerFired("view", 1000))
    return [started(), mid, changed]


STATE_COUNT = len(base_states())


def snapshot(state: Any) -> bytes:
    return pickle.dumps({f.name: getattr(state, f.name) for f in dataclasses.fields(state)
                         if f.name not in ("config", "dropped")})


def feed(index: int, data: bytes, sender: int | None) -> None:
    """Step a fresh copy of state ``index`` with ``data``; a dropped input may change only ``dropped``
    (the core updates its state in place, so every example builds its own)."""
    state = base_states()[index]
    before, dropped_before = snapshot(state), dict(state.dropped)
    after, actions = step(state, MessageReceived(data, sender))
    if after.dropped != dropped_before:
        assert actions == [], f"a dropped input produced actions: {actions}"
        assert snapshot(after) == before, f"a dropped input changed more than dropped: {after.dropped}"
        assert sum(after.dropped.values()) == sum(dropped_before.values()) + 1


wire_values = st.recursive(
    st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.binary(max_size=40) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=5).map(tuple),
    max_leaves=12,
)
states = st.integers(min_value=0, max_value=STATE_COUNT - 1)
senders = st.none() | st.integers(min_value=0, max_value=5)


@FUZZ
@given(states, st.binary(max_size=300), senders)
def test_random_bytes_are_dropped(index: int, data: bytes, sender: int | None) -> None:
    feed(index, data, sender)


@FUZZ
@given(states, st.sampled_from(sorted(DOMAINS)), wire_values, st.integers(0, 3), st.binary(max_size=64), senders)
def test_signed_envelopes_with_garbage_bodies(index: int, kind: str, body: Any, signer: int, payload: bytes,
                                              sender: int | None) -> None:
    signature = SIGNERS[signer].sign(codec.signing_bytes(DOMAINS[kind], CHAIN, body))
    feed(index, codec.encode((kind, body, signer, signature, payload)), sender)


@FUZZ
@given(states, st.sampled_from([PREPARE, COMMIT]), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
       st.binary(min_size=32, max_size=32) | st.just(BLOCK.block_hash), st.integers(0, 3))
def test_votes_with_wrong_heights_and_views(index: int, kind: str, height: int, view: int, digest: bytes,
                                            signer: int) -> None:
    feed(index, make_message(SIGNERS[signer], CHAIN, signer, kind, Vote(height, view, digest)), signer)


@FUZZ
@given(states, st.data())
def test_mutated_preprepare(index: int, data: st.DataObject) -> None:
    raw = bytearray(PREPREPARE_BYTES)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    feed(index, bytes(raw[:cut]), 0)
