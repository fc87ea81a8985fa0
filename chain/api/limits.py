"""Limits on every route (ADR 0011): rate per source address *and* in total, and requests in flight.

Every request is put in one route class (:func:`route_class`): ``ops`` (status, metrics: a small
budget of their own so operators can still look during a flood), ``read`` (cheap lookups), ``write``
(``POST /v1/txs``) and ``heavy`` (block sync, proofs, history). Each class has a token bucket per
source address and one for all addresses together (token bucket, RFC 2697 in its single-rate form),
plus caps on requests in flight per address and in total. A refused rate is 429, a refused slot 503,
both problem+json with ``Retry-After`` (RFC 9110 §10.2.3). A heavy read signed by a validator
(:mod:`chain.api.validator_auth`) skips the public buckets and uses a reserved pool of slots.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from aiohttp import web

from chain.api.problems import Handler, problem
from chain.config import ApiBudgets, RouteBudget

HEAVY_ROUTES = frozenset(
    {
        "/v1/sync/blocks",
        "/v1/sync/snapshot",
        "/v1/sync/validators",
        "/v1/assets/{asset_id}/proof",
        "/v1/anchors/{hash}/receipt",
        "/v1/assets/{asset_id}/history",
        "/v1/history/consistency",
    }
)
OPS_ROUTES = frozenset({"/v1/status", "/metrics"})


class RouteClass(Enum):
    OPS = "ops"
    READ = "read"
    WRITE = "write"
    HEAVY = "heavy"


def route_class(method: str, canonical_path: str | None) -> RouteClass:
    """The class of a request from its method and the route's canonical path (None = no route)."""
    if method == "POST":
        return RouteClass.WRITE
    if canonical_path in OPS_ROUTES:
        return RouteClass.OPS
    if canonical_path in HEAVY_ROUTES:
        return RouteClass.HEAVY
    return RouteClass.READ


def write_budget(rate_per_s: float) -> RouteBudget:
    """The write budget from the genesis ``api_rate_per_second``: that rate per address, twice it
    in total (the mempool's own bound answers 503 beyond what the chain can absorb)."""
    return RouteBudget(
        rate_per_s=rate_per_s,
        burst=max(1, int(2 * rate_per_s)),
        global_rate_per_s=2 * rate_per_s,
        global_burst=max(1, int(4 * rate_per_s)),
        in_flight_per_address=256,
        in_flight_global=512,
    )


class Bucket:
    """One token bucket: ``burst`` tokens, refilled at ``rate`` per second."""

    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, float(burst), float(burst), now

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0.0: one is), after refilling up to ``now``."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


@dataclass
class _Address:
    """What one source address holds in one class: its bucket and its requests in flight."""

    bucket: Bucket
    in_flight: int = 0


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    detail: str
    retry_after_s: int


