"""Step tables for the pure PBFT replica (n = 4): each replica's view of the normal case, drops by reason,
persist-before-send, and restart without double-voting."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from collections import deque
from typing import Any

import pytest

from chain import codec
from chain.consensus import (
    BlockExecuted,
    Broadcast,
    CatchUpReceived,
    CommitBlock,
    ExecuteBlock,
    MessageReceived,
    PersistVote,
    ProposalReady,
    RelayRequests,
    ReplicaConfig,
    RequestProposal,
    RequestReceived,
    RequestsDone,
    SetTimer,
    Start,
    TimerFired,
    decode_message,
    encode_block,
    new_replica,
    step,
)
from chain.consensus.messages import COMMIT, PREPARE, PREPREPARE, Vote, encode_message, make_message
from chain.crypto import KeyPair, Signer
from chain.types import ZERO_HASH, Block, Header, make_tx, validators_hash

CHAIN = "steps"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]
VALIDATORS = tuple(k.public_key for k in KEYS)
SIGNERS = [Signer(k) for k in KEYS]
GENESIS = Header(CHAIN, 0, 0, 0, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, validators_hash(VALIDATORS), 0, 0)
VOTE_KINDS = {"preprepare", "prepare", "commit", "viewchange", "newview"}


def config(i: int) -> ReplicaConfig:
    return ReplicaConfig(CHAIN, VALIDATORS, i, SIGNERS[i], checkpoint_interval=2, window=4, view_timeout_ms=1000,
                         empty_block_interval_ms=100)


def block(height: int = 1, view: int = 0, proposer: int = 0, ts: int = 1, parent: Header = GENESIS) -> Block:
    txs = (make_tx(CHAIN, "anchoring", "anchor", {"label": str(ts)}, [KEYS[0]], ts),)
    root = hashlib.sha256(b"".join(t.tx_hash for t in txs)).digest()
    header = Header(CHAIN, height, view, ts, parent.block_hash, root, root, ZERO_HASH, GENESIS.validators_hash, 0,
                    proposer)
    return Block(header, txs)


def fresh(i: int) -> Any:
    return new_replica(config(i), 0, GENESIS.block_hash, [])


def kinds(actions: list[Any]) -> list[str]:
    out = []
    for a in actions:
        if isinstance(a, Broadcast):
            out.append("Broadcast:" + decode_message(a.message_bytes).kind)
        elif isinstance(a, PersistVote):
            out.append("Persist:" + a.key.decode().rsplit("/", 1)[1])
        else:
            out.append(type(a).__name__)
    return out


def preprepare(b: Block, view: int = 0, sender: int = 0) -> bytes:
    vote = Vote(b.height, view, b.block_hash)
    return make_message(SIGNERS[sender], CHAIN, sender, PREPREPARE, vote, encode_block(b))


def vote(kind: str, sender: int, b: Block, view: int = 0) -> bytes:
    return make_message(SIGNERS[sender], CHAIN, sender, kind, Vote(b.height, view, b.block_hash))


def snapshot(state: Any) -> bytes:
    fields = {f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.name not in ("config", "dropped")}
    return pickle.dumps(fields)


def test_encode_block_matches_canonical_encoding() -> None:
    b = block()
    assert encode_block(b) == b.encode()


def test_normal_case_from_a_backups_perspective() -> None:
    """Backup 1: pre-prepare -> execute -> prepare; quorum of prepares -> commit; quorum of commits -> commit."""
    b = block()
    state = fresh(1)
    state, actions = step(state, MessageReceived(preprepare(b), 0))
    assert kinds(actions) == ["ExecuteBlock"]
    state, actions = step(state, BlockExecuted(b.block_hash, True))
    assert kinds(actions) == ["Persist:prepare", "Broadcast:prepare"]
    state, actions = step(state, MessageReceived(vote(PREPARE, 2, b), 2))
    assert kinds(actions) == ["Persist:commit", "Broadcast:commit"]
    state, actions = step(state, MessageReceived(vote(COMMIT, 2, b), 2))
    assert actions == []
    state, actions = step(state, MessageReceived(vote(COMMIT, 3, b), 3))
    assert kinds(actions)[0] == "CommitBlock"
    commit = actions[0]
    assert isinstance(commit, CommitBlock) and commit.block == b
    commit.certificate.verify(CHAIN, VALIDATORS, b.block_hash)
    assert state.head_height == 1 and state.dropped == {}


def test_only_a_certified_caught_up_block_skips_the_signature_check() -> None:
    """ADR 0026: a proposal is executed with every signature checked; a block fetched in catch-up under a
    verified commit certificate is executed as ``certified`` — and one with a forged certificate is not
    executed at all."""
    b = block()
    proposed = [a for a in step(fresh(1), MessageReceived(preprepare(b), 0))[1] if isinstance(a, ExecuteBlock)]
    assert [a.certified for a in proposed] == [False]
    state = fresh(2)
    for sender in (0, 1, 3):
        state, actions = step(state, MessageReceived(vote(COMMIT, sender, b), sender))
    state, actions = step(state, MessageReceived(preprepare(b), 0))
    state, actions = step(state, BlockExecuted(b.block_hash, True))
    certificate = next(a.certificate for a in actions if isinstance(a, CommitBlock))
    lagging = fresh(3)
    _, actions = step(lagging, CatchUpReceived([(b, certificate)], 0))
    assert [a.certified for a in actions if isinstance(a, ExecuteBlock)] == [True]
    forged = dataclasses.replace(certificate, signatures=tuple((i, bytes(64)) for i, _ in certificate.signatures))
    _, actions = step(fresh(3), CatchUpReceived([(b, forged)], 0))
    assert not any(isinstance(a, ExecuteBlock) for a in actions)


def test_normal_case_from_the_primarys_perspective() -> None:
    b = block()
    state = fresh(0)
    state, actions = step(state, Start(0))
    assert kinds(actions) == ["SetTimer", "SetTimer", "SetTimer"]
    assert SetTimer("proposal", 100) in actions
    state, actions = step(state, TimerFired("proposal", 100))
    assert actions[-1] == RequestProposal(1, 0, GENESIS.block_hash)
    state, actions = step(state, ProposalReady(b))
    assert kinds(actions) == ["Persist:preprepare", "Broadcast:preprepare"]
    state, actions = step(state, MessageReceived(vote(PREPARE, 1, b), 1))
    assert actions == []
    state, actions = step(state, MessageReceived(vote(PREPARE, 2, b), 2))
    assert kinds(actions) == ["Persist:commit", "Broadcast:commit"]
    state, actions = step(state, MessageReceived(vote(COMMIT, 1, b), 1))
    state, actions = step(state, MessageReceived(vote(COMMIT, 3, b), 3))
    assert kinds(actions)[0] == "CommitBlock"


def run_network(n: int = 4, heights: int = 3) -> tuple[list[Any], list[list[Any]]]:
    """Deliver everything at once; return the states and every action list each replica produced."""
    states = [fresh(i) for i in range(n)]
    heads = [GENESIS] * n
    logs: list[list[Any]] = [[] for _ in range(n)]
    queue: deque[tuple[int, Any]] = deque((i, Start(0)) for i in range(n))
    while queue and min(s.head_height for s in states) < heights:
        i, event = queue.popleft()
        states[i], actions = step(states[i], event)
        logs[i].append(actions)
        for a in actions:
            if isinstance(a, Broadcast):
                queue.extend((j, MessageReceived(a.message_bytes, i)) for j in range(n) if j != i)
            elif isinstance(a, SetTimer) and a.name == "proposal":
                queue.append((i, TimerFired("proposal", 0)))
            elif isinstance(a, RequestProposal):
                queue.append((i, ProposalReady(block(a.height, a.view, i, a.height, heads[i]))))
            elif isinstance(a, ExecuteBlock):
                queue.append((i, BlockExecuted(a.block_hash, True)))
            elif isinstance(a, CommitBlock):
                heads[i] = a.block.header
    return states, logs


def test_every_replica_commits_the_same_blocks_with_valid_certificates() -> None:
    states, logs = run_network()
    for i, per_replica in enumerate(logs):
        commits = [a for actions in per_replica for a in actions if isinstance(a, CommitBlock)]
        assert [c.block.height for c in commits][:3] == [1, 2, 3], i
        for c in commits:
            c.certificate.verify(CHAIN, VALIDATORS, c.block_hash)
    assert len({s.head_hash for s in states}) == 1


def test_persist_before_send_in_every_action_list() -> None:
    _, logs = run_network()
    for per_replica in logs:
        for actions in per_replica:
            persisted: set[bytes] = set()
            for a in actions:
                if isinstance(a, PersistVote):
                    persisted.add(codec.decode(a.value)[0])
                elif isinstance(a, Broadcast) and decode_message(a.message_bytes).kind in VOTE_KINDS:
                    assert a.message_bytes in persisted


def _bad_inputs() -> list[tuple[str, bytes]]:
    b, other = block(), block(ts=2)
    good = vote(PREPARE, 2, b)
    msg = decode_message(good)
    bad_sig = encode_message(PREPARE, msg.body, 2, bytes(64))
    unknown = codec.encode((PREPARE, msg.body_wire, 9, msg.signature, b""))
    mismatched = make_message(SIGNERS[0], CHAIN, 0, PREPREPARE, Vote(1, 0, other.block_hash), encode_block(b))
    far = make_message(SIGNERS[2], CHAIN, 2, PREPARE, Vote(50, 0, b.block_hash))
    from_backup = make_message(SIGNERS[2], CHAIN, 2, PREPREPARE, Vote(1, 0, b.block_hash), encode_block(b))
    truncated_body = codec.encode((PREPARE, (1, 0), 2, msg.signature, b""))
    wrong_chain = make_message(SIGNERS[2], "other-chain", 2, PREPARE, Vote(1, 0, b.block_hash))
    return [
        ("malformed", b"\x93garbage"),
        ("malformed", b""),
        ("malformed", truncated_body),
        ("bad_signature", bad_sig),
        ("bad_signature", wrong_chain),
        ("unknown_validator", unknown),
        ("digest_mismatch", mismatched),
        ("outside_watermarks", far),
        ("not_primary", from_backup),
    ]


@pytest.mark.parametrize("reason,data", _bad_inputs())
def test_bad_input_is_dropped_by_reason_and_changes_nothing_else(reason: str, data: bytes) -> None:
    state = fresh(1)
    state, _ = step(state, Start(0))
    before = snapshot(state)
    state, actions = step(state, MessageReceived(data, 2))
    assert actions == []
    assert state.dropped == {reason: 1}
    assert snapshot(state) == before


def test_old_view_message_is_dropped_without_change() -> None:
    b = block()
    state = fresh(1)
    state, _ = step(state, TimerFired("view", 1000))  # view change to view 1
    before = snapshot(state)
    state, actions = step(state, MessageReceived(vote(PREPARE, 2, b, view=0), 2))
    assert actions == [] and state.dropped == {"old_view": 1} and snapshot(state) == before


def test_restart_never_votes_twice_differently() -> None:
    a, b = block(ts=1), block(ts=2)
    state = fresh(1)
    persisted: dict[bytes, bytes] = {}
    state, _ = step(state, MessageReceived(preprepare(a), 0))
    state, actions = step(state, BlockExecuted(a.block_hash, True))
    for act in actions:
        if isinstance(act, PersistVote):
            persisted[act.key] = act.value
    sent_prepare = [act for act in actions if isinstance(act, Broadcast)][0].message_bytes
    # crash; restart from the persisted votes; an equivocating primary now offers block b
    restarted = new_replica(config(1), 0, GENESIS.block_hash, list(persisted.values()))
    restarted, actions = step(restarted, Start(5))
    assert Broadcast(sent_prepare) in actions  # the same vote is re-sent, nothing new is signed
    restarted, actions = step(restarted, MessageReceived(preprepare(b), 0))
    assert actions == [] and restarted.dropped == {"conflicts_own_vote": 1}
    restarted, actions = step(restarted, MessageReceived(preprepare(a), 0))
    assert kinds(actions) == ["ExecuteBlock"]
    restarted, actions = step(restarted, BlockExecuted(a.block_hash, True))
    assert not any(isinstance(act, Broadcast) and act.message_bytes != sent_prepare for act in actions)


def test_primary_restart_reuses_its_persisted_preprepare() -> None:
    a, b = block(ts=1), block(ts=2)
    state = fresh(0)
    state, _ = step(state, TimerFired("proposal", 0))
    state, actions = step(state, ProposalReady(a))
    persisted = {act.key: act.value for act in actions if isinstance(act, PersistVote)}
    restarted = new_replica(config(0), 0, GENESIS.block_hash, list(persisted.values()))
    restarted, actions = step(restarted, Start(0))
    assert not any(isinstance(act, RequestProposal) for act in actions)
    assert any(isinstance(act, ExecuteBlock) and act.block_hash == a.block_hash for act in actions)
    restarted, actions = step(restarted, ProposalReady(b))
    assert actions == [] and restarted.dropped == {"stale_proposal": 1}


def _request_timer_run(script: list[tuple[int, str, bytes]]) -> list[tuple[int, str]]:
    """Feed a backup (replica 1, view 0) requests ("req"), commits of them ("done") and request-timer
    firings ("timer") at the given times; return when it relayed its requests or started a view change."""
    state = fresh(1)
    state, _ = step(state, Start(0))
    seen = []
    for now, what, tx in script:
        if what == "req":
            state, actions = step(state, RequestReceived(tx, now))
        elif what == "done":
            state, actions = step(state, RequestsDone((tx,), now))
        else:
            state, actions = step(state, TimerFired("request", now))
        if any(isinstance(a, RelayRequests) for a in actions):
            seen.append((now, "relay"))
        if any(isinstance(a, Broadcast) and decode_message(a.message_bytes).kind == "viewchange" for a in actions):
            seen.append((now, "viewchange"))
    return seen


def test_a_backlog_that_keeps_committing_does_not_replace_the_primary() -> None:
    """§4.5.2: the request timer restarts when a pending request commits. Once it expires the backup
    first relays its pending requests (the primary may not have them), and suspects the primary only a
    timeout later."""
    timeout = config(1).request_timeout_ms
    script = [(0, "req", b"a" * 32), (0, "req", b"b" * 32), (timeout - 10, "done", b"a" * 32),
              (timeout, "timer", b""), (2 * timeout - 20, "timer", b""), (2 * timeout - 10, "timer", b""),
              (3 * timeout - 20, "timer", b""), (3 * timeout - 10, "timer", b"")]
    assert _request_timer_run(script) == [(2 * timeout - 10, "relay"), (3 * timeout - 10, "viewchange")]


def test_a_relay_that_gets_the_request_committed_avoids_the_view_change() -> None:
    timeout = config(1).request_timeout_ms
    script = [(0, "req", b"a" * 32), (timeout, "timer", b""), (timeout + 50, "done", b"a" * 32),
              (2 * timeout, "timer", b"")]
    assert _request_timer_run(script) == [(timeout, "relay")]


def test_a_primary_that_commits_others_but_never_one_request_is_replaced() -> None:
    timeout = config(1).request_timeout_ms
    script: list[tuple[int, str, bytes]] = [(0, "req", b"x" * 32)]
    for i in range(1, 10):  # a fresh request every half timeout, each committed: progress, but never x
        now = i * timeout // 2
        script += [(now, "req", bytes([i]) * 32), (now, "done", bytes([i]) * 32), (now, "timer", b"")]
    script += [(5 * timeout, "timer", b"")]
    assert _request_timer_run(script) == [(4 * timeout, "relay"), (5 * timeout, "viewchange")]
