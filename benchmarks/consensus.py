"""Benchmark of the pure PBFT core: 4 replicas on a zero-latency virtual network, 2,000-tx blocks.

Transaction execution is stubbed out (BlockExecuted is answered at once, valid), so the figure is the
consensus core's own cost: decoding and verifying messages, signing votes, forming certificates.
Reports CPU milliseconds per committed block per replica (budget: <= 5 ms).

    python -m benchmarks.consensus [blocks] [txs_per_block]
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any

from chain.consensus import (
    BlockExecuted,
    Broadcast,
    CommitBlock,
    ExecuteBlock,
    MessageReceived,
    ProposalReady,
    ReplicaConfig,
    RequestProposal,
    Send,
    SetTimer,
    Start,
    TimerFired,
    new_replica,
    step,
)
from chain.crypto import KeyPair, Signer
from chain.types import ZERO_HASH, Block, Header, make_tx, validators_hash

CHAIN_ID = "silkport-bench"


def _txs(count: int) -> tuple[Any, ...]:
    client = KeyPair.from_seed(b"\x42" * 32)
    return tuple(
        make_tx(CHAIN_ID, "anchoring", "anchor", {"hash": i.to_bytes(32, "big"), "label": "bench"}, [client], i + 1)
        for i in range(count)
    )


def run(blocks: int = 200, txs_per_block: int = 2000, n: int = 4) -> dict[str, Any]:
    """Commit ``blocks`` blocks of ``txs_per_block`` txs on ``n`` replicas; return the measurements."""
    keys = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(n)]
    validators = tuple(k.public_key for k in keys)
    vhash = validators_hash(validators)
    txs = _txs(txs_per_block)
    genesis = Header(CHAIN_ID, 0, 0, 0, ZERO_HASH, ZERO_HASH, ZERO_HASH, ZERO_HASH, vhash, 0, 0)
    states = []
    for i in range(n):
        config = ReplicaConfig(CHAIN_ID, validators, i, Signer(keys[i]), empty_block_interval_ms=0,
                               view_timeout_ms=10**9, checkpoint_interval=10, window=40)
        states.append(new_replica(config, 0, genesis.block_hash, []))
    heads = [genesis] * n
    queue: deque[tuple[int, Any]] = deque((i, Start(0)) for i in range(n))
    committed = [0] * n
    start = time.process_time()
    while queue and min(committed) < blocks:
        index, event = queue.popleft()
        states[index], actions = step(states[index], event)
        for action in actions:
            if isinstance(action, Broadcast):
                queue.extend((j, MessageReceived(action.message_bytes, index)) for j in range(n) if j != index)
            elif isinstance(action, Send):
                queue.append((action.to_index, MessageReceived(action.message_bytes, index)))
            elif isinstance(action, SetTimer) and action.name == "proposal":
                queue.append((index, TimerFired("proposal", 0)))
            elif isinstance(action, RequestProposal):
                parent = heads[index]
                header = Header(CHAIN_ID, action.height, action.view, parent.timestamp_ms + 1, parent.block_hash,
                                ZERO_HASH, ZERO_HASH, ZERO_HASH, vhash, 0, index)
                queue.append((index, ProposalReady(Block(header, txs))))
            elif isinstance(action, ExecuteBlock):
                queue.append((index, BlockExecuted(action.block_hash, True, "")))
            elif isinstance(action, CommitBlock):
                heads[index] = action.handle.header
                committed[index] += 1
    cpu = time.process_time() - start
    total = sum(committed)
    return {
        "replicas": n,
        "blocks": min(committed),
        "txs_per_block": txs_per_block,
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_block_per_replica": round(1000 * cpu / max(1, total), 3),
        "blocks_per_cpu_second": round(min(committed) / cpu, 1) if cpu else None,
        "tx_per_cpu_second": round(min(committed) * txs_per_block / cpu) if cpu else None,
    }


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    print(run(*arguments))
