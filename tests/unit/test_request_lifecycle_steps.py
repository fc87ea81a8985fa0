"""Step tables for the request lifecycle (ADR 0013: admitted -> proposed -> committed | dropped).

Requests that can no longer commit are forgotten (``RequestsDropped``): the request timer never relays
or suspects the primary for them, and the primary proposes no block because of them. A primary whose
proposal failed retries in the same view (``ProposalFailed``)."""

from __future__ import annotations

import hashlib
from typing import Any

from test_consensus_steps import CHAIN, GENESIS, SIGNERS, VALIDATORS

from chain.consensus import (
    Broadcast,
    CommitBlock,
    MessageReceived,
    ProposalFailed,
    ProposalReady,
    RelayRequests,
    ReplicaConfig,
    RequestProposal,
    RequestReceived,
    RequestsDone,
    RequestsDropped,
    SetTimer,
    Start,
    TimerFired,
    decode_message,
    new_replica,
    step,
)
from chain.consensus.messages import COMMIT, PREPARE, Vote, make_message
from chain.types import ZERO_HASH, Block, Header

TIMEOUT = 1_000


def fresh(i: int) -> Any:
    config = ReplicaConfig(CHAIN, VALIDATORS, i, SIGNERS[i], checkpoint_interval=2, window=4, view_timeout_ms=1000,
                           request_timeout_ms=TIMEOUT, empty_block_interval_ms=100)
    state, _ = step(new_replica(config, 0, GENESIS.block_hash, []), Start(0))
    return state


def empty_block(height: int, parent: Header, ts: int) -> Block:
    root = hashlib.sha256(b"").digest()
    return Block(Header(CHAIN, height, 0, ts, parent.block_hash, root, root, ZERO_HASH, GENESIS.validators_hash, 0, 0),
                 ())


def suspicion(actions: list[Any]) -> list[str]:
    seen = [type(a).__name__ for a in actions if isinstance(a, RelayRequests | RequestProposal)]
    seen += ["viewchange" for a in actions
             if isinstance(a, Broadcast) and decode_message(a.message_bytes).kind == "viewchange"]
    return seen


def requests(count: int) -> list[bytes]:
    return [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(count)]


def test_dropped_requests_never_make_a_backup_relay_or_suspect_the_primary() -> None:
    for count in (8, 10_000):
        state = fresh(1)
        hashes = requests(count)
        for tx_hash in hashes:
            state, _ = step(state, RequestReceived(tx_hash, 10))
        state, _ = step(state, RequestsDropped(tuple(hashes), 20))
        assert state.requests == {}
        seen: list[str] = []
        for k in range(1, 8):
            state, actions = step(state, TimerFired("request", k * TIMEOUT))
            seen += suspicion(actions)
        assert seen == [] and state.view == 0 and state.active


def test_a_live_request_still_times_out_after_dead_ones_were_dropped() -> None:
    """Dropping is no progress: the oldest request that can still commit keeps its deadline."""
    state = fresh(1)
    dead, live = requests(2)
    state, _ = step(state, RequestReceived(dead, 0))
    state, _ = step(state, RequestReceived(live, 0))
    state, _ = step(state, RequestsDropped((dead,), 10))
    state, actions = step(state, TimerFired("request", TIMEOUT))
    assert suspicion(actions) == ["RelayRequests"]
    assert actions[0] == RelayRequests((live,))
    state, actions = step(state, TimerFired("request", 2 * TIMEOUT))
    assert suspicion(actions) == ["viewchange"]


def test_a_primary_proposes_no_block_for_dead_requests() -> None:
    """Once the dead requests are dropped the primary waits for the empty-block interval after a commit
    (no storm of empty blocks) instead of proposing the next height at once."""
    state = fresh(0)
    dead = requests(8)
    state, actions = step(state, RequestReceived(dead[0], 5))
    request = actions[-1]
    assert isinstance(request, RequestProposal)
    for tx_hash in dead[1:]:
        state, _ = step(state, RequestReceived(tx_hash, 5))
    state, _ = step(state, RequestsDropped(tuple(dead), 6))  # the builder left them out
    block = empty_block(1, GENESIS, 7)
    state, actions = step(state, ProposalReady(block))
    vote = Vote(1, 0, block.block_hash)
    for sender in (1, 2):
        state, actions = step(state, MessageReceived(make_message(SIGNERS[sender], CHAIN, sender, PREPARE, vote), sender))
    for sender in (1, 2):
        state, actions = step(state, MessageReceived(make_message(SIGNERS[sender], CHAIN, sender, COMMIT, vote), sender))
    assert any(isinstance(a, CommitBlock) for a in actions)
    assert not any(isinstance(a, RequestProposal) for a in actions)
    assert SetTimer("proposal", 100) in actions


def test_the_primary_retries_a_failed_proposal_in_the_same_view() -> None:
    state = fresh(0)
    state, actions = step(state, RequestReceived(requests(1)[0], 5))
    assert actions[-1] == RequestProposal(1, 0, GENESIS.block_hash)
    state, actions = step(state, ProposalFailed(1, 0, "storage"))
    assert actions == [SetTimer("proposal", 100)]
    state, actions = step(state, TimerFired("proposal", 105))
    assert actions[-1] == RequestProposal(1, 0, GENESIS.block_hash) and state.view == 0
    state, actions = step(state, ProposalReady(empty_block(1, GENESIS, 106)))
    assert [decode_message(a.message_bytes).kind for a in actions if isinstance(a, Broadcast)] == ["preprepare"]


def test_a_stale_proposal_failure_changes_nothing_but_the_drop_counter() -> None:
    state = fresh(0)
    state, actions = step(state, ProposalFailed(5, 3))
    assert actions == [] and state.dropped == {"stale_proposal": 1}


def test_a_request_committed_after_being_dropped_elsewhere_is_settled_once() -> None:
    state = fresh(1)
    tx_hash = requests(1)[0]
    state, _ = step(state, RequestReceived(tx_hash, 0))
    state, _ = step(state, RequestsDone((tx_hash,), 50))
    state, _ = step(state, RequestsDropped((tx_hash,), 60))  # a late drop report is harmless
    assert state.requests == {} and state.progress_ms == 50
