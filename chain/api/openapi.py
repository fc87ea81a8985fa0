"""The OpenAPI 3.1 document of the node's HTTP interface, written as data (DESIGN.md §10).

Served at ``GET /openapi.json``. A test checks that every registered route is described here, so
adding a route means adding it below.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chain.api.problems import PROBLEM_CONTENT_TYPE

HEX = {"type": "string", "pattern": "^([0-9a-fA-F]{2})*$"}
HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "lowercase hex of 32 bytes"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problems(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "invalid request (the problem's code says which check failed)",
        401: "a validator-signed request that does not verify, is stale or replayed (ADR 0011)",
        408: "the request body did not arrive in time",
        404: "unknown id or route",
        405: "method not allowed",
        409: "duplicate transaction",
        413: "request body or transaction too large",
        415: "unsupported content type",
        403: "the signers hold no role, membership or quorum the method accepts (ADR 0012); code names it",
        429: "rate limited (per address or in total), or the sender is over its quota (quota_exceeded, "
             "too_many_pending); see Retry-After",
        500: "internal error",
        503: "mempool full or too many requests in flight; see Retry-After",
    }
    return {
        str(status): {
            "description": reasons[status],
            "content": {PROBLEM_CONTENT_TYPE: {"schema": _ref("Problem")}},
        }
        for status in statuses
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; type is https://silkport.dev/problems/<code>",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string", "description": "stable error code, e.g. bad_signature, stale_nonce"},
        },
    },
    "Status": {
        "type": "object",
        "required": [
            "chain_id",
            "node_id",
            "height",
            "view",
            "primary",
            "last_block_hash",
            "peers_connected",
            "mempool_size",
        ],
        "properties": {
            "chain_id": {"type": "string"},
            "node_id": {"type": ["string", "integer"]},
            "height": {"type": "integer"},
            "view": {"type": "integer"},
            "primary": {"type": ["string", "integer"]},
            "last_block_hash": {"type": ["string", "null"]},
            "peers_connected": {"type": ["integer", "array"]},
            "mempool_size": {"type": "integer"},
        },
        "additionalProperties": True,
    },
    "JsonValue": {
        "description": 'args value: integer, string, boolean, null, array, object; bytes as {"hex": "..."}',
    },
    "TxBody": {
        "type": "object",
        "additionalProperties": False,
        "required": ["chain_id", "contract", "method", "args", "signer_pubkeys", "nonce"],
        "properties": {
            "chain_id": {"type": "string"},
            "contract": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"},
            "method": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"},
            "args": {"type": "object", "additionalProperties": _ref("JsonValue")},
            "signer_pubkeys": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}},
            "nonce": {"type": "integer", "minimum": 1, "description": "strictly increasing per sender"},
            "valid_until_height": {"type": "integer", "minimum": 0, "default": 0},
        },
    },
    "TxReadable": {
        "type": "object",
        "additionalProperties": False,
        "required": ["body", "signatures"],
        "properties": {
            "body": _ref("TxBody"),
            "signatures": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-fA-F]{128}$"}},
        },
    },
    "TxHex": {
        "type": "object",
        "additionalProperties": False,
        "required": ["tx"],
        "properties": {"tx": {**HEX, "description": "canonical SignedTx bytes"}},
    },
    "TxAccepted": {"type": "object", "required": ["tx_id"], "properties": {"tx_id": HASH}},
    "TxBatch": {
        "type": "object",
        "additionalProperties": False,
        "required": ["txs"],
        "properties": {
            "txs": {"type": "array", "minItems": 1, "maxItems": 1000,
                    "items": {**HEX, "description": "canonical SignedTx bytes"}},
        },
    },
    "TxBatchResult": {
        "type": "object",
        "required": ["accepted", "rejected", "results"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "rejected": {"type": "integer", "minimum": 0},
            "results": {
                "type": "array",
                "description": "one per item, in order: {tx_id} or {error: {status, code, detail}}",
                "items": {"type": "object"},
            },
        },
    },
    "TxInfo": {
        "type": "object",
        "required": ["tx_id", "status"],
        "properties": {
            "tx_id": HASH,
            "status": {"enum": ["pending", "committed"]},
            "height": {"type": ["integer", "null"]},
            "index": {"type": ["integer", "null"]},
            "receipt": {"type": ["object", "null"]},
            "tx": _ref("TxReadable"),
        },
    },
    "Block": {
        "type": "object",
        "description": "header fields (hex for bytes), its hash, the tx ids and the commit certificate",
        "required": ["height", "hash"],
        "properties": {
            "height": {"type": "integer"},
            "hash": HASH,
            "tx_ids": {"type": "array", "items": HASH},
            "certificate": {"type": ["object", "null"]},
        },
        "additionalProperties": True,
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh dict each call)."""
    tx_id_param = {"name": "tx_id", "in": "path", "required": True, "schema": HASH}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Silkport node API",
            "version": "1",
            "description": "Permissioned PBFT chain for data assets, anchoring and cross-border transfers.",
        },
        "paths": {
            "/v1/status": {
                "get": {
                    "summary": "Node and chain status",
                    "responses": {"200": _json(_ref("Status"), "status"), **_problems(400)},
                }
            },
            "/v1/txs": {
                "post": {
                    "summary": "Submit a signed transaction (rate limited per client IP)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/msgpack": {
                                "schema": {"type": "string", "contentMediaType": "application/msgpack"},
                            },
                            "application/json": {"schema": {"oneOf": [_ref("TxHex"), _ref("TxReadable")]}},
                        },
                    },
                    "responses": {
                        "202": _json(_ref("TxAccepted"), "admitted to the mempool"),
                        **_problems(400, 403, 409, 413, 415, 429, 503),
                    },
                }
            },
            "/v1/txs/batch": {
                "post": {
                    "summary": "Submit up to 1,000 signed transactions; one result per item (ADR 0023)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/msgpack": {
                                "schema": {"type": "string", "contentMediaType": "application/msgpack",
                                           "description": "a msgpack array of canonical SignedTx bytes (bin)"},
                            },
                            "application/json": {"schema": _ref("TxBatch")},
                        },
                    },
                    "responses": {
                        "200": _json(_ref("TxBatchResult"), "each item admitted or refused on its own"),
                        **_problems(400, 408, 413, 415, 429, 503),
                    },
                }
            },
            "/v1/txs/{tx_id}": {
                "get": {
                    "summary": "A transaction's status, receipt and body",
                    "parameters": [
                        tx_id_param,
                        {"name": "wait", "in": "query", "schema": {"enum": ["commit"]}},
                        {
                            "name": "timeout",
                            "in": "query",
                            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 30, "default": 10},
                        },
                    ],
                    "responses": {"200": _json(_ref("TxInfo"), "the transaction"), **_problems(400, 404)},
                }
            },
            "/v1/blocks/{ref}": {
                "get": {
                    "summary": "A block by height, or the latest",
                    "parameters": [
                        {
                            "name": "ref",
                            "in": "path",
                            "required": True,
                            "schema": {
                                "oneOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"const": "latest"}]
                            },
                        }
                    ],
                    "responses": {"200": _json(_ref("Block"), "the block"), **_problems(400, 404)},
                }
            },
            "/v1/sync/blocks": {
                "get": {
                    "summary": "Raw blocks with commit certificates, for peer catch-up",
                    "parameters": [
                        {
                            "name": "from",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "to",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "canonical msgpack array of canonical [block, certificate] byte strings",
                            "content": {"application/msgpack": {"schema": {"type": "string"}}},
                        },
                        **_problems(400),
                    },
                }
            },
            "/v1/sync/snapshot": {
                "get": {
                    "summary": "State snapshot of a stable checkpoint, for state sync (ADR 0021)",
                    "parameters": [
                        {"name": "height", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1}},
                        {"name": "chunk", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 0, "maximum": 255}},
                        {"name": "history", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 0}},
                    ],
                    "responses": {
                        "200": {
                            "description": "canonical msgpack: the signed manifest, a chunk or a history page",
                            "content": {"application/msgpack": {"schema": {"type": "string"}}},
                        },
                        **_problems(400, 404),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }


def merged_document(route_modules: tuple[Any, ...] = ()) -> dict[str, Any]:
    """:func:`document` plus the ``OPENAPI_PATHS`` and ``OPENAPI_SCHEMAS`` each routes module declares,
    and the refusals every route may answer under the limits of ADR 0011 (429, 503; 401 on heavy
    reads, which validators may sign; 408 for a body too slow)."""
    from chain.api.limits import HEAVY_ROUTES

    doc = document()
    for module in route_modules:
        doc["paths"].update(getattr(module, "OPENAPI_PATHS", {}))
        doc["components"]["schemas"].update(getattr(module, "OPENAPI_SCHEMAS", {}))
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            extra = (429, 503) + ((401,) if path in HEAVY_ROUTES else ()) + ((408,) if method == "post" else ())
            operation["responses"] = {**_problems(*extra), **operation["responses"]}
    return doc


async def get_openapi(request: web.Request) -> web.Response:
    from chain.api.app import DOCUMENTED_MODULES

    return web.json_response(merged_document(DOCUMENTED_MODULES))


def register(app: web.Application) -> None:
    app.router.add_get("/openapi.json", get_openapi)
