"""Benchmark: one synced LevelDB ``BlockStore.commit`` of a full block (DESIGN.md §6, §11).

A block of ``txs`` signed registry transactions (every tenth co-signed by two keys, as pledges are),
one receipt with one event per transaction, a 3-signature commit certificate and ``3 * txs`` state
tree writes (``T || 32-byte node hash`` -> 70-byte inner nodes and 220-byte leaves) go to disk in
one write batch with ``sync=True``. Only ``commit`` is timed; blocks are built beforehand.
Budget: median <= 20 ms for 2,000 transactions. Run: ``python -m benchmarks.blockstore``.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from typing import Any

from chain.crypto import KeyPair
from chain.storage.blockstore import BlockStore
from chain.storage.kv import WriteBatch
from chain.storage.leveldb import LevelDBKV
from chain.storage.schema import body_prefix
from chain.types import Block, CommitCertificate, Event, EventRef, Header, Receipt, SignedTx, make_tx

BUDGET_MS = 20.0
CHAIN_ID = "silkport-bench"


def _txs(rng: random.Random, keys: list[KeyPair], count: int, first_nonce: int) -> list[SignedTx]:
    txs = []
    for i in range(count):
        sender = keys[i % len(keys)]
        signers = [sender, keys[(i + 1) % len(keys)]] if i % 10 == 0 else [sender]
        args = {
            "content_hash": rng.randbytes(32),
            "size": rng.randrange(1, 10**12),
            "format": "parquet",
            "sector": "logistics",
            "classification": "general",
            "grade": rng.randrange(1, 4),
            "name": f"port-shipments-{first_nonce + i:08d}",
            "origin": "CN-BJ-daxing",
            "parents": [rng.randbytes(32).hex()],
        }
        txs.append(make_tx(CHAIN_ID, "registry", "register_asset", args, signers, first_nonce + i))
    return txs


def _receipts(rng: random.Random, txs: list[SignedTx], height: int) -> list[Receipt]:
    receipts = []
    for index, tx in enumerate(txs):
        event = Event(
            contract="registry",
            name="asset_registered",
            subject=tx.tx_hash.hex(),
            prev=EventRef(max(height - 1, 0), index),
            data=(("certificate", f"SP-DA-{height:06d}-{index:05d}"), ("owner", tx.sender)),
        )
        receipts.append(Receipt(status=0 if rng.random() < 0.97 else 1, events=(event,)))
    return receipts


def _state_ops(rng: random.Random, count: int) -> WriteBatch:
    batch = WriteBatch()
    for i in range(count):
        size = 220 if i % 3 == 0 else 70
        batch.put(b"T" + rng.randbytes(32), rng.randbytes(size))
    return batch


def _header(rng: random.Random, height: int, prev_hash: bytes) -> Header:
    return Header(
        chain_id=CHAIN_ID,
        height=height,
        view=0,
        timestamp_ms=1_700_000_000_000 + height * 1000,
        prev_hash=prev_hash,
        tx_root=rng.randbytes(32),
        state_root=rng.randbytes(32),
        history_root=rng.randbytes(32),
        validators_hash=rng.randbytes(32),
        policy_version=1,
        proposer=height % 4,
    )


def run(txs: int = 2000, runs: int = 21, seed: int = 2024) -> dict[str, Any]:
    """Median, min and max milliseconds of ``runs`` synced commits of a ``txs``-transaction block."""
    rng = random.Random(seed)
    keys = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(4)]
    timings: list[float] = []
    cpu_timings: list[float] = []  # this thread's CPU time: less sensitive to a busy machine
    batch_bytes = 0  # key + value bytes of the last timed commit
    with tempfile.TemporaryDirectory(prefix="silkport-bench-") as tmp:
        kv = LevelDBKV(tmp)
        try:
            store = BlockStore(kv)
            genesis = Block(_header(rng, 0, b"\x00" * 32), ())
            store.commit(genesis, None, [])
            prev_hash = genesis.block_hash
            for height in range(1, runs + 2):  # the first commit warms up and is not counted
                block_txs = _txs(rng, keys, txs, first_nonce=1 + (height - 1) * txs)
                block = Block(_header(rng, height, prev_hash), tuple(block_txs))
                receipts = _receipts(rng, block_txs, height)
                certificate = CommitCertificate(
                    height, 0, block.block_hash, tuple((i, rng.randbytes(64)) for i in range(3))
                )
                extra = _state_ops(rng, 3 * txs)
                started, cpu_started = time.perf_counter(), time.thread_time()
                store.commit(block, certificate, receipts, extra)
                elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
                if height > 1:
                    timings.append(elapsed * 1000.0)
                    cpu_timings.append(cpu * 1000.0)
                prev_hash = block.block_hash
                batch_bytes = sum(len(k) + len(v) for k, v in extra.ops.items() if v is not None)
            batch_bytes += sum(len(k) + len(v) for k, v in kv.iterate(body_prefix(runs + 1)))
        finally:
            kv.close()
    median = statistics.median(timings)
    return {
        "name": "blockstore_commit_leveldb_sync",
        "txs": txs,
        "extra_ops": 3 * txs,
        "runs": len(timings),
        "median_ms": round(median, 2),
        "min_ms": round(min(timings), 2),
        "max_ms": round(max(timings), 2),
        "median_thread_cpu_ms": round(statistics.median(cpu_timings), 2),
        "budget_ms": BUDGET_MS,
        "within_budget": median <= BUDGET_MS,
        "batch_bytes": batch_bytes,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
