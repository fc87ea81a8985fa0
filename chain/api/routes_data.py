"""The data valve's routes (issue 14 parts 2 and 4; ADR 0018).

- ``PUT /v1/assets/{asset_id}/data`` — the owner uploads the dataset (below);
- ``GET /v1/assets/{asset_id}/data`` — whether this node stores it;
- ``GET /v1/transfers/{id}/challenge`` — a single-use nonce bound to the transfer and this node;
- ``GET /v1/transfers/{id}/data?chunk=N`` — chunks ``N..`` end to end encrypted to the recipient
  (:mod:`chain.dataplane.stream`), access re-decided against committed state before every chunk
  (:mod:`chain.dataplane.access`); any refusal before the first byte is problem+json with zero
  bytes of data, a refusal mid-stream ends the stream without its final frame. With a ``Range:
  bytes=...`` header instead, the chunks covering that range of the dataset, 206 with
  ``Content-Range`` (:mod:`chain.dataplane.ranges`; 416 when it cannot be served). When the responses
  to one recipient key have covered every chunk, the final frame included, the node signs and submits
  ``crossborder.delivered`` (:mod:`chain.dataplane.delivery`, ADR 0022); chunks are claimed in the node's
  store before they are written and the signed transaction is stored before it is submitted, then retried
  until committed (ADR 0028).

The body is the dataset itself, streamed into :class:`chain.dataplane.store.ContentStore` piece by
piece (never held whole; aiohttp's ``client_max_size`` applies only to buffered bodies). The request
is signed by the asset's owner (:mod:`chain.dataplane.requests`); the asset must be live in the
node's committed state and carry its chunk layout. The store checks size, ``content_hash`` and
``chunk_root`` against that record and installs the content only when all match; any refusal
leaves nothing stored and answers problem+json.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from chain import codec, crypto, statekeys
from chain.api import problems
from chain.api.keys import NODE
from chain.api.openapi import HASH, _json, _problems, _ref
from chain.api.problems import PROBLEM_CONTENT_TYPE
from chain.contracts import assets
from chain.dataplane import access, chunks, ranges, requests, stream
from chain.dataplane.delivery import (
    AHEAD_BYTES,
    DeliverySigner,
    DeliveryTracker,
    Run,
    keep_delivering,
    settle,
)
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
    announce: DeliverySigner | None = None
    """Signs, stores and submits ``crossborder.delivered`` for a complete delivery (None: none recorded)."""
    deliveries: DeliveryTracker = field(default_factory=DeliveryTracker)
    """Chunks sent per recipient key; with a store, durable (ADR 0028)."""


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


def _layout(request: web.Request, transfer_id: str) -> tuple[int, int]:
    """``(size, chunk_size)`` of the transfer's asset in committed state (public; to place a Range)."""
    state_get = request.app[NODE].ledger.state_get
    raw = state_get(statekeys.transfer_key(transfer_id))
    if raw is None:
        raise NotFoundError(f"no transfer {transfer_id}", code="unknown_transfer")
    record = committed_asset(request, str(codec.dict_from_pairs(codec.decode(raw))["asset_id"]))
    layout = expected_content(record)
    return layout.size, layout.chunk_size


def _span(request: web.Request, transfer_id: str) -> ranges.ChunkSpan | None:
    """The chunks a ``Range`` header asks for (None without one); RangeRefused if it cannot be served."""
    wanted = ranges.parse_range(request.headers.get("Range"))
    if wanted is None:
        return None
    if "chunk" in request.query:
        raise ValidationError("give either a Range header or the chunk query, not both", code="bad_range")
    size, chunk_size = _layout(request, transfer_id)
    return ranges.chunk_span(wanted, size, chunk_size)


def _refused_range(request: web.Request, transfer_id: str, refused: ranges.RangeRefused) -> web.Response:
    """416 with ``Content-Range: bytes */size`` (RFC 9110 §15.5.17), size ``*`` if it cannot be told."""
    try:
        size = str(_layout(request, transfer_id)[0])
    except SilkportError:
        size = "*"
    return problems.problem(416, refused.code, refused.message, headers={"Content-Range": f"bytes */{size}"})


