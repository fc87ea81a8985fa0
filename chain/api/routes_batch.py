"""``POST /v1/txs/batch``: many signed transactions in one request, one result per item (ADR 0023).

The body is ``application/msgpack`` — an array of canonical SignedTx bytes (each item a msgpack
``bin``) — or ``application/json`` ``{"txs": ["<hex of canonical SignedTx bytes>", ...]}``. At most
:data:`MAX_BATCH_TXS` items; the body is bounded by the app's ``client_max_size`` like every
request. A malformed envelope (not an array, an item that is not bytes, trailing data, too many
items) refuses the whole request with problem+json and admits nothing. Otherwise every item is
admitted on its own, exactly as ``POST /v1/txs`` would admit it, and the answer is ``200`` with
``results[i]`` = ``{"tx_id"}`` or ``{"error": {status, code, detail}}``: a bad item never spoils
the good ones. The per-client transaction rate (:mod:`chain.api.ratelimit`) charges one token per
item; items beyond the client's tokens are refused ``rate_limited`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import msgpack
from aiohttp import web

from chain.api.keys import LIMITS, NODE, TX_RATE
from chain.api.problems import problem, status_for
from chain.api.routes_txs import BODY_TIMEOUT_S, MSGPACK_TYPES, load_json
from chain.errors import DecodeError, DuplicateTxError, OversizeError, SilkportError
from chain.types import SignedTx

MAX_BATCH_TXS = 1000
"""Most transactions in one batch: a full block's worth of small ones, a few hundred KB."""


def _item(kind: str, index: int) -> str:
    return f"txs[{index}] ({kind})"


def decode_msgpack_batch(body: bytes, max_items: int = MAX_BATCH_TXS) -> list[bytes]:
    """The items of a msgpack batch: one array of ``bin``, nothing after it. The count is read from
    the array header before any item is unpacked, so an oversize batch costs nothing to refuse."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(body), 1))
    unpacker.feed(body)
    try:
        count = unpacker.read_array_header()
    except (msgpack.OutOfData, msgpack.UnpackValueError, ValueError) as exc:
        raise DecodeError(f"a batch is one msgpack array of transactions ({type(exc).__name__})") from None
    _check_count(count, max_items)
    items: list[bytes] = []
    for index in range(count):
        try:
            item = unpacker.unpack()
        except (msgpack.OutOfData, ValueError, msgpack.UnpackValueError) as exc:
            raise DecodeError(f"{_item('msgpack', index)} does not decode: {type(exc).__name__}") from None
        if not isinstance(item, bytes):
            raise DecodeError(f"{_item('msgpack', index)} is {type(item).__name__}, not bytes (bin)")
        items.append(item)
    try:
        unpacker.unpack()
    except msgpack.OutOfData:
        return items
    except Exception:  # noqa: BLE001 (any trailing garbage is refused the same way)
        pass
    raise DecodeError("trailing bytes after the batch array")


def decode_json_batch(body: bytes, max_items: int = MAX_BATCH_TXS) -> list[bytes]:
    """The items of a JSON batch ``{"txs": [hex, ...]}`` (no other keys)."""
    document = load_json(body)
    if not isinstance(document, dict) or set(document) != {"txs"} or not isinstance(document["txs"], list):
        raise DecodeError('a JSON batch is {"txs": ["<hex of a signed transaction>", ...]} and nothing else')
    texts = document["txs"]
    _check_count(len(texts), max_items)
    items = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise DecodeError(f"{_item('json', index)} is {type(text).__name__}, not a hex string")
        try:
            items.append(bytes.fromhex(text))
        except ValueError:
            raise DecodeError(f"{_item('json', index)} is not hex") from None
    return items


def _check_count(count: int, max_items: int) -> None:
    if count == 0:
        raise DecodeError("the batch is empty")
    if count > max_items:
        raise OversizeError(f"a batch holds at most {max_items} transactions, not {count}", code="batch_too_large")


def error_item(error: SilkportError) -> dict[str, Any]:
    return {"error": {"status": status_for(error), "code": error.code, "detail": error.message}}


YIELD_EVERY = 64
"""Items admitted between two yields to the event loop: a 1,000-item batch (~60 ms of signature
checks) does not hold peer traffic and consensus for its whole length."""


async def admit_items(node: Any, items: list[bytes], granted: int, max_tx_bytes: int) -> list[dict[str, Any]]:
    """Decode and submit each item (the first ``granted`` ones; the rest are over the rate)."""
    results: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for index, raw in enumerate(items):
        if index and index % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        if index >= granted:
            results.append({"error": {"status": 429, "code": "rate_limited",
                                      "detail": "too many transactions from this client"}})
            continue
        try:
            tx = SignedTx.decode(raw, max_size=max_tx_bytes)
            if tx.tx_hash in seen:
                raise DuplicateTxError(f"transaction {tx.tx_id} appears twice in this batch", code="duplicate_in_batch")
            seen.add(tx.tx_hash)
            results.append({"tx_id": node.submit_tx(tx)})
        except SilkportError as exc:
            results.append(error_item(exc))
    return results


async def post_batch(request: web.Request) -> web.Response:
    content_type = request.content_type
    if content_type not in MSGPACK_TYPES and content_type != "application/json":
        return problem(
            415, "unsupported_media_type",
            f"send application/msgpack or application/json, not {content_type or 'no content type'}",
        )
    try:
        body = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
    except TimeoutError:
        return problem(408, "body_timeout", f"the request body did not arrive within {BODY_TIMEOUT_S:g} s")
    items = decode_msgpack_batch(body) if content_type in MSGPACK_TYPES else decode_json_batch(body)
    granted, wait_s = len(items), 0.0
    buckets = request.app[TX_RATE]
    if buckets is not None:
        granted, wait_s = buckets.take_up_to(request.remote or "unknown", len(items))
    retry = str(max(1, math.ceil(wait_s)) if math.isfinite(wait_s) else 60)
    if granted == 0:
        return problem(429, "rate_limited", "too many transactions from this client", headers={"Retry-After": retry})
    results = await admit_items(request.app[NODE], items, granted, request.app[LIMITS].max_body_bytes)
    accepted = sum(1 for r in results if "tx_id" in r)
    headers = {"Retry-After": retry} if granted < len(items) else None
    return web.json_response(
        {"accepted": accepted, "rejected": len(results) - accepted, "results": results}, headers=headers
    )


def register(app: web.Application) -> None:
    app.router.add_post("/v1/txs/batch", post_batch)

