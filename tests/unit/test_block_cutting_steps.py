"""Blocks sized by load (issue 13 part 2, issue 15 part 3): the primary proposes when a block would be
full, or when the oldest pending request has waited ``batch_delay_ms``; never once per request; an
empty heartbeat block only after the empty-block interval with nothing pending."""

from __future__ import annotations

import dataclasses
from typing import Any

from test_consensus_steps import GENESIS, config

from chain.consensus import (
    CancelTimer,
    RequestProposal,
    RequestReceived,
    RequestsDropped,
    SetTimer,
    Start,
    TimerFired,
    new_replica,
    step,
)


def primary(batch_delay_ms: int = 50, block_txs: int = 10) -> Any:
    cfg = dataclasses.replace(config(0), batch_delay_ms=batch_delay_ms, block_txs=block_txs)
    state = new_replica(cfg, 0, GENESIS.block_hash, [])
    state, _ = step(state, Start(1_000))
    return state


def request(state: Any, n: int, now_ms: int) -> tuple[Any, list[Any]]:
    return step(state, RequestReceived(n.to_bytes(32, "big"), now_ms))


def proposals(actions: list[Any]) -> list[RequestProposal]:
    return [a for a in actions if isinstance(a, RequestProposal)]


def proposal_timers(actions: list[Any]) -> list[int]:
    return [a.delay_ms for a in actions if isinstance(a, SetTimer) and a.name == "proposal"]


def test_light_load_waits_for_the_batch_delay_then_proposes_one_block() -> None:
    state = primary()
    state, actions = request(state, 1, 1_000)
    assert not proposals(actions) and proposal_timers(actions) == [50]
    for n in range(2, 6):  # later requests do not re-arm a timer that fires sooner
        state, actions = request(state, n, 1_000 + 5 * n)
        assert not proposals(actions) and not proposal_timers(actions)
    state, actions = step(state, TimerFired("proposal", 1_050))
    assert [(p.height, p.view) for p in proposals(actions)] == [(1, 0)]


def test_a_full_block_is_proposed_at_once() -> None:
    state = primary(block_txs=10)
    actions: list[Any] = []
    for n in range(1, 10):
        state, actions = request(state, n, 1_000)
        assert not proposals(actions)
    state, actions = request(state, 10, 1_001)
    assert len(proposals(actions)) == 1 and any(isinstance(a, CancelTimer) for a in actions)


def test_zero_delay_proposes_on_the_first_request() -> None:
    state = primary(batch_delay_ms=0)
    state, actions = request(state, 1, 1_000)
    assert len(proposals(actions)) == 1


def test_nothing_pending_means_a_heartbeat_after_the_empty_block_interval() -> None:
    state = primary()
    state, actions = request(state, 1, 1_000)
    state, actions = step(state, RequestsDropped((1 .to_bytes(32, "big"),)))
    assert not proposals(actions)
    state, actions = step(state, TimerFired("proposal", 1_050))  # the batch timer: nothing left
    assert len(proposals(actions)) == 1  # an empty block keeps the heartbeat; it is the armed timer's
