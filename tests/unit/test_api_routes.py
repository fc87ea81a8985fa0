"""REST API against the in-memory node twin, through aiohttp's test server (chain/api)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chain import codec
from chain.api import RateLimit, make_app
from chain.api.jsonwire import tx_to_json
from chain.api.memory_node import MemoryNode
from chain.crypto import KeyPair
from chain.types import Block, CommitCertificate, SignedTx, make_tx

CHAIN = "silkport-test"
ALICE = KeyPair.from_seed(b"\x01" * 32)
BOB = KeyPair.from_seed(b"\x02" * 32)
CONTRACTS = {"anchoring": ["anchor"], "registry": ["register_asset", "transfer"]}
Client = TestClient[web.Request, web.Application]


def tx(
    nonce: int = 1, *, chain_id: str = CHAIN, contract: str = "anchoring", method: str = "anchor"
) -> SignedTx:
    args = {"label": "batch-1", "hashes": [b"\xaa" * 32], "meta": {"count": 1, "ok": True, "note": None}}
    return make_tx(chain_id, contract, method, args, [ALICE], nonce)


def serve(body: Callable[[Client, MemoryNode], Awaitable[None]], **app_kwargs: Any) -> None:
    node = MemoryNode(CHAIN, contracts=CONTRACTS)
    app_kwargs.setdefault("rate_limit", None)

    async def main() -> None:
        async with TestClient(TestServer(make_app(node, **app_kwargs))) as client:
            await body(client, node)

    asyncio.run(main())


async def expect_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    problem: dict[str, Any] = await response.json(content_type=None)
    assert problem["type"] == f"https://silkport.dev/problems/{code}"
    assert problem["code"] == code and problem["status"] == status
    assert problem["title"] and problem["detail"]
    return problem


def post_msgpack(client: Client, data: bytes) -> Any:
    return client.post("/v1/txs", data=data, headers={"Content-Type": "application/msgpack"})


def test_status_and_metrics() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        response = await client.get("/v1/status")
        assert response.status == 200
        status = await response.json()
        assert status["chain_id"] == CHAIN and status["height"] == 0
        for key in ("node_id", "view", "primary", "last_block_hash", "peers_connected", "mempool_size"):
            assert key in status
        metrics = await client.get("/metrics")
        assert metrics.status == 200 and metrics.content_type == "text/plain"
        assert "silkport_height 0" in await metrics.text()
        await expect_problem(await client.get("/v1/status?verbose=1"), 400, "invalid")

    serve(body)


def test_submit_msgpack_then_show_pending_committed_and_wait() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        signed = tx()
        response = await post_msgpack(client, signed.encode())
        assert response.status == 202
        assert await response.json() == {"tx_id": signed.tx_id}
        info = await (await client.get(f"/v1/txs/{signed.tx_id}")).json()
        assert info["status"] == "pending" and info["tx"] == tx_to_json(signed)

        second = tx(2)
        await post_msgpack(client, second.encode())
        asyncio.get_running_loop().call_later(0.05, node.commit)
        waited = await client.get(f"/v1/txs/{second.tx_id}?wait=commit&timeout=10")
        info = await waited.json()
        assert info["status"] == "committed" and info["height"] == 1 and info["index"] == 1
        assert info["receipt"]["ok"] is True

    serve(body)


def test_submit_json_hex_and_readable_forms() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        first, second = tx(1), tx(2)
        response = await client.post("/v1/txs", json={"tx": first.encode().hex()})
        assert response.status == 202 and (await response.json())["tx_id"] == first.tx_id
        response = await client.post("/v1/txs", json=tx_to_json(second))
        assert response.status == 202 and (await response.json())["tx_id"] == second.tx_id
        assert node.pending == [first.tx_hash, second.tx_hash]

    serve(body)


def test_malformed_bodies_are_400_problems() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        bad_json = await client.post(
            "/v1/txs", data=b"{not json", headers={"Content-Type": "application/json"}
        )
        await expect_problem(bad_json, 400, "decode_error")
        nan = await client.post("/v1/txs", data=b'{"tx": NaN}', headers={"Content-Type": "application/json"})
        await expect_problem(nan, 400, "decode_error")
        await expect_problem(await post_msgpack(client, b"\xc1garbage"), 400, "decode_error")
        await expect_problem(await post_msgpack(client, tx().encode() + b"\x00"), 400, "decode_error")
        extra = tx_to_json(tx())
        extra["body"]["fee"] = 1
        problem = await expect_problem(await client.post("/v1/txs", json=extra), 400, "invalid")
        assert "fee" in problem["detail"]
        floaty = tx_to_json(tx())
        floaty["body"]["args"]["amount"] = 1.5
        problem = await expect_problem(await client.post("/v1/txs", json=floaty), 400, "invalid")
        assert "float" in problem["detail"]
        string_nonce = tx_to_json(tx())
        string_nonce["body"]["nonce"] = "1"
        problem = await expect_problem(await client.post("/v1/txs", json=string_nonce), 400, "invalid")
        assert "nonce" in problem["detail"]
        await expect_problem(await client.post("/v1/txs", json={"tx": "zz"}), 400, "invalid")
        plain = await client.post("/v1/txs", data=b"hello", headers={"Content-Type": "text/plain"})
        await expect_problem(plain, 415, "unsupported_media_type")
        assert node.pending == []

    serve(body)


def test_oversize_body_is_413() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        response = await post_msgpack(client, b"\x00" * 5000)
        await expect_problem(response, 413, "oversize")

    serve(body, max_body_bytes=1000)


def test_facade_refusals_say_which_check_failed() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        good = tx(5)
        forged = SignedTx(body=good.body, signatures=(BOB.sign(good.signing_bytes()),))
        problem = await expect_problem(await post_msgpack(client, forged.encode()), 400, "bad_signature")
        assert "signature" in problem["detail"]
        await expect_problem(await post_msgpack(client, tx(chain_id="other").encode()), 400, "wrong_chain")
        await expect_problem(
            await post_msgpack(client, tx(contract="casino").encode()), 400, "unknown_contract"
        )
        await expect_problem(await post_msgpack(client, tx(method="burn").encode()), 400, "unknown_method")
        assert (await post_msgpack(client, good.encode())).status == 202
        await expect_problem(await post_msgpack(client, good.encode()), 409, "duplicate_tx")
        await expect_problem(await post_msgpack(client, tx(3).encode()), 400, "stale_nonce")
        node.mempool_limit = 1
        full = await post_msgpack(client, tx(6).encode())
        await expect_problem(full, 503, "mempool_full")
        assert full.headers["Retry-After"] == "1"

    serve(body)


def test_unexpected_error_is_500_without_leak() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        def explode() -> dict[str, Any]:
            raise RuntimeError("secret path /home/node/key.json")

        node.status = explode  # type: ignore[method-assign]
        problem = await expect_problem(await client.get("/v1/status"), 500, "internal")
        assert "secret" not in problem["detail"] and "Traceback" not in problem["detail"]

    serve(body)


def test_tx_lookup_errors() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        await expect_problem(await client.get("/v1/txs/" + "ab" * 32), 404, "not_found")
        await expect_problem(await client.get("/v1/txs/xyz"), 400, "bad_tx_id")
        problem = await expect_problem(
            await client.get("/v1/txs/" + "ab" * 32 + "?wait=commit&timeout=99"), 400, "invalid"
        )
        assert "timeout" in problem["detail"]
        await expect_problem(await client.get("/v1/txs/" + "ab" * 32 + "?wait=forever"), 400, "invalid")

    serve(body)


def test_blocks_and_sync() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        await expect_problem(await client.get("/v1/blocks/latest"), 404, "not_found")
        signed = tx()
        node.submit_tx(signed)
        first = node.commit(timestamp_ms=1_000)
        node.commit(timestamp_ms=2_000)
        latest = await (await client.get("/v1/blocks/latest")).json()
        assert latest["height"] == 2 and latest["prev_hash"] == first.block_hash.hex()
        one = await (await client.get("/v1/blocks/1")).json()
        assert one["hash"] == first.block_hash.hex() and one["tx_ids"] == [signed.tx_id]
        assert one["certificate"]["block_hash"] == one["hash"]
        await expect_problem(await client.get("/v1/blocks/7"), 404, "not_found")
        await expect_problem(await client.get("/v1/blocks/-1"), 400, "bad_height")

        response = await client.get("/v1/sync/blocks?from=1&to=5")
        assert response.status == 200 and response.content_type == "application/msgpack"
        raw = codec.decode(await response.read())
        assert len(raw) == 2
        block_wire, certificate_wire = codec.decode(raw[0])
        assert Block.from_wire(block_wire) == first
        assert CommitCertificate.from_wire(certificate_wire).block_hash == first.block_hash
        await expect_problem(await client.get("/v1/sync/blocks?from=5&to=1"), 400, "invalid")
        await expect_problem(await client.get("/v1/sync/blocks?from=1"), 400, "invalid")
        await expect_problem(await client.get("/v1/sync/blocks?from=0&to=5000"), 400, "invalid")

    serve(body)


def test_unknown_route_and_method_are_problems() -> None:
    async def body(client: Client, node: MemoryNode) -> None:
        await expect_problem(await client.get("/v2/nothing"), 404, "not_found")
        response = await client.delete("/v1/status")
        await expect_problem(response, 405, "method_not_allowed")
        assert "GET" in response.headers["Allow"]

    serve(body)


def test_rate_limit_on_submissions() -> None:
    now = [100.0]

    async def body(client: Client, node: MemoryNode) -> None:
        assert (await post_msgpack(client, tx(1).encode())).status == 202
        assert (await post_msgpack(client, tx(2).encode())).status == 202
        limited = await post_msgpack(client, tx(3).encode())
        await expect_problem(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) >= 1
        assert (await client.get("/v1/status")).status == 200  # reads are not limited
        now[0] += 1.0
        assert (await post_msgpack(client, tx(3).encode())).status == 202

    serve(body, rate_limit=RateLimit(rate_per_s=1.0, burst=2), clock=lambda: now[0])


def test_rate_per_second_shorthand() -> None:
    from chain.api.keys import TX_RATE

    buckets = make_app(MemoryNode(CHAIN), rate_per_second=5)[TX_RATE]
    assert buckets is not None and buckets.limit.rate_per_s == 5 and buckets.limit.burst == 10
    assert make_app(MemoryNode(CHAIN), rate_per_second=0)[TX_RATE] is None


def test_openapi_describes_every_route() -> None:
    node = MemoryNode(CHAIN)
    app = make_app(node)

    async def main() -> None:
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/openapi.json")
            assert response.status == 200
            document = await response.json()
        assert document["openapi"].startswith("3.1")
        for route in app.router.routes():
            if route.method == "HEAD":
                continue
            path = route.resource.canonical if route.resource is not None else ""
            assert path in document["paths"], path
            assert route.method.lower() in document["paths"][path], (path, route.method)
        assert "/p2p" not in document["paths"]  # peers have their own port (ADR 0010)
        schemas = document["components"]["schemas"]
        for name in ("Problem", "Status", "TxReadable", "TxHex", "TxInfo", "Block"):
            assert name in schemas

    asyncio.run(main())
