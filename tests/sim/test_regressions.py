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


def _back_and_voting(simulation: Simulation, index: int, since_ms: int) -> tuple[int, int] | None:
    """(time, view) of the first vote ``index`` sent after ``since_ms`` in the view the others end in."""
    others = {node.state.view for node in simulation.nodes if node.index != index}
    assert len(others) == 1, f"the other replicas disagree on the view: {others}"
    view = others.pop()
    for at, _kind, vote_view, _height in simulation.nodes[index].votes:
        if at > since_ms and vote_view == view:
            return at, view
    return None


def test_an_isolated_replica_rejoins_the_others_view_and_votes_after_the_partition_heals() -> None:
    """Issue 13 defect 2: replica 3, cut off, suspects the primary and climbs views alone; the others
    keep committing in view 0. After healing it must commit their certified blocks, rejoin view 0 and
    vote again within three view timeouts (before, it stayed alone in its higher view for good)."""
    schedule = Schedule(n=4, seed=1313, max_delay_ms=5, partition=(frozenset({3}), frozenset({0, 1, 2})),
                        heal_ms=1_500, txs=2, extra_blocks=30)
    simulation = run_schedule(schedule)
    assert simulation.nodes[3].state.view_changes_started >= 1, "replica 3 never left view 0 while isolated"
    back = _back_and_voting(simulation, 3, schedule.heal_ms)
    assert back is not None, f"replica 3 never voted in the others' view: {simulation.nodes[3].state.view}"
    assert back[0] <= schedule.heal_ms + 3 * schedule.view_timeout_ms
    assert simulation.nodes[3].state.view == back[1]


def test_a_replica_that_caught_up_from_far_behind_votes_again() -> None:
    """Issue 13 defect 3: replica 3 is down while the others commit far past its watermarks; it catches
    up through certified blocks, whose checkpoint certificates must move its stable checkpoint, so
    the others' votes fall inside its watermarks and it votes again (before, it never did)."""
    schedule = Schedule(n=4, seed=1414, max_delay_ms=5, heal_ms=1_600, crashes=((3, 5, 1_500),), txs=2,
                        extra_blocks=30)
    simulation = run_schedule(schedule)
    lagging = simulation.nodes[3]
    assert simulation.heal_height is not None
    assert simulation.heal_heads[3] + schedule.window < simulation.heal_height, "replica 3 was not far behind"
    back = _back_and_voting(simulation, 3, 1_500)
    assert back is not None, f"replica 3 never voted again (stable checkpoint {lagging.state.stable_checkpoint})"
    assert back[0] <= simulation.s.heal_ms + 3 * schedule.view_timeout_ms
