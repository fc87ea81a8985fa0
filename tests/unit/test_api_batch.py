"""``POST /v1/txs/batch`` (ADR 0023) against the in-memory node: per-item results, bounds, and abuse —
oversize, malformed items among good ones, duplicates, replays, floods over the rate limit."""

from __future__ import annotations

import json
from typing import Any

import msgpack
from test_api_routes import CHAIN, Client, expect_problem, serve

from chain import codec
from chain.api import RateLimit
from chain.api.memory_node import MemoryNode
from chain.api.routes_batch import MAX_BATCH_TXS, decode_msgpack_batch
from chain.client import ApiError, batch_outcomes, encode_batch
from chain.crypto import KeyPair
from chain.errors import DecodeError, OversizeError
from chain.types import SignedTx, make_tx

MSGPACK = {"Content-Type": "application/msgpack"}


def signed(nonce: int, key: KeyPair | None = None) -> SignedTx:
    key = key or KeyPair.from_seed(nonce.to_bytes(4, "big") * 8)
    args = {"label": f"b{nonce}", "hashes": [nonce.to_bytes(32, "big")]}
    return make_tx(CHAIN, "anchoring", "anchor", args, [key], nonce)


def post(client: Client, body: bytes, headers: dict[str, str] = MSGPACK) -> Any:
    return client.post("/v1/txs/batch", data=body, headers=headers)


def test_a_batch_admits_every_good_item_and_answers_in_order() -> None:
    txs = [signed(i) for i in range(1, 6)]

    async def body(client: Client, node: MemoryNode) -> None:
        response = await post(client, encode_batch(txs))
        assert response.status == 200, await response.text()
        answer = await response.json()
        assert answer["accepted"] == 5 and answer["rejected"] == 0
        assert batch_outcomes(answer) == [tx.tx_id for tx in txs]
        assert all(tx.tx_hash in node.txs for tx in txs)

    serve(body)


def test_a_malformed_item_among_good_ones_is_refused_alone() -> None:
    good = [signed(1), signed(2)]
    forged = SignedTx(body=signed(3).body, signatures=(bytes(64),))  # a valid shape, a bad signature
    items = [good[0].encode(), b"\x93\x01\x02", forged.encode(), good[1].encode()]

    async def body(client: Client, node: MemoryNode) -> None:
        response = await post(client, codec.encode(items))
        answer = await response.json()
        assert response.status == 200 and answer["accepted"] == 2 and answer["rejected"] == 2
        outcomes = batch_outcomes(answer)
        assert outcomes[0] == good[0].tx_id and outcomes[3] == good[1].tx_id
        assert isinstance(outcomes[1], ApiError) and outcomes[1].status == 400
        assert isinstance(outcomes[2], ApiError) and outcomes[2].code == "bad_signature"
        assert forged.tx_hash not in node.txs

    serve(body)


def test_duplicates_in_a_batch_and_replays_of_a_batch_are_refused_per_item() -> None:
    tx = signed(1)

    async def body(client: Client, node: MemoryNode) -> None:
        answer = await (await post(client, encode_batch([tx, tx]))).json()
        assert answer["accepted"] == 1
        assert answer["results"][1]["error"]["code"] == "duplicate_in_batch"
        assert answer["results"][1]["error"]["status"] == 409
        replay = await (await post(client, encode_batch([tx]))).json()  # the same batch again
        assert replay["accepted"] == 0 and replay["results"][0]["error"]["status"] == 409
        assert len(node.pending) == 1

    serve(body)


def test_oversize_batches_are_refused_whole_before_any_item_is_admitted() -> None:
    too_many = codec.encode([b"x"] * (MAX_BATCH_TXS + 1))

    async def body(client: Client, node: MemoryNode) -> None:
        await expect_problem(await post(client, too_many), 413, "batch_too_large")
        big = encode_batch([signed(1)]) + b"\x00" * 70_000  # over client_max_size
        await expect_problem(await post(client, big), 413, "oversize")
        assert not node.txs

    serve(body, max_body_bytes=64 * 1024)


