"""The explorer's static files (ADR 0025): served with caching headers and a strict CSP, from an
allow-list; ``/v1/validators``; every route in the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from chain.api import make_app
from chain.api.explorer import CSP, FILES, STATIC
from chain.config import ApiBudgets, RouteBudget
from chain.crossborder import rules as crossborder_rules
from chain.crypto import KeyPair
from chain.genesis import GENESIS_FORMAT, GenesisDoc, default_policy, parse_genesis
from chain.localnode import LocalNode

KEY = KeyPair.from_seed(b"\x01" * 32)


def genesis() -> GenesisDoc:
    return parse_genesis(
        {
            "format": GENESIS_FORMAT,
            "chain_id": "silkport-local",
            "genesis_time_ms": 1_767_225_600_000,
            "validators": [
                {"public_key": KEY.public_hex, "name": "v0", "organisation": "port", "jurisdiction": "CN"}
            ],
            "authorities": {"public_keys": [KEY.public_hex], "threshold": 1},
            "policy": default_policy(),
        }
    )


def with_client(body: Callable[[TestClient], Awaitable[None]]) -> None:
    async def run() -> None:
        node = LocalNode(genesis(), [KEY])
        node.produce_block()
        async with TestClient(TestServer(make_app(node))) as client:
            await body(client)

    asyncio.run(run())


def test_index_links_every_asset_by_its_content_hash_and_sends_a_strict_csp() -> None:
    async def body(client: TestClient) -> None:
        page = await client.get("/")
        assert page.status == 200 and page.content_type == "text/html"
        assert page.headers["Content-Security-Policy"] == CSP
        assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
        assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Cache-Control"] == "no-cache"
        text = await page.text()
        assert "{{" not in text and "<script>" not in text and "http://" not in text and "https://" not in text
        links = re.findall(r'"/explorer/([a-z.]+)\?v=([0-9a-f]{16})"', text)
        assert {name for name, _ in links} == {"style.css", "msgpack.js", "verify.js", "app.js"}
        for name, version in links:
            found = await client.get(f"/explorer/{name}?v={version}")
            assert found.status == 200 and found.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert found.headers["ETag"] == f'"{version}"'
            again = await client.get(f"/explorer/{name}", headers={"If-None-Match": f'"{version}"'})
            assert again.status == 304 and again.headers["Cache-Control"] == "no-cache"

    with_client(body)


def test_a_stale_version_is_not_cached_for_good_and_unknown_files_are_404() -> None:
    async def body(client: TestClient) -> None:
        stale = await client.get("/explorer/app.js?v=0000000000000000")
        assert stale.status == 200 and stale.headers["Cache-Control"] == "no-cache"
        for name in ("../__init__.py", "%2e%2e%2f__init__.py", "nope.js", "index.html.bak", "__init__.py"):
            response = await client.get(f"/explorer/{name}")
            assert response.status == 404, name
            assert response.content_type in ("application/problem+json", "text/plain")
        bad_query = await client.get("/explorer/app.js?x=1")
        assert bad_query.status == 400 and (await bad_query.json())["code"]
        assert (await client.get("/?x=1")).status == 400

    with_client(body)


def test_only_the_allow_list_is_served() -> None:
    served = set(FILES)
    on_disk = {p.name for p in Path(STATIC).iterdir()}
    assert served == on_disk, "every file in static/ is served, nothing else"


def test_validators_route_gives_the_set_and_the_genesis_set_to_pin() -> None:
    async def body(client: TestClient) -> None:
        response = await client.get("/v1/validators")
        assert response.status == 200
        document = await response.json()
        assert document["chain_id"] == "silkport-local" and document["primary"] == 0
        assert document["validators"] == [{"index": 0, "public_key": KEY.public_hex, "name": "v0",
                                           "organisation": "port", "jurisdiction": "CN"}]
        assert [v["public_key"] for v in document["genesis"]["validators"]] == [KEY.public_hex]
        genesis_block = await (await client.get("/v1/blocks/0")).json()
        assert document["genesis"]["block_hash"] == genesis_block["hash"]
        assert (await client.get("/v1/validators?x=1")).status == 400

    with_client(body)


def test_every_explorer_route_is_in_openapi() -> None:
    async def body(client: TestClient) -> None:
        document = await (await client.get("/openapi.json")).json()
        for path in ("/", "/explorer/{name}", "/v1/validators", "/v1/events"):
            assert path in document["paths"], path

    with_client(body)


def test_rules_json_holds_every_rule_the_engine_cites() -> None:
    rules = json.loads((STATIC / "rules.json").read_text())["rules"]
    ids = {rule["id"] for rule in rules}
    source = Path(crossborder_rules.__file__).read_text()
    cited = set(re.findall(r'"([A-Z]\d+[a-z]?)"', source))
    assert cited and cited <= ids, sorted(cited - ids)
    assert all(rule["condition"] for rule in rules)


def test_a_flood_of_explorer_requests_meets_the_read_limits() -> None:
    """The explorer's routes are ordinary ``read`` routes of ADR 0011: a flood from one address is refused
    (429 problem+json with Retry-After), and an event stream holds a read slot while it is open."""
    tight = RouteBudget(rate_per_s=0.001, burst=5, global_rate_per_s=1000, global_burst=1000,
                        in_flight_per_address=2, in_flight_global=10)

    async def run() -> None:
        node = LocalNode(genesis(), [KEY])
        async with TestClient(TestServer(make_app(node, budgets=ApiBudgets(read=tight)))) as client:
            answers = [await client.get(path) for path in ("/", "/explorer/app.js", "/v1/validators") * 3]
            codes = [a.status for a in answers]
            assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}, codes
            refused = answers[-1]
            assert refused.headers["Retry-After"] and (await refused.json())["code"] == "rate_limited"

    asyncio.run(run())


def test_an_open_event_stream_holds_a_read_slot() -> None:
    slots = RouteBudget(rate_per_s=100, burst=100, global_rate_per_s=1000, global_burst=1000,
                        in_flight_per_address=2, in_flight_global=10)

    async def run() -> None:
        node = LocalNode(genesis(), [KEY])
        async with TestClient(TestServer(make_app(node, budgets=ApiBudgets(read=slots)))) as client:
            streams = [await client.get("/v1/events") for _ in range(2)]
            assert [s.status for s in streams] == [200, 200]
            third = await client.get("/v1/validators")
            assert third.status == 503 and (await third.json())["code"] == "too_many_in_flight"
            for stream in streams:
                stream.close()

    asyncio.run(run())
