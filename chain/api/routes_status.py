"""``GET /v1/status`` and ``GET /metrics`` (DESIGN.md §10)."""

from __future__ import annotations

from aiohttp import web

from chain.api.keys import NODE
from chain.api.models import EmptyQuery, parse

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def get_status(request: web.Request) -> web.Response:
    parse(EmptyQuery, dict(request.query))
    return web.json_response(request.app[NODE].status())


async def get_metrics(request: web.Request) -> web.Response:
    parse(EmptyQuery, dict(request.query))
    return web.Response(
        body=request.app[NODE].metrics_text(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE}
    )


def register(app: web.Application) -> None:
    app.router.add_get("/v1/status", get_status)
    app.router.add_get("/metrics", get_metrics)
