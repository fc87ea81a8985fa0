"""Prometheus metrics of one node (prometheus-client: the exposition format done right, not by hand)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from chain.types import Block


class NodeMetrics:
    """One registry per node (several nodes may share a test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.height = Gauge("silkport_height", "Height of the last committed block", registry=r)
        self.view = Gauge("silkport_view", "Current PBFT view", registry=r)
        self.peers = Gauge("silkport_peers_connected", "Authenticated peer connections", registry=r)
        self.mempool = Gauge("silkport_mempool_txs", "Transactions waiting in the mempool", registry=r)
        self.blocks = Counter("silkport_blocks_committed_total", "Blocks committed", registry=r)
        self.txs = Counter("silkport_txs_committed_total", "Transactions committed", registry=r)
        self.txs_admitted = Counter("silkport_txs_admitted_total", "Transactions admitted to the mempool", registry=r)
        self.txs_rejected = Counter(
            "silkport_txs_rejected_total", "Transactions refused at admission", ["reason"], registry=r
        )
        self.consensus_dropped = Gauge(
            "silkport_consensus_dropped", "Consensus messages dropped, by reason", ["reason"], registry=r
        )
        self.net_stats = Gauge("silkport_net", "Peer transport counters", ["counter"], registry=r)
        self.block_build_seconds = Histogram("silkport_block_build_seconds", "Proposal build time", registry=r)
        self.block_commit_seconds = Histogram("silkport_block_commit_seconds", "Block commit write time", registry=r)

    def committed(self, block: Block) -> None:
        self.blocks.inc()
        self.txs.inc(len(block.txs))
        self.height.set(block.height)

    def observe_replica(self, replica: Any) -> None:
        self.view.set(getattr(replica, "view", 0))

    def observe_status(self, status: Mapping[str, Any], net_stats: Mapping[str, Any] | Any) -> None:
        self.height.set(status["height"])
        self.peers.set(status["peers_connected"])
        self.mempool.set(status["mempool_size"])
        stats = net_stats if isinstance(net_stats, Mapping) else getattr(net_stats, "__dict__", {})
        for name, value in stats.items():
            if isinstance(value, int | float):
                self.net_stats.labels(counter=name).set(value)

    def observe_dropped(self, dropped: Mapping[str, int]) -> None:
        for reason, count in dropped.items():
            self.consensus_dropped.labels(reason=reason).set(count)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
