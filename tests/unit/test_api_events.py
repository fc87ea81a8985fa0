"""``GET /v1/events`` (ADR 0025): one broadcaster, head events on change, heartbeats, and the abuse
limits — streams per address and in total, a client that does not read is dropped, a query is refused."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chain.api import events, make_app
from chain.api.events import FEED, EventLimits, encode_event
from chain.crypto import KeyPair
from chain.genesis import GENESIS_FORMAT, default_policy, parse_genesis
from chain.localnode import LocalNode

KEY = KeyPair.from_seed(b"\x02" * 32)
FAST = EventLimits(per_address=2, total=3, queue_size=2, write_timeout_s=0.5, heartbeat_s=0.2, sample_s=0.02,
                   max_age_s=30.0)


def make_node() -> LocalNode:
    doc = parse_genesis({
        "format": GENESIS_FORMAT, "chain_id": "silkport-local", "genesis_time_ms": 1_767_225_600_000,
        "validators": [{"public_key": KEY.public_hex, "name": "v0", "organisation": "port", "jurisdiction": "CN"}],
        "authorities": {"public_keys": [KEY.public_hex], "threshold": 1}, "policy": default_policy(),
    })
    return LocalNode(doc, [KEY])


def run_with(limits: EventLimits, body: Callable[[TestClient, LocalNode, web.Application], Awaitable[None]]) -> None:
    async def run() -> None:
        node = make_node()
        app = make_app(node)
        app[events.EVENT_LIMITS] = limits  # read by the feed when the app starts
        async with TestClient(TestServer(app)) as client:
            await body(client, node, app)

    asyncio.run(run())


async def read_event(stream: Any, name: str = "head", timeout: float = 10) -> dict[str, Any]:
    """The data of the next event called ``name`` (skipping comments and other fields)."""
    event = None
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode()
            assert line, "the stream ended"
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: ") and event == name:
                return dict(json.loads(line[6:]))


def test_frame_format_is_one_json_data_line() -> None:
    frame = encode_event("head", {"height": 3, "view": 0}, 7)
    assert frame == b'id: 7\nevent: head\ndata: {"height":3,"view":0}\n\n'


def test_stream_sends_the_head_at_once_then_each_new_height() -> None:
    async def body(client: TestClient, node: LocalNode, app: web.Application) -> None:
        response = await client.get("/v1/events")
        assert response.status == 200 and response.content_type == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-store"
        first = await read_event(response.content)
        assert first["height"] == 0 and first["view"] == 0 and first["primary"] == 0
        node.produce_block()
        assert (await read_event(response.content))["height"] == 1
        node.produce_block()
        node.produce_block()
        assert (await read_event(response.content))["height"] in (2, 3)
        response.close()

    run_with(FAST, body)


def test_heartbeat_comments_flow_while_nothing_changes() -> None:
    async def body(client: TestClient, node: LocalNode, app: web.Application) -> None:
        response = await client.get("/v1/events")
        await read_event(response.content)
        async with asyncio.timeout(10):
            while (await response.content.readline()) != b": heartbeat\n":
                pass
        response.close()

    run_with(FAST, body)


def test_streams_are_bounded_per_address_and_in_total() -> None:
    async def body(client: TestClient, node: LocalNode, app: web.Application) -> None:
        open_streams = [await client.get("/v1/events") for _ in range(FAST.per_address)]
        assert all(r.status == 200 for r in open_streams)
        refused = await client.get("/v1/events")
        assert refused.status == 429 and refused.headers["Retry-After"]
        assert (await refused.json())["code"] == "too_many_streams_from_address"
        feed = app[FEED]
        other = feed.admit("192.0.2.9")  # a second address takes the last slot in total
        assert isinstance(other, events.Subscriber)
        assert len(feed.subscribers) == FAST.total
        third = feed.admit("192.0.2.10")
        assert isinstance(third, web.Response) and third.status == 503
        assert feed.refused == {"per_address": 1, "total": 1}
        feed.leave(other)
        for r in open_streams:
            r.close()
        async with asyncio.timeout(10):  # closed streams give their slots back
            while feed.subscribers:
                await asyncio.sleep(0.02)
        again = await client.get("/v1/events")
        assert again.status == 200
        again.close()

    run_with(FAST, body)


def test_a_client_that_does_not_read_is_dropped() -> None:
    async def body(client: TestClient, node: LocalNode, app: web.Application) -> None:
        server = client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        feed = app[FEED]
        async with asyncio.timeout(10):
            while not feed.subscribers:
                await asyncio.sleep(0.01)
        subscriber = next(iter(feed.subscribers))
        for _ in range(FAST.queue_size + 1):  # events arrive faster than the client takes them
            subscriber.offer(b": filler\n\n")
        async with asyncio.timeout(10):
            while feed.subscribers:
                await asyncio.sleep(0.01)
        assert feed.dropped_slow == 1
        writer.close()

    run_with(FAST, body)


def test_a_stalled_socket_is_dropped_after_the_write_timeout() -> None:
    async def body(client: TestClient, node: LocalNode, app: web.Application) -> None:
        server = client.server
        reader, writer = await asyncio.open_connection(server.host, server.port, limit=1024)
        sock = writer.get_extra_info("socket")
        import socket

        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        writer.transport.pause_reading()  # type: ignore[attr-defined]
        writer.write(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        feed = app[FEED]
        async with asyncio.timeout(10):
            while not feed.subscribers:
                await asyncio.sleep(0.01)
        big = encode_event("head", {"pad": "x" * 60_000}, 1)
        async with asyncio.timeout(20):  # the kernel buffers fill, a write blocks past its timeout
            while feed.subscribers:
                for subscriber in list(feed.subscribers):
                    if subscriber.queue.empty():
                        subscriber.offer(big)
                await asyncio.sleep(0.05)
        assert feed.dropped_slow >= 1
        writer.close()

    run_with(FAST, body)


def test_a_query_or_garbage_is_refused_and_the_feed_survives() -> None:
    async def body(client: TestClient, node: LocalNode, app: web.Application) -> None:
        refused = await client.get("/v1/events?since=0")
        assert refused.status == 400
        assert (await client.post("/v1/events", data=b"\x00\xff")).status == 405
        server = client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n\xff\xfe")
        await writer.drain()
        async with asyncio.timeout(10):
            assert re.match(rb"HTTP/1\.[01] 400", await reader.read(12))
        writer.close()
        ok = await client.get("/v1/events")
        assert ok.status == 200 and (await read_event(ok.content))["height"] == 0
        ok.close()

    run_with(FAST, body)


def test_a_failing_status_read_does_not_end_the_feed() -> None:
    async def body(client: TestClient, node: LocalNode, app: web.Application) -> None:
        response = await client.get("/v1/events")
        await read_event(response.content)
        real = node.status
        node.status = lambda: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[method-assign]
        await asyncio.sleep(FAST.sample_s * 5)
        node.status = real  # type: ignore[method-assign]
        node.produce_block()
        assert (await read_event(response.content))["height"] == 1
        response.close()

    run_with(FAST, body)


def test_a_new_stream_starts_at_the_head_now_not_at_the_last_sample() -> None:
    async def body(client: TestClient, node: LocalNode, app: web.Application) -> None:
        await asyncio.sleep(0.05)  # the broadcaster's first sample: height 0; the next is a minute away
        node.produce_block()
        node.produce_block()
        response = await client.get("/v1/events")
        assert (await read_event(response.content))["height"] == 2
        response.close()

    run_with(EventLimits(sample_s=60.0, heartbeat_s=60.0), body)


def test_shutdown_ends_open_streams_instead_of_waiting_for_them() -> None:
    """aiohttp waits up to 60 s for running handlers when a runner is cleaned up; an open stream must not
    hold a node's shutdown (the deadline below is far shorter than that wait)."""

    async def run() -> None:
        node = make_node()
        app = make_app(node)
        app[events.EVENT_LIMITS] = FAST
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(10):
            while not app[FEED].subscribers:
                await asyncio.sleep(0.01)
        async with asyncio.timeout(20):
            await runner.cleanup()
            while await reader.read(65536):  # the server closed the stream
                pass
        assert not app[FEED].subscribers and app[FEED].dropped_slow == 0
        writer.close()

    asyncio.run(run())
