"""Named traps from the PBFT papers and from experience, each a deterministic simulation."""

from __future__ import annotations

from typing import Any

from chain import codec
from chain.consensus import Broadcast, CommitBlock, RequestCatchUp
from chain.consensus.messages import decode_message

from .network import Schedule, Simulation, run_schedule


class PreparedNotCommitted(Simulation):
    """All COMMITs of view 0 are lost and the primary crashes after everyone prepared its block."""

    def transmit(self, src: int, dst: int, message: bytes) -> None:
        decoded = decode_message(message)
        if decoded.kind == "commit" and decoded.body.view == 0:
            return
        super().transmit(src, dst, message)


def test_view_change_with_a_prepared_but_not_committed_block() -> None:
    sim = PreparedNotCommitted(Schedule(n=4, seed=7, heal_ms=150, crashes=((0, 120, 10_000),), txs=0,
                                        liveness_bound_ms=0))
    sim.s.liveness_bound_ms = 6_000
    sim.s.heal_ms = 150
    try:
        sim.run()
    except AssertionError:
        pass  # node 0 stays down: liveness is checked below for the others
    first = [n.state for n in sim.nodes[1:]]
    assert all(s.view >= 1 for s in first)
    # the block prepared in view 0 at height 1 was re-proposed and committed, not replaced
    prepared_in_view0 = {
        b.block_hash for node in sim.nodes for b, _ in node.chain[1:2] if b.header.view == 0
    }
    assert sim.committed[1] in prepared_in_view0
    assert min(node.head.height for node in sim.nodes[1:]) >= 3


def test_primary_equivocation() -> None:
    for seed in range(3):
        sim = run_schedule(Schedule(n=4, seed=seed, byzantine={0: "equivocate"}, heal_ms=300, txs=3))
        assert max(n.state.view for n in sim.nodes) >= 1 or sim.committed
    sim = run_schedule(Schedule(n=7, seed=1, byzantine={0: "equivocate", 1: "equivocate"}, heal_ms=300))
    assert len(sim.committed) >= 2


class RecordingSimulation(Simulation):
    def __init__(self, schedule: Schedule) -> None:
        super().__init__(schedule)
        self.view_changes: dict[tuple[int, int], set[bytes]] = {}

    def apply(self, node: Any, action: Any) -> bool:
        if isinstance(action, Broadcast):
            decoded = decode_message(action.message_bytes)
            if decoded.kind == "viewchange":
                key = (node.index, decoded.body.new_view)
                self.view_changes.setdefault(key, set()).add(codec.encode(decoded.body_wire))
        return super().apply(node, action)


def test_replica_restarts_mid_view_change() -> None:
    # the silent primary forces a view change at ~200 ms; replica 1 crashes right after voting
    schedule = Schedule(n=4, seed=3, byzantine={0: "silent"}, heal_ms=400, crashes=((1, 205, 260),))
    sim = RecordingSimulation(schedule)
    sim.run()
    assert any(node == 1 for node, _ in sim.view_changes)
    for (node, view), bodies in sim.view_changes.items():
        assert len(bodies) == 1, f"replica {node} sent two different VIEW-CHANGEs for view {view}"
    assert sim.nodes[1].state.view >= 1


def test_lagging_replica_after_checkpoint_gc_catches_up_via_certificates() -> None:
    schedule = Schedule(n=4, seed=11, partition=(frozenset({0, 1, 2}), frozenset({3})), heal_ms=2_000,
                        checkpoint_interval=4, window=8, extra_blocks=3)
    sim = run_schedule(schedule)
    others = [n.state for n in sim.nodes[:3]]
    assert min(s.stable_checkpoint for s in others) > schedule.window  # the log was garbage-collected
    lagger = sim.nodes[3]
    assert sim.heal_height is not None and lagger.head.height >= sim.heal_height  # caught up through certified blocks
    assert all(cert is not None for _, cert in lagger.chain[1:])


def test_byzantine_catch_up_peer_is_ignored() -> None:
    lies = 0
    for seed in range(4):
        schedule = Schedule(n=4, seed=seed, byzantine={0: "liar"}, partition=(frozenset({0, 1, 2}), frozenset({3})),
                            heal_ms=1_200, extra_blocks=3)
        sim = run_schedule(schedule)
        lagger = sim.nodes[3].state
        lies += sum(count for reason, count in lagger.dropped.items() if reason.startswith("catchup_"))
        assert sim.heal_height is not None and sim.nodes[3].head.height >= sim.heal_height
    assert lies > 0


def test_old_primary_restarted_after_a_view_change_joins_the_new_view() -> None:
    # primary 0 crashes and the others move to view 1; 0 restarts and catches up through certificates
    # of view 1. Its own view-0 timer never fires (catch-up commits keep resetting it), so unless it
    # adopts the certified view it stays in view 0 and never votes again (seen on a real devnet).
    schedule = Schedule(n=4, seed=5, heal_ms=1_600, crashes=((0, 100, 1_500),), extra_blocks=4)
    sim = run_schedule(schedule)
    views = [node.state.view for node in sim.nodes]
    assert views[1] >= 1 and views[0] == max(views[1:]), views
    assert sim.nodes[0].state.active


def test_censoring_primary_is_replaced_and_the_requests_commit() -> None:
    # primary 0 keeps proposing blocks but never includes a request: the backups' request timers
    # fire (§4.5.2), they change view, and the new primary commits every request.
    # (backups first relay the requests, then suspect the primary a request timeout later)
    schedule = Schedule(n=4, seed=2, byzantine={0: "censor"}, heal_ms=300, txs=5, extra_blocks=80)
    sim = run_schedule(schedule)
    honest = sim.nodes[1:]
    assert all(node.state.view >= 1 for node in honest)
    committed = {tx.tx_hash for block, _ in honest[0].chain for tx in block.txs}
    assert {tx.tx_hash for tx in sim.txs} <= committed
    assert all(block.header.proposer != 0 for block, _ in honest[0].chain[1:] if block.txs)


class CatchUpRecorder(Simulation):
    """Records, for the lagging replica 3, each catch-up request with the queue it was made over and
    each commit's sync flag with what was still queued behind it."""

    def __init__(self, schedule: Schedule) -> None:
        super().__init__(schedule)
        self.requests_over_queue: list[int] = []
        self.unsynced_with_nothing_queued = 0
        self.unsynced = 0

    def apply(self, node: Any, action: Any) -> bool:
        if node.index == 3:
            if isinstance(action, RequestCatchUp):
                self.requests_over_queue.append(len(node.state.catchup_queue))
            elif isinstance(action, CommitBlock) and not action.sync:
                self.unsynced += 1
                if not node.state.catchup_queue:
                    self.unsynced_with_nothing_queued += 1
        return super().apply(node, action)


def test_catch_up_fetches_the_next_window_while_the_queue_executes() -> None:
    # replica 3 misses ~2 s of blocks (several 16-block windows); it must ask for the next window
    # while blocks are still queued, and skip the fsync only while more blocks are queued behind
    schedule = Schedule(n=4, seed=21, partition=(frozenset({0, 1, 2}), frozenset({3})), heal_ms=2_000,
                        extra_blocks=3)
    sim = CatchUpRecorder(schedule)
    sim.run()
    assert sim.heal_height is not None and sim.nodes[3].head.height >= sim.heal_height
    assert any(queued > 0 for queued in sim.requests_over_queue), sim.requests_over_queue
    assert sim.unsynced > 0 and sim.unsynced_with_nothing_queued == 0
