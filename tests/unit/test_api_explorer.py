"""The explorer page is served and points at the API it polls."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from chain.api import make_app
from chain.localnode import LocalNode

from .test_localnode import KEYS, genesis


def test_explorer_page_is_served_and_listed_in_openapi() -> None:
    async def run() -> None:
        node = LocalNode(genesis(), KEYS)
        async with TestClient(TestServer(make_app(node))) as client:
            page = await client.get("/")
            assert page.status == 200 and page.content_type == "text/html"
            text = await page.text()
            assert "/v1/status" in text and "/v1/blocks/" in text
            document = await (await client.get("/openapi.json")).json()
            assert "/" in document["paths"]

    asyncio.run(run())
