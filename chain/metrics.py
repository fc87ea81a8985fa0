"""Prometheus metrics of one node (prometheus-client: the exposition format done right, not by hand).

``ops/grafana/silkport.json`` and ``ops/prometheus/alerts.yml`` use these names (ADR 0024); a test scrapes
a live node and checks every name they reference.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from chain.consensus.quorum import quorum
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
        self.view_changes = Counter("silkport_view_changes_total", "Views this replica moved past", registry=r)
        self.validators = Gauge("silkport_validators", "Validators in the current set (n)", registry=r)
        self.quorum = Gauge("silkport_quorum", "Votes a certificate needs: 2f+1 when n = 3f+1", registry=r)
        self.mempool_capacity = Gauge("silkport_mempool_capacity_txs", "Transactions the mempool holds at most",
                                      registry=r)
        self.disk_free = Gauge("silkport_disk_free_bytes", "Free bytes on the data directory's filesystem",
                               registry=r)
        self.disk_total = Gauge("silkport_disk_total_bytes", "Size of the data directory's filesystem", registry=r)
        self._last_view: int | None = None

    def committed(self, block: Block) -> None:
        self.blocks.inc()
        self.txs.inc(len(block.txs))
        self.height.set(block.height)

    def observe_replica(self, replica: Any) -> None:
        view = int(getattr(replica, "view", 0))
        self.view.set(view)
        if self._last_view is not None and view > self._last_view:
            self.view_changes.inc(view - self._last_view)  # the first observation (a restart) is the baseline
        self._last_view = view if self._last_view is None else max(view, self._last_view)

    def observe_host(self, mempool_capacity: int, data_dir: Path) -> None:
        """Scrape-time facts: the mempool's bound and the data directory's filesystem."""
        self.mempool_capacity.set(mempool_capacity)
        try:
            usage = shutil.disk_usage(data_dir)
        except OSError:
            return
        self.disk_free.set(usage.free)
        self.disk_total.set(usage.total)

    def observe_status(self, status: Mapping[str, Any], net_stats: Mapping[str, Any] | Any) -> None:
        self.height.set(status["height"])
        self.peers.set(status["peers_connected"])
        self.mempool.set(status["mempool_size"])
        if "validators" in status:
            self.validators.set(status["validators"])
            self.quorum.set(quorum(int(status["validators"])))
        stats = net_stats if isinstance(net_stats, Mapping) else getattr(net_stats, "__dict__", {})
        for name, value in stats.items():
            if isinstance(value, int | float):
                self.net_stats.labels(counter=name).set(value)

    def observe_dropped(self, dropped: Mapping[str, int]) -> None:
        for reason, count in dropped.items():
            self.consensus_dropped.labels(reason=reason).set(count)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
