"""The REST application: ``make_app`` builds it (tested with aiohttp's test client), ``start`` serves it.

One ``register(app)`` per routes module; one middleware maps every error to problem+json.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from chain.api import (
    events,
    explorer,
    heavy,
    openapi,
    routes_assets,
    routes_batch,
    routes_blocks,
    routes_data,
    routes_proofs,
    routes_snapshot,
    routes_status,
    routes_transfers,
    routes_txs,
    routes_validators,
)
from chain.api.facade import NodeFacade
from chain.api.keys import HEAVY_POOL, LIMITS, NODE, TX_RATE, ApiLimits
from chain.api.limits import LIMITER, Limiter, make_middleware, write_budget
from chain.api.problems import problem_middleware
from chain.api.ratelimit import RateLimit, TokenBuckets
from chain.api.validator_auth import RequestAuthenticator
from chain.config import ApiBudgets
from chain.crypto import KeyPair
from chain.dataplane.delivery import DeliverySigner, DeliveryTracker
from chain.dataplane.store import ContentStore
from chain.storage.deliveries import DeliveryStore

ROUTE_MODULES = (routes_status, routes_txs, routes_batch, routes_blocks, routes_snapshot, routes_assets, routes_transfers, routes_proofs, routes_validators, explorer, events, openapi)
DOCUMENTED_MODULES = (*ROUTE_MODULES, routes_data)
"""Modules whose routes the OpenAPI document describes (the data routes exist on nodes with a content store)."""
DEFAULT_RATE_LIMIT = RateLimit()


def make_app(
    node: NodeFacade,
    *,
    max_body_bytes: int = 1024 * 1024,
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
    rate_per_second: float | None = None,
    sync_max_bytes: int = 8 * 1024 * 1024,
    clock: Callable[[], float] = time.monotonic,
    budgets: ApiBudgets | None = None,
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    content_store: ContentStore | None = None,
    delivery_key: KeyPair | None = None,
) -> web.Application:
    """The node's aiohttp application (``rate_limit=None`` disables the POST /v1/txs limit).

    ``rate_per_second`` is a shorthand for ``RateLimit(rate_per_s=r, burst=max(1, 2 r))`` (genesis
    parameter ``api_rate_per_second``); it overrides ``rate_limit`` when given (0 disables).

    ``budgets`` turns on the limits of every route (ADR 0011, :mod:`chain.api.limits`; the node
    passes its config's); None leaves routes unlimited (tests, local tools). Heavy reads run on a
    thread pool sized by the budgets. ``clock_ms`` checks validator-signed requests' freshness.
    With ``content_store`` the node also serves the data valve's routes (:mod:`chain.api.routes_data`);
    with ``delivery_key`` (the node's validator key) it signs ``crossborder.delivered`` for complete deliveries.

    Validators talk on their own peer port (:mod:`chain.net.transport`), never through this app.
    """
    if rate_per_second is not None:
        rate_limit = (
            RateLimit(rate_per_s=rate_per_second, burst=max(1, int(2 * rate_per_second)))
            if rate_per_second > 0
            else None
        )
    middlewares: list[Callable[..., object]] = [problem_middleware]
    authenticate = RequestAuthenticator(
        node.chain_id, lambda: tuple(getattr(getattr(node, "ledger", None), "validator_keys", ())), clock_ms
    )
    heavy_workers = 4
    if budgets is not None:
        write = write_budget(rate_limit.rate_per_s if rate_limit is not None else 5_000.0)
        app_limiter = Limiter(budgets, write, clock)
        middlewares.append(make_middleware(authenticate))
        sync_max_bytes = min(sync_max_bytes, budgets.max_response_bytes)
        heavy_workers = budgets.heavy.in_flight_global + budgets.validator_in_flight
    app = web.Application(client_max_size=max_body_bytes, middlewares=middlewares)  # type: ignore[arg-type]
    if budgets is not None:
        app[LIMITER] = app_limiter
    app[NODE] = node
    app[routes_validators.AUTHENTICATOR] = authenticate
    app[LIMITS] = ApiLimits(max_body_bytes=max_body_bytes, sync_max_bytes=sync_max_bytes)
    app.cleanup_ctx.append(_heavy_pool(heavy_workers))
    app[TX_RATE] = TokenBuckets(rate_limit, clock) if rate_limit is not None else None
    heavy.register(app)  # the off-loop reader of the proof and history routes
    for module in ROUTE_MODULES:
        module.register(app)
    if content_store is not None:
        routes_data.register(app, _data_plane(node, content_store, delivery_key))
    return app


def _data_plane(node: NodeFacade, content_store: ContentStore, delivery_key: KeyPair | None) -> routes_data.DataPlane:
    """The valve; with the validator key, deliveries are tracked and stored in the node's own LevelDB (ADR 0028)."""
    if delivery_key is None:
        return routes_data.DataPlane(content_store)
    ledger = node.ledger
    store = DeliveryStore(ledger.kv)
    signer = DeliverySigner(delivery_key, node.chain_id, ledger.state_get, node.submit_tx, store=store,
                            committed=ledger.store.has_tx, height=lambda: ledger.height,
                            indexed_above=lambda: ledger.snapshot_base)
    return routes_data.DataPlane(content_store, announce=signer, deliveries=DeliveryTracker(store=store))


def _heavy_pool(workers: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """The thread pool that heavy reads run on (ADR 0011), created with the app and shut with it."""

    async def pool(app: web.Application) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="api-heavy")
        app[HEAVY_POOL] = executor
        yield
        executor.shutdown(wait=True, cancel_futures=True)

    return pool


def server_ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """TLS (1.2+) for the API listener from a PEM certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


async def start(
    app: web.Application, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` (0 = any free port; see ``runner.addresses``)."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    return runner
