"""Per-client token buckets for write endpoints (DESIGN.md §7: limits take the place of fees).

Each client IP has a bucket of ``burst`` tokens refilled at ``rate_per_s``; a request takes one
token or is refused with 429 problem+json and ``Retry-After``. Idle buckets are forgotten so the
table stays bounded (at most ``max_clients`` entries, least recently used evicted first).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """``rate_per_s`` sustained requests per second per client IP, bursts up to ``burst``."""

    rate_per_s: float = 200.0
    burst: int = 400
    max_clients: int = 10_000


class TokenBuckets:
    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, at = self._buckets.pop(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.rate_per_s)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.limit.max_clients:
            self._buckets.popitem(last=False)
        if allowed:
            return 0.0
        return (1.0 - tokens) / self.limit.rate_per_s if self.limit.rate_per_s > 0 else math.inf

    def take_up_to(self, client: str, wanted: int) -> tuple[int, float]:
        """Take as many of ``wanted`` tokens as ``client`` has (whole tokens, for a batch of
        transactions): ``(granted, seconds until the next token)`` — the wait is 0.0 when all were granted."""
        now = self._clock()
        tokens, at = self._buckets.pop(client, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.rate_per_s)
        granted = min(max(0, wanted), int(tokens))
        tokens -= granted
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.limit.max_clients:
            self._buckets.popitem(last=False)
        if granted == wanted:
            return granted, 0.0
        return granted, (1.0 - tokens) / self.limit.rate_per_s if self.limit.rate_per_s > 0 else math.inf
