"""The data valve's routes (issue 14 parts 2 and 4; ADR 0018).

- ``PUT /v1/assets/{asset_id}/data`` — the owner uploads the dataset (below);
- ``GET /v1/assets/{asset_id}/data`` — whether this node stores it;
- ``GET /v1/transfers/{id}/challenge`` — a single-use nonce bound to the transfer and this node;
- ``GET /v1/transfers/{id}/data?chunk=N`` — chunks ``N..`` end to end encrypted to the recipient
  (:mod:`chain.dataplane.stream`), access re-decided against committed state before every chunk
  (:mod:`chain.dataplane.access`); any refusal before the first byte is problem+json with zero
  bytes of data, a refusal mid-stream ends the stream without its final frame. When the responses to
  one recipient key have covered every chunk, the final frame included, the node signs and submits
  ``crossborder.delivered`` (:mod:`chain.dataplane.delivery`, ADR 0022).

The body is the dataset itself, streamed into :class:`chain.dataplane.store.ContentStore` piece by
piece (never held whole; aiohttp's ``client_max_size`` applies only to buffered bodies). The request
is signed by the asset's owner (:mod:`chain.dataplane.requests`); the asset must be live in the
node's committed state and carry its chunk layout. The store checks size, ``content_hash`` and
``chunk_root`` against that record and installs the content only when all match; any refusal
leaves nothing stored and answers problem+json.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from chain import codec, crypto, merkle, statekeys
from chain.api.keys import NODE
from chain.api.openapi import HASH, _json, _problems, _ref
from chain.api.problems import PROBLEM_CONTENT_TYPE
from chain.contracts import assets
from chain.dataplane import access, chunks, requests, stream
from chain.dataplane.delivery import Delivery, DeliveryTracker
from chain.dataplane.store import ContentStore, ExpectedContent, check_asset_id
from chain.errors import (
    NotFoundError,
    NotPermittedError,
    QuotaError,
    SignatureError,
    SilkportError,
    ValidationError,
)

LOG = logging.getLogger("silkport.dataplane")
TRANSFER_ID = re.compile(r"[0-9a-f]{64}")
NONCE_HEADER = "Silkport-Nonce"
MAX_CHALLENGES = 4096

def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Challenges:
    """Outstanding egress nonces: single use, expiring, bounded (a flood gets 429, not memory)."""

    def __init__(self, limit: int = MAX_CHALLENGES) -> None:
        self.limit = limit
        self._open: OrderedDict[bytes, tuple[str, int]] = OrderedDict()

    def issue(self, transfer_id: str, now_ms: int) -> tuple[bytes, int]:
        while self._open and next(iter(self._open.values()))[1] < now_ms:
            self._open.popitem(last=False)
        if len(self._open) >= self.limit:
            raise QuotaError("too many open data challenges on this node; retry shortly", code="challenges_full")
        nonce, expires = secrets.token_bytes(32), now_ms + stream.CHALLENGE_TTL_MS
        self._open[nonce] = (transfer_id, expires)
        return nonce, expires

    def consume(self, nonce: bytes, transfer_id: str, now_ms: int) -> None:
        """Take ``nonce`` out (single use); ValidationError ``bad_challenge`` unless fresh and for this transfer."""
        found = self._open.pop(nonce, None)
        if found is None:
            raise ValidationError("unknown or already used challenge nonce", code="bad_challenge")
        if found[0] != transfer_id or found[1] < now_ms:
            raise ValidationError("the challenge is for another transfer or has expired", code="bad_challenge")


@dataclass
class DataPlane:
    """What the data routes need besides the node: its content store, a wall clock, open challenges."""

    store: ContentStore
    now_ms: Callable[[], int] = field(default=wall_clock_ms)
    challenges: Challenges = field(default_factory=Challenges)
    upload_idle_s: float = 60.0
    """An upload that sends nothing for this long is dropped (a slow client cannot hold the store)."""
    announce: Callable[[Delivery], str | None] | None = None
    """Submits ``crossborder.delivered`` for a complete delivery (None: the node records no deliveries)."""
    deliveries: DeliveryTracker = field(default_factory=DeliveryTracker)


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
        while True:
            try:
                async with asyncio.timeout(plane.upload_idle_s):
                    piece = await request.content.readany()
            except TimeoutError:
                raise ValidationError(f"the upload stalled for {plane.upload_idle_s:g} s; nothing was stored",
                                      code="upload_stalled") from None
            if not piece:
                break
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


# --- egress ------------------------------------------------------------------------------------


def _transfer_id(request: web.Request) -> str:
    transfer_id = request.match_info["transfer_id"]
    if not TRANSFER_ID.fullmatch(transfer_id):
        raise ValidationError("a transfer id is 64 lowercase hex characters", code="bad_transfer_id")
    return transfer_id


def _node_id(request: web.Request) -> str:
    return str(request.app[NODE].status()["node_id"])


async def get_challenge(request: web.Request) -> web.Response:
    plane = request.app[DATA]
    transfer_id = _transfer_id(request)
    if request.app[NODE].ledger.state_get(statekeys.transfer_key(transfer_id)) is None:
        raise NotFoundError(f"no transfer {transfer_id}", code="unknown_transfer")
    nonce, expires = plane.challenges.issue(transfer_id, plane.now_ms())
    return web.json_response({"transfer_id": transfer_id, "node_id": _node_id(request), "nonce": nonce.hex(),
                              "expires_ms": expires})


def _first_chunk(request: web.Request) -> int:
    text = request.query.get("chunk", "0")
    if not text.isdigit() or len(text) > 12:
        raise ValidationError("query chunk must be a chunk index (a non-negative integer)", code="bad_chunk")
    return int(text)


def _requester(request: web.Request, transfer_id: str, first: int) -> bytes:
    """Check the challenge answer; the nonce is consumed whatever follows (no second try with it)."""
    plane = request.app[DATA]
    signer_hex = request.headers.get(requests.SIGNER, "")
    nonce_hex = request.headers.get(NONCE_HEADER, "")
    signature_hex = request.headers.get(requests.SIGNATURE, "")
    if not re.fullmatch(r"[0-9a-f]{64}", nonce_hex):
        raise ValidationError(f"header {NONCE_HEADER} must be a challenge nonce in hex", code="bad_challenge")
    if not re.fullmatch(r"[0-9a-f]{64}", signer_hex):
        raise ValidationError(f"header {requests.SIGNER} must be the recipient's public key in hex",
                              code="bad_signer")
    if not re.fullmatch(r"[0-9a-f]{128}", signature_hex):
        raise SignatureError(f"header {requests.SIGNATURE} must be a 64-byte signature in hex")
    nonce = bytes.fromhex(nonce_hex)
    plane.challenges.consume(nonce, transfer_id, plane.now_ms())
    signer = bytes.fromhex(signer_hex)
    message = stream.challenge_message(request.app[NODE].chain_id, transfer_id, _node_id(request), nonce, first)
    crypto.verify(signer, message, bytes.fromhex(signature_hex))
    return signer


def _check(request: web.Request, transfer_id: str, requester: bytes) -> access.Grant:
    ledger = request.app[NODE].ledger
    return access.check_access(ledger.state_get, transfer_id, requester, ledger.head_header.timestamp_ms)


async def get_data(request: web.Request) -> web.StreamResponse:
    plane = request.app[DATA]
    transfer_id = _transfer_id(request)
    first = _first_chunk(request)
    requester = _requester(request, transfer_id, first)
    grant = _check(request, transfer_id, requester)
    count = chunks.chunk_count(grant.size, grant.chunk_size)
    if not 0 <= first < count:
        raise ValidationError(f"chunk {first} is outside [0, {count}) for this dataset", code="bad_chunk")
    if not plane.store.has(grant.asset_id):
        raise NotFoundError(f"this node does not hold the content of asset {grant.asset_id}", code="no_content")
    manifest = plane.store.manifest(grant.asset_id)
    if manifest.chunk_root != grant.chunk_root:
        raise NotFoundError("the content held here is not the dataset on chain", code="no_content")
    sealer = stream.StreamSealer(requester, transfer_id, grant.chunk_root, grant.chunk_size, grant.size, first)
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    await response.write(sealer.opening)
    leaves = [merkle.leaf_hash(h) for h in manifest.chunk_hashes]
    sent, finished = first, False
    try:
        for index in range(first, count):
            try:
                if index > first:
                    _check(request, transfer_id, requester)  # committed state, before every chunk
                chunk = plane.store.read_chunk(grant.asset_id, index)
            except SilkportError as error:
                LOG.warning("data stream of transfer %s stopped before chunk %d: %s", transfer_id, index, error)
                break
            proof = merkle.inclusion_proof(leaves, index)
            await response.write(sealer.seal(index, chunk, proof, last=index == count - 1))
            sent = index + 1
        else:
            await response.write_eof()
            finished = True
    finally:  # a cut connection still counts the chunks written before it (a resume continues them)
        _delivered(plane, grant, requester, first, sent, count, finished)
    if not finished and request.transport is not None:  # end without the final frame: the client sees the cut
        request.transport.close()
    return response


def _delivered(plane: DataPlane, grant: access.Grant, requester: bytes, first: int, sent: int, count: int,
               finished: bool) -> None:
    complete = plane.deliveries.record(grant.transfer_id, requester, grant.chunk_root, first, sent, count, finished)
    if complete and plane.announce is not None:
        plane.announce(Delivery(grant.transfer_id, grant.chunk_root, grant.size, requester))


def register(app: web.Application, plane: DataPlane) -> None:
    """Add the data routes to ``app`` (only on nodes that keep a content store)."""
    app[DATA] = plane
    app.router.add_put("/v1/assets/{asset_id}/data", put_data)
    app.router.add_get("/v1/assets/{asset_id}/data", data_status)
    app.router.add_get("/v1/transfers/{transfer_id}/challenge", get_challenge)
    app.router.add_get("/v1/transfers/{transfer_id}/data", get_data)


_ASSET_ID = {"name": "asset_id", "in": "path", "required": True, "schema": HASH}
_TRANSFER_ID = {"name": "transfer_id", "in": "path", "required": True, "schema": HASH}
_SIGNED = [
    {"name": requests.SIGNER, "in": "header", "required": True, "schema": HASH,
     "description": "Ed25519 public key of the signer (the owner for uploads, a recipient member for data)"},
    {"name": requests.SIGNATURE, "in": "header", "required": True,
     "schema": {"type": "string", "pattern": "^[0-9a-f]{128}$"}},
]
_DISK_FULL = {"507": {"description": "the content store has no room (disk_full)",
                      "content": {PROBLEM_CONTENT_TYPE: {"schema": _ref("Problem")}}}}
_STORED = {"type": "object", "required": ["asset_id"],
           "properties": {"asset_id": HASH, "stored": {"type": "boolean"}, "chunk_root": HASH,
                          "size": {"type": "integer"}, "chunk_size": {"type": "integer"},
                          "chunks": {"type": "integer"}}}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/assets/{asset_id}/data": {
        "put": {
            "summary": "The owner uploads the asset's dataset (checked against content_hash and chunk_root; ADR 0018)",
            "parameters": [_ASSET_ID, *_SIGNED,
                           {"name": requests.VALID_UNTIL, "in": "header", "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9]{1,16}$"}}],
            "requestBody": {"required": True, "content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
            "responses": {"201": _json(_STORED, "stored"), **_problems(400, 403, 404, 429), **_DISK_FULL},
        },
        "get": {
            "summary": "Whether this node stores the asset's dataset",
            "parameters": [_ASSET_ID],
            "responses": {"200": _json(_STORED, "what this node holds"), **_problems(400, 404)},
        },
    },
    "/v1/transfers/{transfer_id}/challenge": {
        "get": {
            "summary": "A single-use nonce (60 s) for a data request on this transfer at this node",
            "parameters": [_TRANSFER_ID],
            "responses": {"200": _json({"type": "object", "required": ["transfer_id", "node_id", "nonce",
                                                                        "expires_ms"],
                                        "properties": {"transfer_id": HASH, "node_id": HASH, "nonce": HASH,
                                                       "expires_ms": {"type": "integer"}}}, "the challenge"),
                          **_problems(400, 404)},
        }
    },
    "/v1/transfers/{transfer_id}/data": {
        "get": {
            "summary": "The released dataset from chunk N, end to end encrypted to the recipient (ADR 0018); "
                       "a complete delivery is recorded on chain as crossborder.delivered (ADR 0022)",
            "parameters": [_TRANSFER_ID, *_SIGNED,
                           {"name": NONCE_HEADER, "in": "header", "required": True, "schema": HASH},
                           {"name": "chunk", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}],
            "responses": {"200": {"description": "frames: opening, then one secretstream message per chunk",
                                  "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                      "format": "binary"}}}},
                          **_problems(400, 403, 404)},
        }
    },
}
