"""``GET /v1/sync/snapshot``: the state snapshot of a stable checkpoint (ADR 0021, DESIGN.md §5).

``?height=H`` picks a checkpoint (default: the latest at or below this node's head); with no other
parameter the answer is the signed manifest, with ``&chunk=K`` (0..255) chunk ``K``, with
``&history=P`` page ``P`` of the block hashes below ``H``. Answers are canonical msgpack
(:mod:`chain.statesync.snapshot`); the receiver verifies every one, nothing here is trusted. The height is
fixed on the event loop, the reading runs on the heavy thread pool; the route is in the ``heavy``
class of the limits (ADR 0011), so validators' signed requests use their reserved pool and anyone
else gets the public heavy budget.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import Field

from chain.api.keys import HEAVY_POOL, LIMITS, NODE
from chain.api.models import Strict, parse
from chain.errors import NotFoundError, OversizeError, ValidationError
from chain.statesync.snapshot import CHUNKS

PATH = "/v1/sync/snapshot"
HEIGHT_HEADER = "X-Silkport-Snapshot-Height"


class SnapshotQuery(Strict):
    """Query of ``GET /v1/sync/snapshot``: ``?height=&chunk=`` or ``?height=&history=``."""

    height: int | None = Field(default=None, ge=1, le=2**63)
    chunk: int | None = Field(default=None, ge=0, lt=CHUNKS)
    history: int | None = Field(default=None, ge=0, le=2**32)


async def get_snapshot(request: web.Request) -> web.Response:
    query = parse(SnapshotQuery, {key: value for key, value in request.query.items()})
    if query.chunk is not None and query.history is not None:
        raise ValidationError("ask for a chunk or a history page, not both", code="bad_query")
    if query.height is None and (query.chunk is not None or query.history is not None):
        raise ValidationError("a chunk or history page needs the manifest's height", code="bad_query")
    node = request.app[NODE]
    source = getattr(node, "snapshots", None)
    if source is None:
        raise NotFoundError("this node serves no state snapshots", code="no_snapshot")
    head = node.ledger.height  # fixed on the loop: the worker reads committed, immutable records only
    height = source.latest_checkpoint(head) if query.height is None else query.height
    source.check_height(height, head)

    def read() -> bytes:
        if query.chunk is not None:
            return bytes(source.chunk(height, query.chunk))
        if query.history is not None:
            return bytes(source.history(height, query.history))
        return bytes(source.manifest(height))

    body = await asyncio.get_running_loop().run_in_executor(request.app[HEAVY_POOL], read)
    limit = max(request.app[LIMITS].sync_max_bytes, 4 * 1024 * 1024)
    if len(body) > limit:
        raise OversizeError(f"snapshot part of {len(body)} bytes exceeds this node's {limit}-byte limit")
    return web.Response(body=body, content_type="application/msgpack", headers={HEIGHT_HEADER: str(height)})


def register(app: web.Application) -> None:
    app.router.add_get(PATH, get_snapshot)
