"""Typed application keys shared by the route modules (aiohttp ``AppKey``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web

from chain.api.facade import NodeFacade
from chain.api.ratelimit import TokenBuckets


@dataclass(frozen=True)
class ApiLimits:
    max_body_bytes: int = 1024 * 1024
    """``client_max_size`` of the app: larger request bodies get 413 problem+json."""
    sync_max_bytes: int = 8 * 1024 * 1024
    """Upper bound of one ``GET /v1/sync/blocks`` response (at least one block is always sent)."""


NODE = web.AppKey[NodeFacade]("silkport.node")
LIMITS = web.AppKey("silkport.limits", ApiLimits)
TX_RATE = web.AppKey[TokenBuckets | None]("silkport.tx_rate")
HEAVY_POOL = web.AppKey("silkport.heavy_pool", ThreadPoolExecutor)
"""Threads that heavy reads run on, off the event loop (ADR 0011)."""
