"""Routes for joining validators (ADR 0027, DESIGN.md §5 epochs); the set itself, with indices and the
pending set, is ``GET /v1/validators`` (:mod:`chain.api.explorer`).

=============================  ====================================================================
``GET /v1/sync/validators``    ``?height=H``: the trust chain of header ``H`` — the certified header
                               and every validator-set change from genesis below it, each with its
                               certificate, history and state proofs (the ``certified`` and
                               ``validator_changes`` sections of ``silkport-proof/1``, ADR 0008). A
                               joining node checks it from its genesis file
                               (:meth:`chain.proofs.verify.Verifier.validator_set_at`) before it
                               verifies a snapshot certified by a later set. Heavy class.
``POST /v1/peers/announce``    ``?p2p=HOST:PORT&api=URL``, signed by a current validator (the
                               validator-request headers of ADR 0011, which cover path and query):
                               "validator I is reached here". The node dials a higher-indexed
                               announcer at that address (the lower index dials, ADR 0010) and uses
                               its API for catch-up; the TLS link is still pinned to the validator's
                               key, so an address can only send the dial to that validator.
=============================  ====================================================================
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import Field

from chain.api.heavy import capped, off_loop
from chain.api.keys import NODE
from chain.api.models import Strict, parse
from chain.api.openapi import _problems
from chain.api.validator_auth import RequestAuthenticator
from chain.errors import NotFoundError, RequestAuthError, ValidationError

AUTHENTICATOR = web.AppKey("silkport.authenticator", RequestAuthenticator)
"""Checks validator-signed requests (set by :func:`chain.api.app.make_app`)."""
ANNOUNCE_PATH = "/v1/peers/announce"
P2P_PATTERN = r"^[A-Za-z0-9.\-\[\]:]{1,253}:[0-9]{1,5}$"
API_PATTERN = r"^https?://[A-Za-z0-9.\-\[\]:]{1,253}(:[0-9]{1,5})?$"


class TrustQuery(Strict):
    height: int = Field(ge=1, le=2**63)


class AnnounceQuery(Strict):
    p2p: str = Field(pattern=P2P_PATTERN, max_length=260)
    api: str = Field(pattern=API_PATTERN, max_length=280)


async def get_trust_chain(request: web.Request) -> web.Response:
    query = parse(TrustQuery, dict(request.query))
    head = request.app[NODE].ledger.height
    if query.height > head:
        raise NotFoundError(f"height {query.height} is above this node's head {head}", code="no_trust_chain")
    text = await off_loop(request, lambda reader: capped(json.dumps(
        reader.builder.validator_chain(query.height), separators=(",", ":"))))
    return web.Response(text=text, content_type="application/json")


async def post_announce(request: web.Request) -> web.Response:
    authenticate = request.app.get(AUTHENTICATOR)
    query = parse(AnnounceQuery, dict(request.query))
    if authenticate is None:
        raise NotFoundError("this node takes no peer announcements", code="no_announcements")
    index = authenticate(request)
    if index is None:
        raise RequestAuthError("a peer announcement must be signed by the validator it announces")
    node = request.app[NODE]
    announced = getattr(node, "peer_announced", None)
    if announced is None:
        raise NotFoundError("this node takes no peer announcements", code="no_announcements")
    if index == getattr(node, "index", -1):
        raise ValidationError("a node does not announce itself to itself", code="self_announcement")
    return web.json_response(announced(index, query.p2p, query.api.rstrip("/")))


def register(app: web.Application) -> None:
    app.router.add_get("/v1/sync/validators", get_trust_chain)
    app.router.add_post(ANNOUNCE_PATH, post_announce)


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/sync/validators": {"get": {
        "summary": "Trust chain of a header: every validator-set change from genesis (ADR 0027)",
        "parameters": [{"name": "height", "in": "query", "required": True,
                        "schema": {"type": "integer", "minimum": 1}}],
        "responses": {"200": {"description": "the certified and validator_changes sections of silkport-proof/1",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      **_problems(400, 404)},
    }},
    ANNOUNCE_PATH: {"post": {
        "summary": "A validator announces its peer and API addresses (signed request, ADR 0027)",
        "parameters": [{"name": "p2p", "in": "query", "required": True, "schema": {"type": "string"}},
                       {"name": "api", "in": "query", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "accepted: {index, p2p, dialling}",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      **_problems(400, 401, 404)},
    }},
}
