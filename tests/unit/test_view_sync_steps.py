"""Step tables for view synchronisation (issue 13, ADR 0013): late timers are re-armed, a replica that
is catching up suspects no one, and a VIEW-CHANGE whose sender was since seen active in a lower view
above the head it reported is stale and dropped."""

from __future__ import annotations

from typing import Any

from test_consensus_steps import CHAIN, GENESIS, SIGNERS, VALIDATORS

from chain.consensus import (
    Broadcast,
    MessageReceived,
    ReplicaConfig,
    RequestReceived,
    SetTimer,
    Start,
    TimerFired,
    decode_message,
    new_replica,
    step,
)
from chain.consensus.messages import PREPARE, VIEW_CHANGE, ViewChange, Vote, make_message

VIEW_TIMEOUT = 1_000


def fresh(i: int) -> Any:
    config = ReplicaConfig(CHAIN, VALIDATORS, i, SIGNERS[i], checkpoint_interval=2, window=8,
                           view_timeout_ms=VIEW_TIMEOUT, request_timeout_ms=2_000, empty_block_interval_ms=100)
    state, _ = step(new_replica(config, 0, GENESIS.block_hash, []), Start(0))
    return state


def view_changes_sent(actions: list[Any]) -> int:
    return sum(1 for a in actions if isinstance(a, Broadcast) and decode_message(a.message_bytes).kind == "viewchange")


def test_a_view_timer_fired_on_time_starts_a_view_change() -> None:
    state, actions = step(fresh(1), TimerFired("view", VIEW_TIMEOUT, VIEW_TIMEOUT))
    assert view_changes_sent(actions) == 1 and state.view == 1


def test_a_view_timer_fired_long_after_its_deadline_is_rearmed_not_obeyed() -> None:
    """SIGSTOP/SIGCONT: every overdue timer fires at once; none of them is evidence against the primary."""
    state, actions = step(fresh(1), TimerFired("view", 60_000, VIEW_TIMEOUT))
    assert actions == [SetTimer("view", VIEW_TIMEOUT)]
    assert state.view == 0 and state.active and state.dropped == {"late_timer": 1}


def test_a_late_request_timer_restarts_the_wait_instead_of_relaying() -> None:
    state = fresh(1)
    state, _ = step(state, RequestReceived(b"r" * 32, 0))
    state, actions = step(state, TimerFired("request", 60_000, 2_000))
    assert actions == [SetTimer("request", 2_000)]
    state, actions = step(state, TimerFired("request", 61_000, 62_000))  # on time, but within the fresh wait
    assert view_changes_sent(actions) == 0 and not any(type(a).__name__ == "RelayRequests" for a in actions)


def test_a_replica_behind_a_certified_height_suspects_no_one() -> None:
    state = fresh(1)
    state.catchup_target = 5  # as if a verified STATUS showed a certified height 5 (catch-up under way)
    state, actions = step(state, TimerFired("view", VIEW_TIMEOUT, VIEW_TIMEOUT))
    assert view_changes_sent(actions) == 0 and actions == [SetTimer("view", VIEW_TIMEOUT)]
    state, _ = step(state, RequestReceived(b"r" * 32, VIEW_TIMEOUT))
    for now in (3_000, 5_000, 7_000, 9_000, 11_000):
        state, actions = step(state, TimerFired("request", now, now))
        assert view_changes_sent(actions) == 0 and actions == [SetTimer("request", 2_000)]
    assert state.view == 0 and state.active


def test_a_view_change_of_a_replica_seen_active_in_a_lower_view_is_stale() -> None:
    """Replica 3 asked for view 1 at head 0, then (having rejoined) voted in view 0 at height 2: its
    VIEW-CHANGE no longer reports what it prepared and must not count in a NEW-VIEW."""
    state = fresh(0)
    view_change = make_message(SIGNERS[3], CHAIN, 3, VIEW_CHANGE, ViewChange(1, None, None, None))
    state, _ = step(state, MessageReceived(view_change, 3))
    assert 3 in state.view_changes
    state, _ = step(state, MessageReceived(make_message(SIGNERS[3], CHAIN, 3, PREPARE, Vote(1, 0, b"x" * 32)), 3))
    assert 3 in state.view_changes  # a vote for its head + 1, sent before its VIEW-CHANGE: nothing new
    state, _ = step(state, MessageReceived(make_message(SIGNERS[3], CHAIN, 3, PREPARE, Vote(2, 0, b"y" * 32)), 3))
    assert 3 not in state.view_changes
    state, _ = step(state, MessageReceived(view_change, 3))
    assert 3 not in state.view_changes and state.dropped.get("stale_view_change") == 1


def test_a_rejoined_replica_counts_its_own_withdrawn_view_change_as_stale() -> None:
    """After rejoining view 0 from view 2 (``withdrawn_view``), a NEW-VIEW for view 1 or 2 that carries
    the VIEW-CHANGE it sent before rejoining is refused; a fresh one it sends later is not stale."""
    from chain.consensus.messages import decode_message as decode
    from chain.consensus.viewchange import is_stale, start_view_change

    state = fresh(1)
    old = decode(make_message(SIGNERS[1], CHAIN, 1, VIEW_CHANGE, ViewChange(1, None, None, None)))
    assert not is_stale(state, old)
    state.withdrawn_view = 2  # as rejoin_view leaves it
    assert is_stale(state, old)
    withdrawn_two = decode(make_message(SIGNERS[1], CHAIN, 1, VIEW_CHANGE, ViewChange(2, None, None, None)))
    out: list[Any] = []
    start_view_change(state, 1, out)  # a later VIEW-CHANGE for view 1, sent from its current state
    assert not is_stale(state, state.view_changes[1][0])
    assert not is_stale(state, old)  # Ed25519 is deterministic: the same state gives the same message
    assert is_stale(state, withdrawn_two)