def test_malformed_envelopes_are_refused_whole() -> None:
    tx = signed(1)
    envelopes = [
        b"",  # empty
        b"\xc1",  # never-used msgpack byte
        codec.encode([]),  # no items
        codec.encode(tx.encode()),  # a single tx, not an array
        codec.encode([tx.encode(), 7]),  # an item that is not bytes
        codec.encode([tx.encode()]) + b"\x00",  # trailing bytes
        msgpack.packb([tx.encode(), {"a": 1}]),  # a map item
        b"\xdd\xff\xff\xff\xff",  # an array header claiming 4 billion items
    ]

    async def body(client: Client, node: MemoryNode) -> None:
        for envelope in envelopes:
            response = await post(client, envelope)
            assert response.status in (400, 413), (envelope[:8], response.status)
            assert response.content_type == "application/problem+json"
        await expect_problem(await post(client, b"[]", {"Content-Type": "text/plain"}), 415, "unsupported_media_type")
        assert not node.txs

    serve(body)


def test_json_batches() -> None:
    txs = [signed(1), signed(2)]

    async def body(client: Client, node: MemoryNode) -> None:
        document = {"txs": [tx.encode().hex() for tx in txs]}
        response = await post(client, json.dumps(document).encode(), {"Content-Type": "application/json"})
        assert (await response.json())["accepted"] == 2
        for bad in ({"txs": "ab"}, {"txs": [1]}, {"txs": ["zz"]}, {"txs": [], "x": 1}, [1, 2], {"txs": []}):
            response = await post(client, json.dumps(bad).encode(), {"Content-Type": "application/json"})
            await expect_problem(response, 400, "decode_error")
        assert len(node.txs) == 2

    serve(body)


def test_a_flood_is_charged_per_transaction_not_per_request() -> None:
    now = [0.0]
    txs = [signed(i) for i in range(1, 8)]

    async def body(client: Client, node: MemoryNode) -> None:
        response = await post(client, encode_batch(txs[:5]))  # burst 3: three admitted, two over the rate
        answer = await response.json()
        assert answer["accepted"] == 3 and response.headers["Retry-After"] == "1"
        assert [r["error"]["code"] for r in answer["results"][3:]] == ["rate_limited", "rate_limited"]
        await expect_problem(await post(client, encode_batch(txs[5:])), 429, "rate_limited")
        now[0] += 2.0  # two tokens back
        assert (await (await post(client, encode_batch(txs[5:]))).json())["accepted"] == 2
        assert len(node.txs) == 5

    serve(body, rate_limit=RateLimit(rate_per_s=1.0, burst=3), clock=lambda: now[0])


def test_decode_reads_the_count_before_the_items() -> None:
    assert decode_msgpack_batch(codec.encode([b"a", b"b"])) == [b"a", b"b"]
    try:
        decode_msgpack_batch(b"\xdd\x00\x01\x00\x00")  # 65,536 items claimed, none sent
    except OversizeError as exc:
        assert exc.code == "batch_too_large"
    else:
        raise AssertionError("an oversize count was accepted")
    for bad in (b"\x91", b"\x92\xc4\x01a"):  # items missing
        try:
            decode_msgpack_batch(bad)
        except DecodeError:
            continue
        raise AssertionError(f"{bad!r} decoded")


def test_a_long_batch_yields_between_items_and_still_answers_every_item_in_order() -> None:
    txs = [signed(i) for i in range(1, 151)]
    items = [*txs, txs[3]]  # a duplicate after two yields

    async def body(client: Client, node: MemoryNode) -> None:
        answer = await (await post(client, encode_batch(items))).json()
        assert answer["accepted"] == 150 and len(answer["results"]) == 151
        assert [r.get("tx_id") for r in answer["results"][:150]] == [tx.tx_id for tx in txs]
        assert answer["results"][150]["error"]["code"] == "duplicate_in_batch"

    serve(body)
