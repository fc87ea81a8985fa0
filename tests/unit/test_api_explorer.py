"""The explorer page is served and points at the API it polls."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from chain.api import make_app
from chain.crypto import KeyPair
from chain.genesis import GENESIS_FORMAT, default_policy, parse_genesis
from chain.localnode import LocalNode

KEY = KeyPair.from_seed(b"\x01" * 32)


def genesis():  # type: ignore[no-untyped-def]
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


def test_explorer_page_is_served_and_listed_in_openapi() -> None:
    async def run() -> None:
        node = LocalNode(genesis(), [KEY])
        async with TestClient(TestServer(make_app(node))) as client:
            page = await client.get("/")
            assert page.status == 200 and page.content_type == "text/html"
            text = await page.text()
            assert "/v1/status" in text and "/v1/blocks/" in text
            document = await (await client.get("/openapi.json")).json()
            assert "/" in document["paths"]

    asyncio.run(run())
