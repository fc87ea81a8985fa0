"""``PUT /v1/assets/{id}/data``: owner-signed, streamed, verified uploads (issue 14; ADR 0018).

Each abuse case checks the refusal is problem+json and that nothing was stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_api_assets import Port, problem

from chain.api import make_app
from chain.api.routes_data import DATA as DATA_PLANE
from chain.dataplane import chunks, requests
from chain.dataplane.store import ContentStore
from testkit.contracts import BUYER, OWNER

Client = TestClient[web.Request, web.Application]
CHUNK = 1024
DATA = bytes((i * 31) % 256 for i in range(CHUNK * 5 + 77))
SUMMARY = chunks.summarize([DATA], CHUNK)
NOW_MS = 1_800_000_000_000


def _setup(tmp_path: Path, *, layout: bool = True, free: int | None = None) -> tuple[Port, str, ContentStore]:
    port = Port()
    extra = {"chunk_root": SUMMARY.chunk_root, "chunk_size": CHUNK} if layout else {}
    asset_id = port.register(DATA, **extra)
    store = ContentStore(tmp_path, free_bytes=(lambda _p: free) if free is not None else None)
    return port, asset_id, store


def _serve(port: Port, store: ContentStore, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        app = make_app(port.node, rate_limit=None, content_store=store)
        app[DATA_PLANE].now_ms = lambda: NOW_MS
        async with TestClient(TestServer(app)) as client:
            await body(client)

    asyncio.run(main())


def _headers(port: Port, asset_id: str, key: Any = OWNER, valid_until: int = NOW_MS + 60_000,
             root: bytes = SUMMARY.chunk_root, size: int = len(DATA)) -> dict[str, str]:
    return requests.put_headers(key, port.node.chain_id, asset_id, root, size, valid_until)


async def _pieces(data: bytes, piece: int = 700) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


def test_owner_uploads_streamed_content_and_it_is_stored_encrypted(tmp_path: Path) -> None:
    port, asset_id, store = _setup(tmp_path)

    async def body(client: Client) -> None:
        response = await client.put(f"/v1/assets/{asset_id}/data", data=_pieces(DATA), headers=_headers(port, asset_id))
        assert response.status == 201, await response.text()
        document = await response.json()
        assert document["chunk_root"] == SUMMARY.chunk_root.hex() and document["chunks"] == 6
        status = await (await client.get(f"/v1/assets/{asset_id}/data")).json()
        assert status["stored"] is True and status["size"] == len(DATA)
        again = await client.put(f"/v1/assets/{asset_id}/data", data=DATA, headers=_headers(port, asset_id))
        await problem(again, 400, "content_exists")  # a replayed upload changes nothing

    _serve(port, store, body)
    assert b"".join(store.read_chunk(asset_id, i) for i in range(6)) == DATA


def test_wrong_bytes_truncated_and_oversized_bodies_store_nothing(tmp_path: Path) -> None:
    port, asset_id, store = _setup(tmp_path)
    altered = bytearray(DATA)
    altered[CHUNK * 2 + 5] ^= 0xFF

    async def body(client: Client) -> None:
        url = f"/v1/assets/{asset_id}/data"
        await problem(await client.put(url, data=_pieces(bytes(altered)), headers=_headers(port, asset_id)),
                      400, "content_mismatch")
        await problem(await client.put(url, data=_pieces(DATA[:-10]), headers=_headers(port, asset_id)),
                      400, "content_mismatch")
        await problem(await client.put(url, data=_pieces(DATA + b"extra"), headers=_headers(port, asset_id)),
                      400, "content_mismatch")
        await problem(await client.put(url, data=DATA[:-1], headers=_headers(port, asset_id)),
                      400, "content_mismatch")  # Content-Length differs: refused before reading
        status = await (await client.get(url)).json()
        assert status["stored"] is False

    _serve(port, store, body)
    assert not store.has(asset_id)
    assert list((tmp_path / "content" / "incoming").iterdir()) == []


def test_bad_signatures_non_owners_and_stale_requests_are_refused(tmp_path: Path) -> None:
    port, asset_id, store = _setup(tmp_path)

    async def body(client: Client) -> None:
        url = f"/v1/assets/{asset_id}/data"
        await problem(await client.put(url, data=DATA), 400, "bad_signer")
        await problem(await client.put(url, data=DATA, headers=_headers(port, asset_id, key=BUYER)), 403, "not_owner")
        forged = _headers(port, asset_id)
        forged[requests.SIGNATURE] = "00" * 64
        await problem(await client.put(url, data=DATA, headers=forged), 400, "bad_signature")
        other_root = _headers(port, asset_id, root=b"\x01" * 32)  # signed for other content: does not verify
        await problem(await client.put(url, data=DATA, headers=other_root), 400, "bad_signature")
        await problem(await client.put(url, data=DATA, headers=_headers(port, asset_id, valid_until=NOW_MS - 1)),
                      400, "expired_request")
        far = _headers(port, asset_id, valid_until=NOW_MS + requests.MAX_VALIDITY_MS + 1)
        await problem(await client.put(url, data=DATA, headers=far), 400, "bad_validity")
        bad_time = {**_headers(port, asset_id), requests.VALID_UNTIL: "-5"}
        await problem(await client.put(url, data=DATA, headers=bad_time), 400, "bad_validity")

    _serve(port, store, body)
    assert not store.has(asset_id)


def test_path_tricks_unknown_assets_missing_layout_and_full_disk(tmp_path: Path) -> None:
    port, asset_id, store = _setup(tmp_path, layout=False, free=10)
    known = port.register(b"other", chunk_root=chunks.summarize([b"other"], CHUNK).chunk_root, chunk_size=CHUNK)

    async def body(client: Client) -> None:
        for name in ("..%2F..%2Fetc", "AB" * 32, "ab" * 31):
            await problem(await client.put(f"/v1/assets/{name}/data", data=b"x"), 400, "bad_asset_id")
        await problem(await client.put(f"/v1/assets/{'cd' * 32}/data", data=b"x"), 404, "unknown_asset")
        await problem(await client.put(f"/v1/assets/{asset_id}/data", data=DATA, headers=_headers(port, asset_id)),
                      400, "no_layout")
        headers = requests.put_headers(OWNER, port.node.chain_id, known, chunks.summarize([b"other"], CHUNK).chunk_root,
                                       5, NOW_MS + 1000)
        document = await problem(await client.put(f"/v1/assets/{known}/data", data=b"other", headers=headers),
                                 507, "disk_full")
        assert "no room" in document["detail"]

    _serve(port, store, body)
    assert not store.has(known) and not store.has(asset_id)


def test_without_a_content_store_the_route_does_not_exist(tmp_path: Path) -> None:
    port, asset_id, _ = _setup(tmp_path)

    async def main() -> None:
        async with TestClient(TestServer(make_app(port.node, rate_limit=None))) as client:
            response = await client.put(f"/v1/assets/{asset_id}/data", data=DATA)
            assert response.status in (404, 405)

    asyncio.run(main())


def test_a_stalled_upload_is_dropped_and_stores_nothing(tmp_path: Path) -> None:
    port, asset_id, store = _setup(tmp_path)

    async def trickle() -> AsyncIterator[bytes]:
        yield DATA[:500]
        await asyncio.sleep(2)  # the server's idle limit is 0.1 s in this test
        yield DATA[500:]

    async def main() -> None:
        app = make_app(port.node, rate_limit=None, content_store=store)
        app[DATA_PLANE].now_ms = lambda: NOW_MS
        app[DATA_PLANE].upload_idle_s = 0.1
        async with TestClient(TestServer(app)) as client:
            try:
                response = await client.put(f"/v1/assets/{asset_id}/data", data=trickle(),
                                            headers=_headers(port, asset_id))
                await problem(response, 400, "upload_stalled")
            except aiohttp.ClientError:
                pass  # the server may answer and close while the client is still sending
            status = await (await client.get(f"/v1/assets/{asset_id}/data")).json()
            assert status["stored"] is False

    asyncio.run(main())
    assert not store.has(asset_id)
    assert list((tmp_path / "content" / "incoming").iterdir()) == []
