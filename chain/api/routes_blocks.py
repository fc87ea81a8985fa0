"""``GET /v1/blocks/{height|latest}`` and ``GET /v1/sync/blocks`` (DESIGN.md §5 catch-up, §10).

The sync route answers canonical msgpack: an array of byte strings, each the canonical
``[block_wire, certificate_wire]`` of one height, ascending from ``from``; it may stop early (size
bound), so a replica asks again from the next height. The replica verifies every certificate
itself before applying anything: nothing here is trusted.
"""

from __future__ import annotations

import re

from aiohttp import web

from chain import codec
from chain.api.keys import LIMITS, NODE
from chain.api.models import EmptyQuery, SyncQuery, parse
from chain.errors import NotFoundError, ValidationError

HEIGHT = re.compile(r"^[0-9]{1,19}$")


def parse_height(text: str) -> int | None:
    if text == "latest":
        return None
    if not HEIGHT.match(text):
        raise ValidationError(
            f"block reference {text[:40]!r} is neither a height nor 'latest'", code="bad_height"
        )
    return int(text)


async def get_block(request: web.Request) -> web.Response:
    height = parse_height(request.match_info["ref"])
    parse(EmptyQuery, dict(request.query))
    block = request.app[NODE].get_block(height)
    if block is None:
        raise NotFoundError("no block yet" if height is None else f"no block at height {height}")
    return web.json_response(block)


async def get_sync_blocks(request: web.Request) -> web.Response:
    query = parse(SyncQuery, dict(request.query))
    raw = request.app[NODE].raw_blocks(query.from_height, query.to_height, request.app[LIMITS].sync_max_bytes)
    return web.Response(body=codec.encode(tuple(raw)), content_type="application/msgpack")


def register(app: web.Application) -> None:
    app.router.add_get("/v1/blocks/{ref}", get_block)
    app.router.add_get("/v1/sync/blocks", get_sync_blocks)
