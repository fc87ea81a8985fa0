"""Data-asset queries (DESIGN.md §4, §10; ADR 0005): committed state read through :mod:`chain.contracts.queries`.

==================================  ==========================================================================
route                               answer
==================================  ==========================================================================
``GET /v1/assets``                  a page of assets in registration order: ``?page=&per_page=`` (≤ 100) and
                                    ``?order=newest``; with a filter (``owner``, ``owner_org``, ``status``,
                                    ``grade``) a bounded scan from ``?cursor=`` that returns ``next_cursor``
``GET /v1/assets/{id}``             the asset record (404 unknown, 400 malformed id)
``GET /v1/assets/{id}/history``     every event on the asset, newest first, following each event's ``prev``
                                    reference ``(height, tx_index)`` through the stored receipts back to the
                                    registration (hash-linked history, DESIGN.md §4), plus its lineage
``GET /v1/organisations[/{id}]``    organisations in registration order / one organisation
``GET /v1/valuations/{asset}``      the latest appraisal and every appraisal, oldest first
==================================  ==========================================================================

Every answer reads one height (the head when the request arrives), so a page never mixes two states.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from chain import codec, statekeys
from chain.api.heavy import HeavyReader, off_loop
from chain.api.keys import NODE
from chain.api.models import EmptyQuery, Strict, page_fields, parse, refuse_page_in_scan, refuse_renamed
from chain.contracts import queries
from chain.errors import NotFoundError, ValidationError
from chain.storage.blockstore import BlockStore
from chain.types import Event, EventRef, SignedTx

MAX_PER_PAGE = 100
MAX_SCAN = 5_000
"""Filtered listings read at most this many records per request, then hand back ``next_cursor``."""
ASSET_ID = re.compile(r"^[0-9a-f]{64}$")
ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class AssetsQuery(Strict):
    """``GET /v1/assets`` query."""

    page: int = Field(default=1, ge=1, le=10**12)
    per_page: int = Field(default=20, ge=1, le=MAX_PER_PAGE)
    order: Literal["oldest", "newest"] = "oldest"
    owner: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    owner_org: str | None = Field(default=None, pattern=ORG_ID.pattern)
    status: Literal["ACTIVE", "RETIRED"] | None = None
    grade: Literal["GENERAL", "IMPORTANT", "CORE"] | None = None
    cursor: int | None = Field(default=None, ge=0)


class PageQuery(Strict):
    page: int = Field(default=1, ge=1, le=10**12)
    per_page: int = Field(default=20, ge=1, le=MAX_PER_PAGE)


Get = Callable[[bytes], bytes | None]


def _reader(request: web.Request) -> tuple[Get, int]:
    ledger = request.app[NODE].ledger
    height = ledger.height

    def get(key: bytes) -> bytes | None:
        return ledger.state_get(key, height)

    return get, height


def _asset_id(text: str) -> str:
    if not ASSET_ID.match(text):
        raise ValidationError("an asset id is 64 lowercase hex characters", code="bad_asset_id")
    return text


def _require_asset(get: Get, asset_id: str) -> dict[str, Any]:
    record = queries.asset(get, asset_id)
    if record is None:
        raise NotFoundError(f"no asset {asset_id}")
    return record


def _filtered(get: Get, query: AssetsQuery) -> dict[str, Any]:
    """Scan ``asset/seq`` from ``cursor`` for up to ``per_page`` matches, reading ≤ MAX_SCAN records."""
    total = int(codec.decode(get(statekeys.ASSET_COUNT) or codec.encode(0)))
    wanted = {k: v for k, v in (("owner", query.owner), ("owner_org", query.owner_org), ("status", query.status),
                                ("grade", query.grade)) if v is not None}
    position = query.cursor or 0
    items: list[dict[str, Any]] = []
    scanned = 0
    while position < total and len(items) < query.per_page and scanned < MAX_SCAN:
        seq = total - 1 - position if query.order == "newest" else position
        raw = get(statekeys.asset_seq_key(seq))
        record = None if raw is None else queries.asset(get, str(codec.decode(raw)))
        position += 1
        scanned += 1
        if record is not None and all(record.get(k) == v for k, v in wanted.items()):
            items.append(record)
    return {"total": total, "filter": wanted, "cursor": query.cursor or 0, "scanned": scanned,
            "next_cursor": position if position < total else None, "items": items}


async def list_assets(request: web.Request) -> web.Response:
    refuse_renamed(dict(request.query))
    query = parse(AssetsQuery, dict(request.query))
    get, height = _reader(request)
    if any(v is not None for v in (query.owner, query.owner_org, query.status, query.grade, query.cursor)):
        refuse_page_in_scan(query.page)
        return web.json_response({"height": height, "per_page": query.per_page, **_filtered(get, query)})
    offset = (query.page - 1) * query.per_page
    page = queries.assets(get, offset, query.per_page, newest_first=query.order == "newest")
    return web.json_response({"height": height, "total": page["total"],
                              **page_fields(page["total"], query.page, query.per_page), "items": page["items"]})


async def get_asset(request: web.Request) -> web.Response:
    asset_id = _asset_id(request.match_info["asset_id"])
    parse(EmptyQuery, dict(request.query))
    get, height = _reader(request)
    return web.json_response({"height": height, **_require_asset(get, asset_id)})


class _Blocks:
    """Transactions and receipts of the heights a history walk visits (each block read once)."""

    def __init__(self, store: BlockStore) -> None:
        self.store = store
        self.bodies: dict[int, list[tuple[SignedTx, Any]]] = {}
        self.times: dict[int, int | None] = {}

    def at(self, ref: EventRef) -> tuple[SignedTx, Any] | None:
        if ref.height not in self.bodies:
            self.bodies[ref.height] = self.store.body(ref.height)
            header = self.store.header(ref.height)
            self.times[ref.height] = None if header is None else header.timestamp_ms
        body = self.bodies[ref.height]
        return body[ref.tx_index] if ref.tx_index < len(body) else None

    def events_at(self, ref: EventRef) -> tuple[Event, ...]:
        found = self.at(ref)
        return () if found is None else tuple(found[1].events)


def _history(reader: HeavyReader, asset_id: str) -> dict[str, Any]:
    """The hash-linked history of ``asset_id`` at the head (on a worker thread: ``reader``'s own tree)."""
    height = reader.ledger.height
    get = reader.state_get(height)
    record = _require_asset(get, asset_id)
    blocks = _Blocks(reader.ledger.store)
    events = queries.history(get, blocks.events_at, asset_id)
    children: list[str] = []
    for event in events:
        ref = EventRef(event["ref"]["height"], event["ref"]["tx_index"])
        found = blocks.at(ref)
        event["tx_id"] = None if found is None else found[0].tx_id
        event["timestamp_ms"] = blocks.times.get(ref.height)
        if event["name"] == "derived" and isinstance(event["data"].get("child"), str):
            children.append(event["data"]["child"])
    return {
        "height": height,
        "asset_id": asset_id,
        "complete": True,
        "registered": record["registered"],
        "last_event": record["last_event"],
        "lineage": {"parents": record["parents"], "children": list(reversed(children))},
        "events": events,
    }


async def get_history(request: web.Request) -> web.Response:
    asset_id = _asset_id(request.match_info["asset_id"])
    parse(EmptyQuery, dict(request.query))
    return web.json_response(await off_loop(request, lambda reader: _history(reader, asset_id)))


async def list_organisations(request: web.Request) -> web.Response:
    refuse_renamed(dict(request.query))
    query = parse(PageQuery, dict(request.query))
    get, height = _reader(request)
    page = queries.organisations(get, (query.page - 1) * query.per_page, query.per_page)
    return web.json_response({"height": height, "total": page["total"],
                              **page_fields(page["total"], query.page, query.per_page), "items": page["items"]})


async def get_organisation(request: web.Request) -> web.Response:
    org_id = request.match_info["org_id"]
    if not ORG_ID.match(org_id):
        raise ValidationError("an organisation id is 1-64 characters of A-Z a-z 0-9 . _ : -", code="bad_org_id")
    parse(EmptyQuery, dict(request.query))
    get, height = _reader(request)
    org = queries.organisation(get, org_id)
    if org is None:
        raise NotFoundError(f"no organisation {org_id}")
    return web.json_response({"height": height, **org})


async def get_valuations(request: web.Request) -> web.Response:
    asset_id = _asset_id(request.match_info["asset_id"])
    parse(EmptyQuery, dict(request.query))
    get, height = _reader(request)
    record = _require_asset(get, asset_id)
    return web.json_response({"height": height, "asset_id": asset_id, "latest": record["valuation"],
                              "history": queries.valuations(get, asset_id)})


def register(app: web.Application) -> None:
    """Add this module's routes to ``app``."""
    app.router.add_get("/v1/assets", list_assets)
    app.router.add_get("/v1/assets/{asset_id}", get_asset)
    app.router.add_get("/v1/assets/{asset_id}/history", get_history)
    app.router.add_get("/v1/organisations", list_organisations)
    app.router.add_get("/v1/organisations/{org_id}", get_organisation)
    app.router.add_get("/v1/valuations/{asset_id}", get_valuations)


# --- OpenAPI (merged into /openapi.json by chain.api.openapi) -------------------------------------------

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _answer(schema: str, description: str, *statuses: int) -> dict[str, Any]:
    reasons = {400: "malformed id or query (see the problem's code)", 404: "unknown id"}
    responses: dict[str, Any] = {
        "200": {"description": description,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}
    }
    for status in statuses:
        responses[str(status)] = {"description": reasons[status],
                                  "content": {"application/problem+json": {"schema": _PROBLEM}}}
    return responses


_ASSET_PARAM = {"name": "asset_id", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}
_PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {"name": "per_page", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 20}},
]

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/assets": {"get": {
        "summary": "Data assets in registration order (paged); with a filter, a bounded scan with a cursor",
        "parameters": [
            *_PAGE_PARAMS,
            {"name": "order", "in": "query", "schema": {"enum": ["oldest", "newest"], "default": "oldest"}},
            {"name": "owner", "in": "query", "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
            {"name": "owner_org", "in": "query", "schema": {"type": "string"}},
            {"name": "status", "in": "query", "schema": {"enum": ["ACTIVE", "RETIRED"]}},
            {"name": "grade", "in": "query", "schema": {"enum": ["GENERAL", "IMPORTANT", "CORE"]}},
            {"name": "cursor", "in": "query", "schema": {"type": "integer", "minimum": 0},
             "description": f"filtered listing: position to scan from (at most {MAX_SCAN} records per request)"},
        ],
        "responses": _answer("AssetPage", "a page of asset records", 400),
    }},
    "/v1/assets/{asset_id}": {"get": {
        "summary": "One data asset's record", "parameters": [_ASSET_PARAM],
        "responses": _answer("Asset", "the asset record at the head", 400, 404),
    }},
    "/v1/assets/{asset_id}/history": {"get": {
        "summary": "Every event on the asset back to its registration (hash-linked), and its lineage",
        "parameters": [_ASSET_PARAM],
        "responses": _answer("AssetHistory", "the complete history, newest first", 400, 404),
    }},
    "/v1/organisations": {"get": {
        "summary": "Organisations in registration order (paged)", "parameters": _PAGE_PARAMS,
        "responses": _answer("OrganisationPage", "a page of organisations", 400),
    }},
    "/v1/organisations/{org_id}": {"get": {
        "summary": "One organisation",
        "parameters": [{"name": "org_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": _answer("Organisation", "the organisation record", 400, 404),
    }},
    "/v1/valuations/{asset_id}": {"get": {
        "summary": "An asset's latest appraisal and all its appraisals", "parameters": [_ASSET_PARAM],
        "responses": _answer("Valuations", "appraisals, oldest first", 400, 404),
    }},
}

_REF = {"type": "object", "properties": {"height": {"type": "integer"}, "tx_index": {"type": "integer"}}}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Asset": {
        "type": "object",
        "description": "asset record (ADR 0005): bytes as hex, event references as {height, tx_index}",
        "required": ["id", "owner", "owner_org", "certificate", "status", "registered", "last_event"],
        "properties": {
            "id": {"type": "string"}, "seq": {"type": "integer"}, "owner": {"type": "string"},
            "owner_org": {"type": "string"}, "certificate": {"type": "string"},
            "status": {"enum": ["ACTIVE", "RETIRED"]}, "grade": {"type": "string"},
            "parents": {"type": "array", "items": {"type": "string"}},
            "pledge": {"type": ["object", "null"]}, "valuation": {"type": ["object", "null"]},
            "registered": _REF, "last_event": _REF,
        },
        "additionalProperties": True,
    },
    "AssetPage": {
        "type": "object", "required": ["height", "total", "items"],
        "properties": {"height": {"type": "integer"}, "total": {"type": "integer"}, "page": {"type": "integer"},
                       "per_page": {"type": "integer"}, "pages": {"type": "integer"},
                       "next_page": {"type": ["integer", "null"]},
                       "next_cursor": {"type": ["integer", "null"]},
                       "items": {"type": "array", "items": {"$ref": "#/components/schemas/Asset"}}},
    },
    "AssetEvent": {
        "type": "object", "required": ["ref", "contract", "name", "data"],
        "properties": {"ref": _REF, "contract": {"type": "string"}, "name": {"type": "string"},
                       "data": {"type": "object"}, "tx_id": {"type": ["string", "null"]},
                       "timestamp_ms": {"type": ["integer", "null"]}},
    },
    "AssetHistory": {
        "type": "object", "required": ["asset_id", "events", "lineage"],
        "properties": {
            "asset_id": {"type": "string"}, "complete": {"type": "boolean"},
            "lineage": {"type": "object", "properties": {
                "parents": {"type": "array", "items": {"type": "string"}},
                "children": {"type": "array", "items": {"type": "string"}}}},
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/AssetEvent"}},
        },
    },
    "Organisation": {"type": "object", "required": ["id", "name", "jurisdiction", "type"],
                     "additionalProperties": True},
    "OrganisationPage": {
        "type": "object", "required": ["total", "items"],
        "properties": {"total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
                       "pages": {"type": "integer"}, "next_page": {"type": ["integer", "null"]},
                       "items": {"type": "array", "items": {"$ref": "#/components/schemas/Organisation"}}},
    },
    "Valuations": {
        "type": "object", "required": ["asset_id", "latest", "history"],
        "properties": {"asset_id": {"type": "string"}, "latest": {"type": ["object", "null"]},
                       "history": {"type": "array", "items": {"type": "object"}}},
    },
}
