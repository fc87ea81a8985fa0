"""``POST /v1/txs`` and ``GET /v1/txs/{id}`` (DESIGN.md §10).

A transaction is accepted as ``application/msgpack`` (canonical SignedTx bytes) or as
``application/json`` (``{"tx": hex}`` or the readable form of :mod:`chain.api.jsonwire`); either way
the node answers ``202 {"tx_id"}`` once the mempool admitted it. Submissions are rate limited per
client IP (:mod:`chain.api.ratelimit`).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from aiohttp import web

from chain.api.jsonwire import tx_from_json
from chain.api.keys import LIMITS, NODE, TX_RATE
from chain.api.models import TxHexRequest, TxQuery, TxReadableRequest, parse
from chain.api.problems import problem
from chain.errors import DecodeError, NotFoundError, ValidationError
from chain.types import SignedTx

MSGPACK_TYPES = frozenset({"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"})
TX_ID = re.compile(r"^[0-9a-f]{64}$")
BODY_TIMEOUT_S = 10.0
"""A body slower than this (slowloris) is refused, so it cannot hold a write slot (ADR 0011)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays/objects accepted in a JSON body (a transaction needs far fewer)."""


def json_depth(document: Any, limit: int) -> int:
    """The nesting depth of ``document``, counting no further than ``limit + 1`` (iterative)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return deepest


def load_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, nested at most :data:`MAX_JSON_DEPTH` deep."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise DecodeError(f"request body is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise DecodeError(f"request body is nested more than {MAX_JSON_DEPTH} deep") from None
    except ValueError as exc:
        raise DecodeError(f"request body is not valid JSON: {str(exc)[:120]}") from None
    if json_depth(document, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise DecodeError(f"request body is nested more than {MAX_JSON_DEPTH} deep")
    return document


def tx_from_request_json(document: Any) -> SignedTx:
    if isinstance(document, dict) and "tx" in document:
        hex_request = parse(TxHexRequest, document)
        return SignedTx.decode(bytes.fromhex(hex_request.tx))
    parse(TxReadableRequest, document)
    return tx_from_json(document)


async def post_tx(request: web.Request) -> web.Response:
    buckets = request.app[TX_RATE]
    if buckets is not None:
        wait_s = buckets.take(request.remote or "unknown")
        if wait_s > 0:
            retry = str(max(1, math.ceil(wait_s)) if math.isfinite(wait_s) else 60)
            return problem(
                429, "rate_limited", "too many transactions from this client", headers={"Retry-After": retry}
            )
    content_type = request.content_type
    try:
        body = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
    except TimeoutError:
        return problem(408, "body_timeout", f"the request body did not arrive within {BODY_TIMEOUT_S:g} s")
    if content_type in MSGPACK_TYPES:
        tx = SignedTx.decode(body, max_size=request.app[LIMITS].max_body_bytes)
    elif content_type == "application/json":
        tx = tx_from_request_json(load_json(body))
    else:
        return problem(
            415,
            "unsupported_media_type",
            f"send application/msgpack or application/json, not {content_type or 'no content type'}",
        )
    tx_id = request.app[NODE].submit_tx(tx)
    return web.json_response({"tx_id": tx_id}, status=202)


def parse_tx_id(text: str) -> bytes:
    if not TX_ID.match(text):
        raise ValidationError("a transaction id is 64 lowercase hex characters", code="bad_tx_id")
    return bytes.fromhex(text)


async def get_tx(request: web.Request) -> web.Response:
    tx_id = parse_tx_id(request.match_info["tx_id"])
    query = parse(TxQuery, dict(request.query))
    node = request.app[NODE]
    info = await node.wait_tx(tx_id, query.timeout) if query.wait == "commit" else node.get_tx(tx_id)
    if info is None:
        raise NotFoundError(f"transaction {tx_id.hex()} is not known to this node")
    return web.json_response(info)


def register(app: web.Application) -> None:
    app.router.add_post("/v1/txs", post_tx)
    app.router.add_get("/v1/txs/{tx_id}", get_tx)
