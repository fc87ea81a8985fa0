"""The REST application: ``make_app`` builds it (tested with aiohttp's test client), ``start`` serves it.

One ``register(app)`` per routes module; one middleware maps every error to problem+json.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from chain.api import (
    explorer,
    openapi,
    routes_assets,
    routes_blocks,
    routes_data,
    routes_proofs,
    routes_status,
    routes_transfers,
    routes_txs,
)
from chain.api.facade import NodeFacade
from chain.api.keys import LIMITS, NODE, TX_RATE, ApiLimits
from chain.api.problems import problem_middleware
from chain.api.ratelimit import RateLimit, TokenBuckets
from chain.dataplane.store import ContentStore

ROUTE_MODULES = (routes_status, routes_txs, routes_blocks, routes_assets, routes_transfers, routes_proofs, explorer, openapi)
DEFAULT_RATE_LIMIT = RateLimit()


def make_app(
    node: NodeFacade,
    *,
    max_body_bytes: int = 1024 * 1024,
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
    rate_per_second: float | None = None,
    sync_max_bytes: int = 8 * 1024 * 1024,
    clock: Callable[[], float] = time.monotonic,
    content_store: ContentStore | None = None,
) -> web.Application:
    """The node's aiohttp application (``rate_limit=None`` disables the POST /v1/txs limit).

    ``rate_per_second`` is a shorthand for ``RateLimit(rate_per_s=r, burst=max(1, 2 r))`` (genesis
    parameter ``api_rate_per_second``); it overrides ``rate_limit`` when given (0 disables).

    With ``content_store`` the node also serves the data valve's routes (:mod:`chain.api.routes_data`).

    Validators talk on their own peer port (:mod:`chain.net.transport`), never through this app.
    """
    if rate_per_second is not None:
        rate_limit = (
            RateLimit(rate_per_s=rate_per_second, burst=max(1, int(2 * rate_per_second)))
            if rate_per_second > 0
            else None
        )
    app = web.Application(client_max_size=max_body_bytes, middlewares=[problem_middleware])
    app[NODE] = node
    app[LIMITS] = ApiLimits(max_body_bytes=max_body_bytes, sync_max_bytes=sync_max_bytes)
    app[TX_RATE] = TokenBuckets(rate_limit, clock) if rate_limit is not None else None
    for module in ROUTE_MODULES:
        module.register(app)
    if content_store is not None:
        routes_data.register(app, routes_data.DataPlane(content_store))
    return app


async def start(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` (0 = any free port; see ``runner.addresses``)."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