class ClassLimiter:
    """The buckets and in-flight counters of one route class."""

    def __init__(self, name: str, budget: RouteBudget, max_addresses: int, clock: Callable[[], float]) -> None:
        self.name, self.budget, self.max_addresses, self.clock = name, budget, max_addresses, clock
        self.total = Bucket(budget.global_rate_per_s, budget.global_burst, clock())
        self.in_flight = 0
        self.addresses: OrderedDict[str, _Address] = OrderedDict()
        self.refused: dict[str, int] = {}

    def _address(self, address: str, now: float) -> _Address:
        entry = self.addresses.pop(address, None)
        if entry is None:
            entry = _Address(Bucket(self.budget.rate_per_s, self.budget.burst, now))
        self.addresses[address] = entry
        while len(self.addresses) > self.max_addresses:
            oldest, first = next(iter(self.addresses.items()))
            if first.in_flight:  # never forget a counter that a running request will decrement
                break
            del self.addresses[oldest]
        return entry

    def _refuse(self, status: int, code: str, detail: str, wait_s: float) -> Refusal:
        self.refused[code] = self.refused.get(code, 0) + 1
        retry = max(1, math.ceil(wait_s)) if math.isfinite(wait_s) else 60
        return Refusal(status, code, detail, retry)

    def acquire(self, address: str) -> Refusal | None:
        """Admit one request from ``address`` (then :meth:`release` it) or say why not."""
        now = self.clock()
        entry = self._address(address, now)
        if entry.in_flight >= self.budget.in_flight_per_address:
            return self._refuse(503, "too_many_in_flight",
                                f"too many {self.name} requests in flight from this address", 1.0)
        if self.in_flight >= self.budget.in_flight_global:
            return self._refuse(503, "saturated", f"the node is serving too many {self.name} requests", 1.0)
        wait_s = entry.bucket.wait(now)
        if wait_s > 0:
            return self._refuse(429, "rate_limited", f"too many {self.name} requests from this address", wait_s)
        wait_s = self.total.wait(now)
        if wait_s > 0:
            return self._refuse(429, "rate_limited_global", f"too many {self.name} requests to this node", wait_s)
        entry.bucket.take()
        self.total.take()
        entry.in_flight += 1
        self.in_flight += 1
        return None

    def release(self, address: str) -> None:
        self.in_flight -= 1
        entry = self.addresses.get(address)
        if entry is not None:
            entry.in_flight -= 1


class Limiter:
    """Every class's limiter, and the reserved pool for validators' heavy reads."""

    def __init__(
        self, budgets: ApiBudgets, write: RouteBudget, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.budgets = budgets
        by_class = {RouteClass.OPS: budgets.ops, RouteClass.READ: budgets.read,
                    RouteClass.WRITE: budgets.write or write, RouteClass.HEAVY: budgets.heavy}
        self.classes = {
            kind: ClassLimiter(kind.value, budget, budgets.max_addresses, clock) for kind, budget in by_class.items()
        }
        self.validator_in_flight = 0
        self.validator_refused = 0

    def acquire_validator(self) -> Refusal | None:
        if self.validator_in_flight >= self.budgets.validator_in_flight:
            self.validator_refused += 1
            return Refusal(503, "saturated", "the validators' pool of heavy reads is busy", 1)
        self.validator_in_flight += 1
        return None

    def release_validator(self) -> None:
        self.validator_in_flight -= 1

    def refused_counts(self) -> dict[str, int]:
        """``{class/code: count}`` of refusals so far (for metrics and tests)."""
        counts = {f"{kind.value}/{code}": n for kind, lim in self.classes.items() for code, n in lim.refused.items()}
        if self.validator_refused:
            counts["validator/saturated"] = self.validator_refused
        return counts


LIMITER = web.AppKey("silkport.limiter", Limiter)
VALIDATOR = web.AppKey("silkport.validator_request", str)
"""Set on a request whose validator signature verified (the validator's index as text)."""


def refusal_response(refusal: Refusal) -> web.Response:
    return problem(refusal.status, refusal.code, refusal.detail, headers={"Retry-After": str(refusal.retry_after_s)})


def make_middleware(authenticate: Callable[[web.Request], int | None]) -> Callable[..., object]:
    """The one middleware that applies the limits. ``authenticate(request)`` returns the index of a
    validator whose signature over the request verified, None for an unsigned request, or raises a
    :class:`~chain.errors.ValidationError` (401) for a bad or replayed signature."""

    @web.middleware
    async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        limiter = request.app[LIMITER]
        route = request.match_info.route.resource
        canonical = route.canonical if route is not None else None
        kind = route_class(request.method, canonical)
        if kind is RouteClass.HEAVY and authenticate(request) is not None:
            refusal = limiter.acquire_validator()
            if refusal is not None:
                return refusal_response(refusal)
            try:
                return await handler(request)
            finally:
                limiter.release_validator()
        address = request.remote or "unknown"
        limits = limiter.classes[kind]
        refusal = limits.acquire(address)
        if refusal is not None:
            return refusal_response(refusal)
        try:
            return await handler(request)
        finally:
            limits.release(address)

    return limits_middleware
