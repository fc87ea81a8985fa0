"""Benchmark: one batch update of the state tree (chain/statetree.py; DESIGN.md §11).

Builds a tree of ``existing`` keys in versions of ``build_batch`` keys each, then times
``StateTree.update`` of ``batch`` random keys (``rounds`` times, each committed before the next, so
the node cache is in its steady state) — half new keys, half updates of existing keys unless
``mode`` says otherwise. Reports microseconds (wall clock, and CPU time of the calling thread, which
leaves out LevelDB's background compaction and other processes) and SHA-256 calls per key for the
update alone; the write is timed separately (it belongs to the block's one synced batch).
Budget: ``us_per_key <= 40`` for 10,000 keys into 1,000,000, on MemoryKV and on LevelDB.

Run: ``python -m benchmarks.statetree [--existing N] [--batch N] [--backend memory|leveldb]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from chain.statetree import DEFAULT_CACHE_NODES, StateTree
from chain.storage.kv import KV, MemoryKV

BUDGET_US_PER_KEY = 40.0


def _key(index: int) -> bytes:
    return b"bench/asset/%d" % index


def _value(index: int, round_: int) -> bytes:
    return b"record-%d-%d-" % (index, round_) + bytes(48)


def _open(backend: str, directory: str | None) -> KV:
    if backend == "memory":
        return MemoryKV()
    if backend == "leveldb":
        from chain.storage.leveldb import LevelDBKV

        assert directory is not None
        return LevelDBKV(directory)
    raise ValueError(f"unknown backend {backend!r}")


def run(
    existing: int = 1_000_000,
    batch: int = 10_000,
    *,
    backend: str = "memory",
    build_batch: int = 50_000,
    rounds: int = 5,
    mode: str = "mixed",
    cache_nodes: int = DEFAULT_CACHE_NODES,
) -> dict[str, Any]:
    """Build, then time ``rounds`` updates of ``batch`` keys; returns the figures as a dict.

    ``mode``: ``"insert"`` (new keys), ``"update"`` (existing keys, new values) or ``"mixed"``.
    """
    directory = tempfile.mkdtemp(prefix="silkport-bench-statetree-") if backend == "leveldb" else None
    kv = _open(backend, directory)
    try:
        tree = StateTree(kv, cache_nodes=cache_nodes)
        version: int | None = None
        started = time.perf_counter()
        for first in range(0, existing, build_batch):
            changes = {_key(i): _value(i, 0) for i in range(first, min(existing, first + build_batch))}
            new_version = 0 if version is None else version + 1
            update = tree.update(version, new_version, changes)
            kv.write(update.batch, sync=False)
            version = new_version
        build_seconds = time.perf_counter() - started
        update_seconds: list[float] = []
        cpu_seconds: list[float] = []
        write_seconds: list[float] = []
        hashes = batch_ops = 0
        next_new = existing
        for round_ in range(1, rounds + 1):
            changes = {}
            stride = max(1, existing // batch) if existing else 1
            if mode in ("update", "mixed") and existing:
                count = batch if mode == "update" else batch // 2
                offset = round_ * 7919
                for i in range(count):
                    index = (offset + i * stride) % existing
                    changes[_key(index)] = _value(index, round_)
            while len(changes) < batch:
                changes[_key(next_new)] = _value(next_new, round_)
                next_new += 1
            new_version = 0 if version is None else version + 1
            gc.collect()
            started, cpu_started = time.perf_counter(), time.thread_time()
            update = tree.update(version, new_version, changes)
            update_seconds.append(time.perf_counter() - started)
            cpu_seconds.append(time.thread_time() - cpu_started)
            started = time.perf_counter()
            kv.write(update.batch, sync=True)
            write_seconds.append(time.perf_counter() - started)
            hashes += update.hashes
            batch_ops += len(update.batch)
            version = new_version
        keys = batch * rounds
        us_per_key = 1e6 * sum(update_seconds) / keys
        return {
            "backend": backend,
            "mode": mode,
            "existing": existing,
            "batch": batch,
            "rounds": rounds,
            "us_per_key": round(us_per_key, 2),
            "us_per_key_median_round": round(1e6 * statistics.median(update_seconds) / batch, 2),
            "cpu_us_per_key": round(1e6 * sum(cpu_seconds) / keys, 2),
            "hashes_per_key": round(hashes / keys, 2),
            "write_us_per_key": round(1e6 * sum(write_seconds) / keys, 2),
            "batch_ops_per_key": round(batch_ops / keys, 2),
            "build_seconds": round(build_seconds, 1),
            "build_batch": build_batch,
            "cache_nodes": cache_nodes,
            "budget_us_per_key": BUDGET_US_PER_KEY,
            "within_budget": us_per_key <= BUDGET_US_PER_KEY,
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        kv.close()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--existing", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--build-batch", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", choices=("memory", "leveldb", "both"), default="both")
    parser.add_argument("--mode", choices=("insert", "update", "mixed"), default="mixed")
    parser.add_argument("--cache-nodes", type=int, default=DEFAULT_CACHE_NODES)
    args = parser.parse_args(argv)
    backends = ("memory", "leveldb") if args.backend == "both" else (args.backend,)
    for backend in backends:
        result = run(
            args.existing,
            args.batch,
            backend=backend,
            build_batch=args.build_batch,
            rounds=args.rounds,
            mode=args.mode,
            cache_nodes=args.cache_nodes,
        )
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
