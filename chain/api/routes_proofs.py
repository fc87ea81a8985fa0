"""Proofs (DESIGN.md §9–10, ADR 0008): anchor receipts, provenance bundles, history consistency.

=====================================  ====================================================================
route                                  answer
=====================================  ====================================================================
``GET /v1/anchors/{hash}/receipt``     the ``silkport-proof/1`` anchor receipt of a 32-byte hash (hex),
                                       certified by the head; ``?since=H`` adds the consistency proof
                                       from the history at height H (to link it to an older receipt)
``GET /v1/assets/{id}/proof``          the provenance bundle of an asset at the head (``?since=H`` too)
``GET /v1/history/consistency``        ``?from=H1&to=H2``: RFC 6962 consistency proof between the
                                       history roots of headers H1 < H2, and block H1's inclusion at H2
=====================================  ====================================================================

Receipts and bundles are served as their canonical JSON text (byte for byte what ``silkport verify``
checks; see :func:`chain.proofs.document.canonical_json`).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import Field

from chain.api.heavy import capped, off_loop
from chain.api.models import Strict, parse
from chain.errors import ValidationError
from chain.proofs.document import canonical_json

HASH = re.compile(r"^[0-9a-f]{64}$")


class SinceQuery(Strict):
    since: int | None = Field(default=None, ge=1)


class ConsistencyQuery(Strict):
    from_: int = Field(alias="from", ge=1)
    to: int = Field(ge=1)


def _hex32(text: str, what: str, code: str) -> str:
    if not HASH.match(text):
        raise ValidationError(f"{what} is 64 lowercase hex characters", code=code)
    return text


def _document(document_text: str) -> web.Response:
    return web.Response(text=document_text, content_type="application/json")


async def anchor_receipt(request: web.Request) -> web.Response:
    digest = bytes.fromhex(_hex32(request.match_info["hash"], "an anchored hash", "bad_hash"))
    query = parse(SinceQuery, dict(request.query))
    return _document(await off_loop(
        request, lambda reader: capped(canonical_json(reader.builder.anchor_receipt(digest, since=query.since)))))


async def asset_proof(request: web.Request) -> web.Response:
    asset_id = _hex32(request.match_info["asset_id"], "an asset id", "bad_asset_id")
    query = parse(SinceQuery, dict(request.query))
    return _document(await off_loop(
        request, lambda reader: capped(canonical_json(reader.builder.asset_bundle(asset_id, since=query.since)))))


async def history_consistency(request: web.Request) -> web.Response:
    query = parse(ConsistencyQuery, dict(request.query))
    return web.json_response(await off_loop(request, lambda reader: reader.builder.consistency(query.from_, query.to)))


def register(app: web.Application) -> None:
    """Add this module's routes to ``app``."""
    app.router.add_get("/v1/anchors/{hash}/receipt", anchor_receipt)
    app.router.add_get("/v1/assets/{asset_id}/proof", asset_proof)
    app.router.add_get("/v1/history/consistency", history_consistency)


# --- OpenAPI (merged into /openapi.json by chain.api.openapi) -------------------------------------------

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_SINCE = {"name": "since", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1},
          "description": "add the RFC 6962 consistency proof from the history at this height"}


def _answer(description: str) -> dict[str, Any]:
    return {
        "200": {"description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProofDocument"}}}},
        "400": {"description": "malformed hash, id or query", "content": _PROBLEM},
        "404": {"description": "not anchored / unknown asset", "content": _PROBLEM},
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/anchors/{hash}/receipt": {"get": {
        "summary": "Self-contained anchor receipt of a hash (silkport-proof/1, kind anchor), verifiable offline",
        "parameters": [{"name": "hash", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}, _SINCE],
        "responses": _answer("the receipt, as canonical JSON text (ADR 0008)"),
    }},
    "/v1/assets/{asset_id}/proof": {"get": {
        "summary": "Provenance bundle of a data asset (silkport-proof/1, kind asset), verifiable offline",
        "parameters": [{"name": "asset_id", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}, _SINCE],
        "responses": _answer("the bundle, as canonical JSON text (ADR 0008)"),
    }},
    "/v1/history/consistency": {"get": {
        "summary": "RFC 6962 consistency proof between the history roots of two headers",
        "parameters": [
            {"name": "from", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 1}},
            {"name": "to", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 1}},
        ],
        "responses": {
            "200": {"description": "the proof", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/HistoryConsistency"}}}},
            "400": {"description": "bad range (need 1 <= from < to <= head)", "content": _PROBLEM},
        },
    }},
}

_HEX_LIST = {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "ProofDocument": {
        "type": "object",
        "description": "silkport-proof/1 document (ADR 0008): bytes as lowercase hex, every header in full",
        "required": ["format", "kind", "chain_id", "certified", "validator_changes", "blocks", "txs"],
        "properties": {
            "format": {"const": "silkport-proof/1"}, "kind": {"enum": ["anchor", "asset"]},
            "chain_id": {"type": "string"}, "certified": {"type": "object"},
            "validator_changes": {"type": "array"}, "blocks": {"type": "array"}, "txs": {"type": "array"},
            "anchor": {"type": "object"}, "asset": {"type": "object"}, "parents": {"type": "array"},
            "consistency": {"type": "object"},
        },
    },
    "HistoryConsistency": {
        "type": "object",
        "required": ["from", "to", "from_history_root", "to_history_root", "proof", "head_proof"],
        "properties": {
            "from": {"type": "integer"}, "to": {"type": "integer"},
            "from_history_root": {"type": "string"}, "to_history_root": {"type": "string"},
            "proof": _HEX_LIST, "head_proof": _HEX_LIST,
        },
    },
}
