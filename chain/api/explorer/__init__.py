"""The explorer (ADR 0025): static HTML/JS/CSS served by every node at ``/``, no build step, no CDN.

The page reads only this node's REST API and its live feed (``GET /v1/events``, :mod:`chain.api.events`);
the receipt check runs entirely in the browser (WebCrypto SHA-256 and Ed25519, ``static/verify.js``).

=============================  ==================================================================
route                          answer
=============================  ==================================================================
``GET /``                      ``static/index.html`` (asset links carry a content-hash ``?v=``)
``GET /explorer/{name}``       one file of ``static/`` (an allow-list read at import); immutable for a
                               year when ``?v=`` is its hash, else revalidated by ``ETag``
``GET /v1/validators``         the validator set in effect (index, name, organisation, jurisdiction,
                               key), the view and primary, the genesis set the receipt check pins, and
                               the pending set with ``next_checkpoint`` (where an operator reads a
                               joining validator's ``--index``, ADR 0027)
=============================  ==================================================================

Every file goes out with a strict Content-Security-Policy (only same-origin scripts, styles and
fetches; no inline script, no framing), ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from chain import codec
from chain.api.keys import NODE
from chain.api.models import EmptyQuery, Strict, parse
from chain.contracts import queries
from chain.errors import NotFoundError
from chain.types import validators_hash

STATIC = Path(__file__).with_name("static")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json",
         ".svg": "image/svg+xml"}
VERSIONED = re.compile(r"\{\{v:([a-z0-9_.-]+)\}\}")


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str
    """Strong ETag: the first 16 hex digits of the file's SHA-256 (also the ``?v=`` value)."""


def load_static(directory: Path = STATIC) -> dict[str, StaticFile]:
    """Every servable file of ``directory`` (by name), and ``index.html`` with its ``{{v:NAME}}`` marks
    replaced by NAME's hash, so a changed asset gets a new URL and old ones can be cached for good."""
    files: dict[str, StaticFile] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix in TYPES and path.name != "index.html":
            body = path.read_bytes()
            files[path.name] = StaticFile(body, TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:16])
    index = (directory / "index.html").read_text()

    def version(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in files:
            raise ValueError(f"index.html names {name!r}, which is not a static file")
        return files[name].etag

    body = VERSIONED.sub(version, index).encode()
    files["index.html"] = StaticFile(body, "text/html", hashlib.sha256(body).hexdigest()[:16])
    return files


FILES = load_static()


class VersionQuery(Strict):
    v: str | None = None


def _serve(request: web.Request, name: str, immutable: bool) -> web.Response:
    found = FILES.get(name)
    if found is None:
        raise NotFoundError(f"no explorer file {name[:64]!r}")
    etag = f'"{found.etag}"'
    headers = {**SECURITY_HEADERS, "ETag": etag,
               "Cache-Control": "public, max-age=31536000, immutable" if immutable else "no-cache"}
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.body, content_type=found.content_type, charset="utf-8", headers=headers)


async def get_explorer(request: web.Request) -> web.Response:
    parse(EmptyQuery, dict(request.query))
    return _serve(request, "index.html", immutable=False)


async def get_static(request: web.Request) -> web.Response:
    query = parse(VersionQuery, dict(request.query))
    name = request.match_info["name"]
    found = FILES.get(name)
    return _serve(request, name, immutable=found is not None and query.v == found.etag)


def validators_document(node: Any) -> dict[str, Any]:
    """The set in effect and the genesis set (what the browser's receipt check pins)."""
    ledger = node.ledger
    status = node.status()
    view = int(status.get("view", 0))
    current = ledger.validators
    genesis = ledger.genesis
    genesis_keys = genesis.validator_keys
    header0 = ledger.store.header(0)
    interval = ledger.params.checkpoint_interval
    pending = queries.validators(ledger.state_get, pending=True)
    return {
        "chain_id": ledger.chain_id,
        "height": ledger.height,
        "view": view,
        "primary": view % len(current),
        "validators_hash": codec.digest(tuple(v.public_key for v in current)).hex(),
        "validators": [
            {"index": i, "public_key": v.public_key.hex(), "name": v.name, "organisation": v.organisation,
             "jurisdiction": v.jurisdiction}
            for i, v in enumerate(current)
        ],
        "pending": None if pending is None else [{"index": i, **v} for i, v in enumerate(pending)],
        "checkpoint_interval": interval,
        "next_checkpoint": (ledger.height // interval + 1) * interval,
        "genesis": {
            "block_hash": None if header0 is None else header0.hash_hex,
            "validators_hash": validators_hash(genesis_keys).hex(),
            "validators": [
                {"public_key": v.public_key, "name": v.name, "organisation": v.organisation,
                 "jurisdiction": v.jurisdiction}
                for v in genesis.validators
            ],
        },
    }


async def get_validators(request: web.Request) -> web.Response:
    parse(EmptyQuery, dict(request.query))
    return web.json_response(validators_document(request.app[NODE]))


def register(app: web.Application) -> None:
    app.router.add_get("/", get_explorer)
    app.router.add_get("/explorer/{name}", get_static)
    app.router.add_get("/v1/validators", get_validators)


_BAD_QUERY = {"400": {"description": "unexpected query parameter", "content": {"application/problem+json": {
    "schema": {"$ref": "#/components/schemas/Problem"}}}}}
_VALIDATOR = {"type": "object", "required": ["public_key", "name", "organisation", "jurisdiction"],
              "properties": {"index": {"type": "integer"}, "public_key": {"type": "string"},
                             "name": {"type": "string"}, "organisation": {"type": "string"},
                             "jurisdiction": {"type": "string"}}}
OPENAPI_PATHS: dict[str, Any] = {
    "/": {"get": {
        "summary": "The explorer (HTML; ADR 0025)",
        "responses": {"200": {"description": "text/html", "content": {"text/html": {}}}, **_BAD_QUERY},
    }},
    "/explorer/{name}": {"get": {
        "summary": "A static file of the explorer (JS, CSS, rules JSON)",
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                       {"name": "v", "in": "query", "schema": {"type": "string"},
                        "description": "content hash: when it matches, the file is cacheable for a year"}],
        "responses": {"200": {"description": "the file"},
                      "304": {"description": "not modified (If-None-Match)"}, **_BAD_QUERY,
                      "404": {"description": "no such file", "content": {"application/problem+json": {
                          "schema": {"$ref": "#/components/schemas/Problem"}}}}},
    }},
    "/v1/validators": {"get": {
        "summary": "The validator set in effect, view and primary, and the genesis validator set",
        "responses": {"200": {"description": "validators", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Validators"}}}}, **_BAD_QUERY},
    }},
}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Validators": {
        "type": "object", "required": ["chain_id", "height", "view", "primary", "validators", "genesis"],
        "properties": {
            "chain_id": {"type": "string"}, "height": {"type": "integer"}, "view": {"type": "integer"},
            "primary": {"type": "integer"}, "validators_hash": {"type": "string"},
            "validators": {"type": "array", "items": _VALIDATOR},
            "pending": {"type": ["array", "null"], "items": _VALIDATOR,
                        "description": "the set governance changed, in effect from next_checkpoint + 1"},
            "checkpoint_interval": {"type": "integer"}, "next_checkpoint": {"type": "integer"},
            "genesis": {"type": "object", "properties": {
                "block_hash": {"type": ["string", "null"]}, "validators_hash": {"type": "string"},
                "validators": {"type": "array", "items": _VALIDATOR}}},
        },
    },
}
