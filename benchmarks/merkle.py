"""RFC 6962 root over many leaves (``python -m benchmarks merkle``): median of several runs."""

from __future__ import annotations

import hashlib
import statistics
import time
from typing import Any

from chain import merkle


def run(leaves: int = 100_000, runs: int = 9) -> dict[str, Any]:
    hashes = [merkle.leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest()) for i in range(leaves)]
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        merkle.root(hashes)
        timings.append((time.perf_counter() - started) * 1000)
    return {"leaves": leaves, "median_ms": round(statistics.median(timings), 2), "min_ms": round(min(timings), 2)}
