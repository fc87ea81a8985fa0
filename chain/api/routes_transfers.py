"""Cross-border queries: ``/v1/transfers``, ``/v1/transfers/{id}``, ``/v1/policy`` (DESIGN.md §8, §10).

All read the committed state at the node's head (``node.ledger.state_get``) through the pure
helpers of :mod:`chain.crossborder.transfer_queries`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from chain.api.keys import NODE
from chain.api.models import Strict, page_fields, parse, refuse_page_in_scan, refuse_renamed
from chain.api.openapi import HASH, _json, _problems, _ref
from chain.crossborder import transfer_queries
from chain.crossborder.contract import STATES
from chain.errors import NotFoundError, ValidationError

TRANSFER_ID = re.compile(r"^[0-9a-f]{64}$")


class TransfersQuery(Strict):
    """``GET /v1/transfers?asset=&exporter=&state=&page=&per_page=&order=`` (the API's one paging style, ADR 0024)."""

    asset: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    exporter: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
    state: Literal[STATES] | None = None  # type: ignore[valid-type]
    page: int = Field(default=1, ge=1, le=10**12)
    per_page: int = Field(default=20, ge=1, le=transfer_queries.MAX_PAGE)
    order: Literal["newest", "oldest"] = "newest"
    cursor: int | None = Field(default=None, ge=0, le=10**12)


class PolicyQuery(Strict):
    """``GET /v1/policy?version=N`` (default: the version in force)."""

    version: int | None = Field(default=None, ge=1, le=2**32 - 1)


async def list_transfers(request: web.Request) -> web.Response:
    """A page by number (all, one asset's or one exporter's transfers), or, when a filter is applied while
    walking (``state``; ``exporter`` together with ``asset``) or ``cursor`` is given, a bounded scan from
    ``cursor`` that hands back ``next_cursor`` — the same two shapes as ``/v1/assets`` (ADR 0024)."""
    refuse_renamed(dict(request.query))
    query = parse(TransfersQuery, dict(request.query))
    get = request.app[NODE].ledger.state_get
    scan = query.cursor is not None or query.state is not None or (query.asset is not None and query.exporter is not None)
    if scan:
        refuse_page_in_scan(query.page)
    start = (query.cursor or 0) if scan else (query.page - 1) * query.per_page
    found = transfer_queries.transfers(
        get, asset=query.asset, exporter=query.exporter, state=query.state,
        offset=start, limit=query.per_page, newest_first=query.order == "newest",
    )
    if scan:
        return web.json_response({"total": found["total"], "per_page": query.per_page, "cursor": start,
                                  "next_cursor": found["next_offset"], "items": found["items"]})
    return web.json_response({"total": found["total"], **page_fields(found["total"], query.page, query.per_page),
                              "items": found["items"]})


async def get_transfer(request: web.Request) -> web.Response:
    transfer_id = request.match_info["transfer_id"]
    if not TRANSFER_ID.match(transfer_id):
        raise ValidationError("a transfer id is 64 lowercase hex characters", code="bad_transfer_id")
    record = transfer_queries.transfer(request.app[NODE].ledger.state_get, transfer_id)
    if record is None:
        raise NotFoundError(f"no transfer {transfer_id}")
    return web.json_response(record)


async def get_policy(request: web.Request) -> web.Response:
    query = parse(PolicyQuery, dict(request.query))
    found = transfer_queries.policy(request.app[NODE].ledger.state_get, query.version)
    if found is None:
        raise NotFoundError("no policy" if query.version is None else f"no policy version {query.version}")
    return web.json_response(found)


def register(app: web.Application) -> None:
    """Add this module's routes to ``app``."""
    app.router.add_get("/v1/transfers", list_transfers)
    app.router.add_get("/v1/transfers/{transfer_id}", get_transfer)
    app.router.add_get("/v1/policy", get_policy)


_DECISION: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "the latest rule-engine decision and the policy version that produced it",
    "properties": {
        "decision": {"enum": ["ALLOW", "DENY", "REQUIRE"]},
        "requires": {"type": "array", "items": {"type": "string"}},
        "rules": {"type": "array", "items": {"type": "string"}, "description": "RULES.md rule ids"},
        "path": {"enum": ["DOMESTIC", "EXEMPT", "FTZ", "SC_OR_CERT", "ASSESSMENT", "FOREIGN", "PROHIBITED"]},
        "policy_version": {"type": "integer"},
        "date": {"type": "string", "format": "date", "description": "Asia/Shanghai date of the block"},
        "ref": {"type": "object"},
    },
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Transfer": {
        "type": "object",
        "description": "a cross-border transfer record (chain.crossborder.contract); bytes as hex",
        "required": ["id", "asset_id", "exporter", "recipient", "destination", "state", "decision"],
        "properties": {
            "id": HASH,
            "asset_id": HASH,
            "exporter": {"type": "string"},
            "recipient": {"type": "string"},
            "destination": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "purpose": {"type": "string"},
            "lawful_basis": {"type": "string"},
            "subjects": {"type": "integer"},
            "sensitive_subjects": {"type": "integer"},
            "state": {"enum": list(STATES)},
            "decision": _DECISION,
            "decisions": {"type": "object", "description": "evidence kind -> regulator decision id"},
            "attestations": {"type": "object"},
            "history": {"type": "array", "items": {"type": "object"}, "description": "steps, oldest first"},
            "deliveries": {"type": "integer", "description": "delivered events recorded (ADR 0022)"},
            "delivered": {"type": "object", "description": "{height, tx_index} of the latest delivery"},
            "delivered_root": {**HASH, "description": "the chunk root the deliveries carried"},
        },
        "additionalProperties": True,
    },
    "TransferPage": {
        "type": "object",
        "description": "a page by number (page, pages, next_page) or, for a filtered scan, from a cursor "
                       "(cursor, next_cursor); ADR 0024",
        "required": ["total", "per_page", "items"],
        "properties": {
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
            "next_page": {"type": ["integer", "null"], "description": "null on the last page"},
            "cursor": {"type": "integer"},
            "next_cursor": {"type": ["integer", "null"], "description": "null when the scan reached the end"},
            "items": {"type": "array", "items": _ref("Transfer")},
        },
    },
    "Policy": {
        "type": "object",
        "required": ["version", "current", "sha256", "document"],
        "properties": {
            "version": {"type": "integer"},
            "current": {"type": "integer"},
            "sha256": HASH,
            "document": {"type": "object", "description": "the policy document (policy-default.json format)"},
        },
    },
}
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/transfers": {
        "get": {
            "summary": "A page of cross-border transfers, newest first, filtered by asset, exporter or state",
            "parameters": [
                {"name": "asset", "in": "query", "schema": HASH},
                {"name": "exporter", "in": "query", "schema": {"type": "string"}},
                {"name": "state", "in": "query", "schema": {"enum": list(STATES)}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                {"name": "per_page", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": transfer_queries.MAX_PAGE, "default": 20}},
                {"name": "cursor", "in": "query", "schema": {"type": "integer", "minimum": 0},
                 "description": "filtered scan (state; exporter with asset): position to continue from "
                                "(next_cursor of the previous answer); page stays 1"},
                {"name": "offset", "in": "query", "deprecated": True, "schema": {"type": "integer"},
                 "description": "removed: answered 400 renamed_parameter; use page (ADR 0024)"},
                {"name": "limit", "in": "query", "deprecated": True, "schema": {"type": "integer"},
                 "description": "removed: answered 400 renamed_parameter; use per_page (ADR 0024)"},
                {"name": "order", "in": "query", "schema": {"enum": ["newest", "oldest"], "default": "newest"}},
            ],
            "responses": {"200": _json(_ref("TransferPage"), "a page of transfers"), **_problems(400)},
        }
    },
    "/v1/transfers/{transfer_id}": {
        "get": {
            "summary": "A transfer with its latest decision (rule ids, policy version) and every step",
            "parameters": [{"name": "transfer_id", "in": "path", "required": True, "schema": HASH}],
            "responses": {"200": _json(_ref("Transfer"), "the transfer"), **_problems(400, 404)},
        }
    },
    "/v1/policy": {
        "get": {
            "summary": "The cross-border policy in force (or ?version=N)",
            "parameters": [{"name": "version", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": _json(_ref("Policy"), "the policy version"), **_problems(400, 404)},
        }
    },
}
