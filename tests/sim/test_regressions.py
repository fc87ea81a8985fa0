"""Schedules that once failed, pinned with their seeds (never skipped)."""

from __future__ import annotations

import pytest

from .network import Schedule, Simulation, run_schedule

REGRESSIONS = [
    # Catch-up and the pre-prepare of the same block executed at once: one BlockExecuted was lost.
    Schedule(n=4, seed=31, drop_rate=0.2, dup_rate=0.3, max_delay_ms=80, heal_ms=123, crashes=((2, 44, 64),), txs=1),
    Schedule(n=7, seed=16724, drop_rate=0.05, dup_rate=0.1, max_delay_ms=5, heal_ms=291,
             crashes=((2, 0, 146), (2, 145, 146))),
    # Replicas one view apart after a lost VIEW-CHANGE: the lower ones never saw a quorum to escalate.
    Schedule(n=4, seed=310463, byzantine={1: "silent"}, dup_rate=0.1, max_delay_ms=5,
             partition=(frozenset({1, 3}), frozenset({0, 2})), heal_ms=219, crashes=((0, 142, 164), (2, 70, 185)),
             txs=2),
    # A restarted replica forgot its own VIEW-CHANGE when counting the quorum for its view.
    Schedule(n=4, seed=4342, byzantine={2: "silent"}, drop_rate=0.2, max_delay_ms=20,
             partition=(frozenset({2, 3}), frozenset({0, 1})), heal_ms=879, crashes=((1, 825, 832), (0, 272, 583)),
             txs=7),
    # Only a Byzantine liar had committed the certified block; the honest replicas that prepared it
    # must commit it from the certificate instead of fetching it from the liar forever.
    Schedule(n=7, seed=3237, byzantine={0: "conflicting", 1: "liar"}, dup_rate=0.3, max_delay_ms=80, heal_ms=311,
             crashes=((5, 0, 192), (3, 0, 287)), txs=3),
    # A forger replayed garbage sent by another forger (simulator bug, kept as a schedule).
    Schedule(n=7, seed=937, byzantine={3: "forger", 4: "forger"}, dup_rate=0.3, max_delay_ms=5, heal_ms=217),
]


@pytest.mark.parametrize("schedule", REGRESSIONS, ids=[f"n{s.n}-seed{s.seed}" for s in REGRESSIONS])
def test_pinned_schedule(schedule: Schedule) -> None:
    run_schedule(schedule)


def _commits_before(simulation: Simulation, until_ms: int) -> int:
    return sum(1 for at in simulation.nodes[0].commit_times if at <= until_ms)


@pytest.mark.parametrize("expiring", [8, 10_000])
def test_expiring_requests_force_no_view_change_and_no_empty_block_storm(expiring: int) -> None:
    """Issue 12.1: requests that expire in every replica's mempool are dropped from the request timers
    (``RequestsDropped``); before, they kept the primary proposing empty blocks back to back and made
    the backups change views over and over. Pinned seed, no faults: the block rate must match a run
    without them (counted over the same virtual time), and no replica may start a view change."""
    common = {"n": 4, "seed": 1212, "max_delay_ms": 5, "heal_ms": 100, "txs": 2, "extra_blocks": 40}
    baseline = run_schedule(Schedule(**common))  # type: ignore[arg-type]
    attacked = run_schedule(Schedule(**common, expiring=expiring))  # type: ignore[arg-type]
    window = min(baseline.now, attacked.now)
    assert _commits_before(attacked, window) <= _commits_before(baseline, window) + 3
    for node in attacked.nodes:
        assert node.state.view_changes_started == 0 and node.state.view == 0, f"replica {node.index} changed view"
        assert node.state.requests == {}, f"replica {node.index} still tracks dead requests"
