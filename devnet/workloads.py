"""Workload generators for ``python -m devnet bench --workload NAME``.

A workload is a function ``(WorkloadContext) -> Plan`` registered under a name with
:func:`workload`. It runs inside each bench client process, before the timed phase, so every
transaction is built and signed in advance. ``Plan.setup`` transactions are submitted in order to
one node and awaited (committed) before the clock starts — put what the timed transactions depend on
there (organisations, assets to trade). ``Plan.timed`` transactions are posted concurrently,
round-robin over all nodes, so they may reach the primary in any order: give each its own sender
(nonce 1, as ``noop`` does), or make sure a reordering cannot turn one into a stale nonce.

Adding a workload::

    @workload("anchors")
    def anchors(ctx: WorkloadContext) -> Plan:
        registrar = ctx.keypair()
        return Plan(timed=[
            make_tx(ctx.chain_id, "anchoring", "anchor", {...}, [registrar], nonce)
            for nonce in range(1, ctx.count + 1)
        ])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chain.crypto import KeyPair, load_key_file
from chain.types import SignedTx, make_tx


@dataclass(frozen=True, slots=True)
class WorkloadContext:
    """What a workload may use: the chain id, this client's index and share of the transactions."""

    chain_id: str
    client_index: int
    clients: int
    count: int
    devnet_dir: str

    def keypair(self) -> KeyPair:
        """A fresh sender key (each bench client has its own senders)."""
        return KeyPair.generate()

    def authority_keys(self) -> list[KeyPair]:
        """The devnet's governance authorities (``D/authorities/*.json``), for workloads that need a quorum."""
        folder = Path(self.devnet_dir) / "authorities"
        return [load_key_file(path) for path in sorted(folder.glob("authority*.json"))]

    def unique(self, i: int) -> bytes:
        """Bytes unique to transaction ``i`` of this client (keys, names, hashes)."""
        return self.client_index.to_bytes(2, "big") + i.to_bytes(6, "big") + os.urandom(8)


@dataclass(frozen=True, slots=True)
class Plan:
    """Transactions to commit before the clock starts, and the timed ones."""

    timed: list[SignedTx]
    setup: list[SignedTx] = field(default_factory=list)


Workload = Callable[[WorkloadContext], Plan]
WORKLOADS: dict[str, Workload] = {}


def workload(name: str) -> Callable[[Workload], Workload]:
    """Register a workload generator under ``name``."""

    def register(function: Workload) -> Workload:
        if name in WORKLOADS:
            raise ValueError(f"workload {name!r} is already registered")
        WORKLOADS[name] = function
        return function

    return register


@workload("noop")
def noop(ctx: WorkloadContext) -> Plan:
    """``noop.ping``, one fresh sender per transaction: the cheapest path through the whole pipeline."""
    return Plan(
        timed=[
            make_tx(
                ctx.chain_id, "noop", "ping", {"note": f"bench {ctx.client_index}/{i}"}, [ctx.keypair()], 1
            )
            for i in range(ctx.count)
        ]
    )


@workload("noop-put")
def noop_put(ctx: WorkloadContext) -> Plan:
    """``noop.put`` of 64 bytes under a fresh key: exercises state writes and the state root."""
    return Plan(
        timed=[
            make_tx(
                ctx.chain_id,
                "noop",
                "put",
                {"key": ctx.unique(i), "value": os.urandom(64)},
                [ctx.keypair()],
                1,
            )
            for i in range(ctx.count)
        ]
    )


def _load_plugins() -> None:
    """Workloads of later contracts live in their own modules and register themselves on import."""
    from devnet import workloads_anchors, workloads_assets, workloads_transfers  # noqa: F401


_load_plugins()
