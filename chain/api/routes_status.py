"""``GET /v1/status`` and ``GET /metrics`` (DESIGN.md §10; API limit counters: ADR 0011)."""

from __future__ import annotations

from aiohttp import web

from chain.api.keys import NODE
from chain.api.limits import LIMITER, Limiter
from chain.api.models import EmptyQuery, parse

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def get_status(request: web.Request) -> web.Response:
    parse(EmptyQuery, dict(request.query))
    return web.json_response(request.app[NODE].status())


def limiter_metrics(limiter: Limiter) -> bytes:
    """Prometheus text for the API limits: refusals by class and code, requests in flight by class."""
    lines = [
        "# HELP silkport_api_refused_total Requests refused by the API limits (ADR 0011)",
        "# TYPE silkport_api_refused_total counter",
    ]
    for name, count in sorted(limiter.refused_counts().items()):
        route_class, code = name.split("/")
        lines.append(f'silkport_api_refused_total{{class="{route_class}",code="{code}"}} {count}')
    lines += [
        "# HELP silkport_api_in_flight Requests being served, by route class",
        "# TYPE silkport_api_in_flight gauge",
    ]
    for kind, limits in limiter.classes.items():
        lines.append(f'silkport_api_in_flight{{class="{kind.value}"}} {limits.in_flight}')
    lines.append(f'silkport_api_in_flight{{class="validator"}} {limiter.validator_in_flight}')
    return ("\n".join(lines) + "\n").encode()


async def get_metrics(request: web.Request) -> web.Response:
    parse(EmptyQuery, dict(request.query))
    body = request.app[NODE].metrics_text()
    limiter = request.app.get(LIMITER)
    if limiter is not None:
        body += limiter_metrics(limiter)
    return web.Response(body=body, headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})


def register(app: web.Application) -> None:
    app.router.add_get("/v1/status", get_status)
    app.router.add_get("/metrics", get_metrics)
