"""The data valve's upload route: ``PUT /v1/assets/{asset_id}/data`` (issue 14 part 2; ADR 0018).

The body is the dataset itself, streamed into :class:`chain.dataplane.store.ContentStore` piece by
piece (never held whole; aiohttp's ``client_max_size`` applies only to buffered bodies). The request
is signed by the asset's owner (:mod:`chain.dataplane.requests`); the asset must be live in the
node's committed state and carry its chunk layout. The store checks size, ``content_hash`` and
``chunk_root`` against that record and installs the content only when all match; any refusal
leaves nothing stored and answers problem+json.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from chain import codec, statekeys
from chain.api.keys import NODE
from chain.contracts import assets
from chain.dataplane import requests
from chain.dataplane.store import ContentStore, ExpectedContent, check_asset_id
from chain.errors import NotFoundError, NotPermittedError, ValidationError

PIECE_BYTES = 1 << 20


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class DataPlane:
    """What the data routes need besides the node: its content store and a wall clock."""

    store: ContentStore
    now_ms: Callable[[], int] = field(default=wall_clock_ms)


DATA = web.AppKey("silkport.data", DataPlane)


def committed_asset(request: web.Request, asset_id: str) -> dict[str, Any]:
    """The raw asset record in the node's committed state; NotFoundError / ContractError-free."""
    raw = request.app[NODE].ledger.state_get(statekeys.asset_key(asset_id))
    if raw is None:
        raise NotFoundError(f"no asset {asset_id}", code="unknown_asset")
    return codec.dict_from_pairs(codec.decode(raw))


def expected_content(record: dict[str, Any]) -> ExpectedContent:
    """The registered content fields; ValidationError ``no_layout`` if the chunk layout is not on chain."""
    if record.get("chunk_root") is None:
        raise ValidationError(
            f"asset {record['id']} has no chunk layout on chain (registry.set_content_layout)", code="no_layout"
        )
    return ExpectedContent(record["content_hash"], record["chunk_root"], record["chunk_size"], record["size"])


async def put_data(request: web.Request) -> web.Response:
    plane = request.app[DATA]
    asset_id = check_asset_id(request.match_info["asset_id"])
    record = committed_asset(request, asset_id)
    if record["status"] != assets.ACTIVE:
        raise ValidationError(f"asset {asset_id} is retired", code="asset_retired")
    expected = expected_content(record)
    signed = requests.verify_put(
        request.headers, request.app[NODE].chain_id, asset_id, expected.chunk_root, expected.size, plane.now_ms()
    )
    if signed.signer != record["owner"]:
        raise NotPermittedError(f"the signer is not the owner of asset {asset_id}", code="not_owner")
    if request.content_length is not None and request.content_length != expected.size:
        raise ValidationError(
            f"Content-Length {request.content_length} is not the registered size {expected.size}",
            code="content_mismatch",
        )
    upload = plane.store.begin_upload(asset_id, expected)
    try:
        async for piece in request.content.iter_chunked(PIECE_BYTES):
            upload.write(piece)
        summary = upload.finish()
    except BaseException:
        upload.abort()
        raise
    body = {"asset_id": asset_id, "chunk_root": summary.chunk_root.hex(), "size": summary.size,
            "chunk_size": summary.chunk_size, "chunks": len(summary.chunk_hashes)}
    return web.json_response(body, status=201)


async def data_status(request: web.Request) -> web.Response:
    plane = request.app[DATA]
    asset_id = check_asset_id(request.match_info["asset_id"])
    committed_asset(request, asset_id)
    if not plane.store.has(asset_id):
        return web.json_response({"asset_id": asset_id, "stored": False})
    summary = plane.store.manifest(asset_id)
    return web.json_response({"asset_id": asset_id, "stored": True, "chunk_root": summary.chunk_root.hex(),
                              "size": summary.size, "chunk_size": summary.chunk_size,
                              "chunks": len(summary.chunk_hashes)})


def register(app: web.Application, plane: DataPlane) -> None:
    """Add the data routes to ``app`` (only on nodes that keep a content store)."""
    app[DATA] = plane
    app.router.add_put("/v1/assets/{asset_id}/data", put_data)
    app.router.add_get("/v1/assets/{asset_id}/data", data_status)
