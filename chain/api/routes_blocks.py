"""``GET /v1/blocks/{height|latest}`` and ``GET /v1/sync/blocks`` (DESIGN.md §5 catch-up, §10).

The sync route answers canonical msgpack: an array of byte strings, each the canonical
``[block_wire, certificate_wire]`` of one height, ascending from ``from``; it may stop early (size
bound), so a replica asks again from the next height. The replica verifies every certificate
itself before applying anything: nothing here is trusted.

The sync route runs off the event loop (ADR 0011): the top height is fixed on the loop first, and
the worker thread then reads only committed, immutable LevelDB records of heights up to it (a
commit writes a block in one batch before the head moves), never in-memory state.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from chain import codec
from chain.api.keys import HEAVY_POOL, LIMITS, NODE
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
    node = request.app[NODE]
    ledger = getattr(node, "ledger", None)  # the in-memory twin has none; it is not mutated off-loop
    top = query.to_height if ledger is None else min(query.to_height, ledger.height)  # fixed on the loop
    max_bytes = request.app[LIMITS].sync_max_bytes

    def read() -> bytes:
        return codec.encode(tuple(node.raw_blocks(query.from_height, top, max_bytes)))

    body = await asyncio.get_running_loop().run_in_executor(request.app[HEAVY_POOL], read)
    return web.Response(body=body, content_type="application/msgpack")


def register(app: web.Application) -> None:
    app.router.add_get("/v1/blocks/{ref}", get_block)
    app.router.add_get("/v1/sync/blocks", get_sync_blocks)