async def get_data(request: web.Request) -> web.StreamResponse:
    plane = request.app[DATA]
    transfer_id = _transfer_id(request)
    try:
        span = _span(request, transfer_id)
    except ranges.RangeRefused as refused:
        return _refused_range(request, transfer_id, refused)
    first = _first_chunk(request) if span is None else span.first_chunk
    requester = _requester(request, transfer_id, first)
    grant = _check(request, transfer_id, requester)
    count = chunks.chunk_count(grant.size, grant.chunk_size)
    if not 0 <= first < count:
        raise ValidationError(f"chunk {first} is outside [0, {count}) for this dataset", code="bad_chunk")
    last = count - 1 if span is None else span.last_chunk
    if not plane.store.has(grant.asset_id):
        raise NotFoundError(f"this node does not hold the content of asset {grant.asset_id}", code="no_content")
    manifest = plane.store.manifest(grant.asset_id)
    if manifest.chunk_root != grant.chunk_root:
        raise NotFoundError("the content held here is not the dataset on chain", code="no_content")
    sealer = stream.StreamSealer(requester, transfer_id, grant.chunk_root, grant.chunk_size, grant.size, first)
    headers = {"Content-Type": "application/octet-stream", "Cache-Control": "no-store", "Accept-Ranges": "bytes"}
    if span is not None:
        headers["Content-Range"] = span.content_range
    proofs = chunks.ChunkProofs(manifest.chunk_hashes)
    response = web.StreamResponse(status=200 if span is None else 206, headers=headers)
    response.content_length = len(sealer.opening) + sum(
        stream.chunk_frame_length(i, chunks.chunk_length(i, grant.size, grant.chunk_size), proofs.proof(i))
        for i in range(first, last + 1))
    await response.prepare(request)
    await response.write(sealer.opening)
    log = _StreamLog(transfer_id, first, last)
    complete = False
    run = plane.deliveries.start(transfer_id, requester, grant.chunk_root, first, count, grant.size,
                                 window=AHEAD_BYTES // grant.chunk_size)
    try:
        complete = await _send_chunks(request, response, plane, grant.asset_id, manifest, proofs, sealer,
                                      requester, log, run)
    finally:  # also when the client goes away mid-stream; a cut still counts the chunks sent (a resume continues)
        LOG.info("%s", log.line(complete))
        _delivered(plane, run, first + log.sent, complete and last == count - 1)
    if complete:
        await response.write_eof()
    elif request.transport is not None:  # end without the final frame: the client sees the cut
        request.transport.close()
    return response


def _delivered(plane: DataPlane, run: Run, end: int, finished: bool) -> None:
    """Record the completed writes of ``run`` (ADR 0028); a complete delivery is signed, stored and submitted."""
    try:
        plane.deliveries.finish(run, end, finished, plane.announce)
    except SilkportError as error:  # the store failed: the recipient's next resume records it again
        LOG.warning("chunks %d..%d of transfer %s not recorded: %s", run.first, end - 1, run.key[0], error)


@dataclass
class _StreamLog:
    """What one response served: chunks whose write completed, by the node's head height at that moment.

    Logged as one ``event=data_stream_end`` line, so "chunks served after the block that revoked the
    transfer committed here" is read off the node's own log (``python -m devnet valvebench``).
    """

    transfer_id: str
    first: int
    last: int
    sent: int = 0
    by_height: dict[int, int] = field(default_factory=dict)

    def served(self, height: int) -> None:
        self.sent += 1
        self.by_height[height] = self.by_height.get(height, 0) + 1

    def line(self, complete: bool) -> str:
        heights = ",".join(f"{h}:{n}" for h, n in sorted(self.by_height.items()))
        return (f"event=data_stream_end transfer={self.transfer_id} first={self.first} last={self.last} "
                f"sent={self.sent} complete={'yes' if complete else 'no'} heights={heights or '-'}")


async def _send_chunks(request: web.Request, response: web.StreamResponse, plane: DataPlane, asset_id: str,
                       manifest: chunks.ChunkSummary, proofs: chunks.ChunkProofs, sealer: stream.StreamSealer,
                       requester: bytes, log: _StreamLog, run: Run) -> bool:
    """Send chunks ``log.first .. log.last``; True when all went out, False when access ended first.

    Reading, opening at rest and sealing a chunk run in a worker thread (libsodium and hashlib release
    the GIL), one chunk ahead of the socket, so the event loop keeps committing blocks and serving
    other requests. Access is decided on the loop, against committed state, right before each chunk's
    write starts; at most the chunk being written when a revoking block commits still goes out. Before a
    chunk is written it is claimed in the node's store (:meth:`DeliveryTracker.ahead`, persist before send:
    a node killed mid-stream still knows what the recipient may hold); a store that cannot take the
    claim ends the stream.
    """
    loop = asyncio.get_running_loop()
    store = plane.store

    def prepare(index: int) -> tuple[bytes, bytes]:
        chunk = store.read_chunk(asset_id, index, manifest, check_hash=False)
        return sealer.seal_parts(index, chunk, proofs.proof(index), last=index == log.last)

    ledger = request.app[NODE].ledger
    pending = loop.run_in_executor(None, prepare, log.first)
    for index in range(log.first, log.last + 1):
        try:
            sealed = await pending
            _check(request, log.transfer_id, requester)  # committed state, before every chunk
            plane.deliveries.ahead(run, index)
        except SilkportError as error:
            LOG.warning("data stream of transfer %s stopped before chunk %d: %s", log.transfer_id, index, error)
            return False
        except Exception:  # a bug: the headers are sent, so no problem+json can follow; cut the stream
            LOG.exception("data stream of transfer %s failed before chunk %d", log.transfer_id, index)
            return False
        if index < log.last:
            pending = loop.run_in_executor(None, prepare, index + 1)
        try:
            await response.write(sealed[0])
            await response.write(sealed[1])
        except BaseException:
            if index < log.last:
                pending.cancel()
            raise
        log.served(ledger.head_header.height)
    return True


def register(app: web.Application, plane: DataPlane) -> None:
    """Add the data routes to ``app`` (only on nodes that keep a content store)."""
    app[DATA] = plane
    app.router.add_put("/v1/assets/{asset_id}/data", put_data)
    app.router.add_get("/v1/assets/{asset_id}/data", data_status)
    app.router.add_get("/v1/transfers/{transfer_id}/challenge", get_challenge)
    app.router.add_get("/v1/transfers/{transfer_id}/data", get_data)
    if plane.announce is not None and plane.announce.store is not None:
        app.cleanup_ctx.append(_retry_deliveries)


async def _retry_deliveries(app: web.Application) -> AsyncIterator[None]:
    """Re-submit stored deliveries until they commit (ADR 0028), for the life of the app."""
    plane = app[DATA]
    assert plane.announce is not None
    settle(plane.announce, plane.deliveries)  # before the API serves a request: stored deliveries go first
    task = asyncio.create_task(keep_delivering(plane.announce, plane.deliveries))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


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
