"""PeerNetwork on loopback: real aiohttp servers on ephemeral ports (chain/net/transport.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from chain import codec
from chain.crypto import KeyPair, Signer
from chain.net import CHANNEL_CONSENSUS, CHANNEL_TX, PeerNetwork
from chain.net.handshake import decode_hello, encode_auth, encode_hello

CHAIN = "silkport-test"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(3)]
VALIDATORS = [k.public_key for k in KEYS]
LOG = logging.getLogger("test.net")


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


async def until(condition: Callable[[], bool], what: str = "condition") -> None:
    """Wait (bounded) until ``condition()`` holds; behaviour, not timing, is what tests assert."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def bound_socket(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class Node:
    """One PeerNetwork served by its own aiohttp server; records every frame it receives."""

    def __init__(self, index: int, sock: socket.socket, urls: dict[int, str], **kwargs: Any) -> None:
        self.index = index
        self.sock = sock
        self.received: list[tuple[int, int, bytes]] = []
        keypair = kwargs.pop("keypair", KEYS[index])
        validators = kwargs.pop("validators", VALIDATORS)
        chain_id = kwargs.pop("chain_id", CHAIN)
        kwargs.setdefault("backoff_min_s", 0.02)
        kwargs.setdefault("backoff_max_s", 0.2)
        self.net = PeerNetwork(
            chain_id,
            index,
            keypair,
            validators,
            urls,
            lambda *frame: self.received.append(frame),
            log=LOG,
            **kwargs,
        )
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    async def start(self) -> None:
        app = web.Application()
        self.net.register(app)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.SockSite(self.runner, self.sock).start()
        await self.net.start()

    async def stop(self) -> None:
        await self.net.stop()
        if self.runner is not None:
            await self.runner.cleanup()


def listener(index: int = 1, **kwargs: Any) -> Node:
    """A node that dials nobody (only accepts): the target of hand-driven peers."""
    return Node(index, bound_socket(), {}, **kwargs)


def make_nodes(count: int, **kwargs: Any) -> list[Node]:
    socks = [bound_socket() for _ in range(count)]
    urls = {i: f"http://127.0.0.1:{s.getsockname()[1]}" for i, s in enumerate(socks)}
    return [Node(i, socks[i], urls, **kwargs) for i in range(count)]


async def with_nodes(nodes: list[Node], body: Callable[[], Awaitable[None]]) -> None:
    for node in nodes:
        await node.start()
    try:
        await body()
    finally:
        for node in nodes:
            await node.stop()


async def raw_peer(
    session: aiohttp.ClientSession, url: str, *, index: int, keypair: KeyPair, sign_right: bool = True
) -> aiohttp.ClientWebSocketResponse:
    """A hand-driven peer: does the handshake itself (optionally signing the wrong challenge)."""
    ws = await session.ws_connect(url + "/p2p")
    challenge = os.urandom(32)
    await ws.send_bytes(encode_hello(CHAIN, challenge))
    _, peer_challenge = decode_hello((await ws.receive()).data)
    signed = peer_challenge if sign_right else os.urandom(32)
    await ws.send_bytes(encode_auth(CHAIN, Signer(keypair), index, signed, challenge))
    await ws.receive()  # the node's AUTH
    return ws


def test_two_nodes_handshake_and_deliver_both_ways() -> None:
    a, b = make_nodes(2, validators=VALIDATORS[:2])

    async def body() -> None:
        await until(lambda: a.net.connected() == [1] and b.net.connected() == [0], "link")
        a.net.send(1, CHANNEL_CONSENSUS, b"prepare")
        b.net.send(0, CHANNEL_TX, b"tx")
        await until(lambda: bool(a.received and b.received), "frames")
        assert b.received == [(0, CHANNEL_CONSENSUS, b"prepare")]
        assert a.received == [(1, CHANNEL_TX, b"tx")]
        assert a.net.stats.frames_out == 1 and a.net.stats.frames_in == 1
        assert a.net.stats.handshake_refusals == 0

    run(with_nodes([a, b], body))


def test_three_nodes_full_mesh_broadcast() -> None:
    nodes = make_nodes(3)

    async def body() -> None:
        await until(lambda: all(len(n.net.connected()) == 2 for n in nodes), "full mesh")
        for node in nodes:
            node.net.broadcast(CHANNEL_CONSENSUS, f"from {node.index}".encode())
        await until(lambda: all(len(n.received) == 2 for n in nodes), "broadcasts")
        for node in nodes:
            senders = sorted(sender for sender, _, _ in node.received)
            assert senders == [i for i in range(3) if i != node.index]
            assert all(payload == f"from {sender}".encode() for sender, _, payload in node.received)
        # exactly one connection per pair: each node opened two links, none was replaced
        assert all(n.net.stats.links_opened == 2 for n in nodes)

    run(with_nodes(nodes, body))


def test_unknown_key_is_refused() -> None:
    b = listener(validators=VALIDATORS[:2])
    stranger = KeyPair.from_seed(b"\x42" * 32)
    intruder = PeerNetwork(
        CHAIN, 0, stranger, [stranger.public_key, VALIDATORS[1]], {1: b.url}, lambda *f: None
    )

    async def body() -> None:
        await intruder.start()
        try:
            await until(lambda: b.net.stats.refused["unknown_validator"] >= 1, "refusal")
            assert b.net.connected() == []
        finally:
            await intruder.stop()

    run(with_nodes([b], body))


def test_wrong_chain_id_is_refused() -> None:
    b = listener(validators=VALIDATORS[:2])
    a = Node(0, bound_socket(), {1: b.url}, validators=VALIDATORS[:2], chain_id="other-chain")

    async def body() -> None:
        await until(lambda: b.net.stats.refused["wrong_chain"] >= 1, "refusal")
        assert b.net.connected() == [] and a.net.connected() == []

    run(with_nodes([a, b], body))


def test_bad_signature_and_silent_peer_are_refused() -> None:
    b = listener(validators=VALIDATORS[:2], handshake_timeout_s=0.3)
    url = b.url

    async def body() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await raw_peer(session, url, index=0, keypair=KEYS[0], sign_right=False)
            closing = await ws.receive()
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert b.net.stats.refused["bad_signature"] == 1
            silent = await session.ws_connect(url + "/p2p")
            await until(lambda: b.net.stats.refused["timeout"] == 1, "handshake timeout")
            await silent.close()
            assert b.net.connected() == []

    run(with_nodes([b], body))


def test_garbage_disconnects_and_node_stays_up() -> None:
    b = listener(max_frame_bytes=1024)
    url = b.url
    garbage: list[tuple[str, Callable[[aiohttp.ClientWebSocketResponse], Awaitable[None]]]] = [
        ("text", lambda ws: ws.send_str("hello")),
        ("decode_error", lambda ws: ws.send_bytes(b"\xc1\xc1")),
        ("unknown_channel", lambda ws: ws.send_bytes(codec.encode((5, b"x")))),
        ("oversize", lambda ws: ws.send_bytes(codec.encode((0, b"x" * 5000)))),
    ]

    async def body() -> None:
        async with aiohttp.ClientSession() as session:
            for reason, send_garbage in garbage:
                ws = await raw_peer(session, url, index=0, keypair=KEYS[0])
                await until(lambda: b.net.connected() == [0], "link")
                await send_garbage(ws)
                closing = await ws.receive()
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), reason
                await until(lambda r=reason: b.net.stats.garbage[r] == 1, reason)  # type: ignore[misc]
                await ws.close()
            assert b.net.stats.garbage_disconnects == len(garbage)
            assert b.net.stats.flat()["garbage_text"] == 1 and b.net.stats.flat()["garbage_disconnects"] == 4
            good = await raw_peer(session, url, index=2, keypair=KEYS[2])
            await good.send_bytes(codec.encode((CHANNEL_TX, b"still up")))
            await until(lambda: bool(b.received), "delivery after garbage")
            assert b.received == [(2, CHANNEL_TX, b"still up")]
            await good.close()

    run(with_nodes([b], body))


def test_peer_restart_reconnects() -> None:
    a, b = make_nodes(2, validators=VALIDATORS[:2])
    port = b.sock.getsockname()[1]

    async def body() -> None:
        await until(lambda: a.net.connected() == [1], "first link")
        await b.stop()
        await until(lambda: a.net.connected() == [], "link drop")
        a.net.send(1, CHANNEL_CONSENSUS, b"lost")
        assert a.net.stats.dropped["not_connected"] == 1
        restarted = Node(1, bound_socket(port), dict(a.net._peer_urls), validators=VALIDATORS[:2])
        await restarted.start()
        try:
            await until(lambda: a.net.connected() == [1] and restarted.net.connected() == [0], "reconnect")
            a.net.send(1, CHANNEL_CONSENSUS, b"again")
            await until(lambda: bool(restarted.received), "frame after reconnect")
            assert restarted.received == [(0, CHANNEL_CONSENSUS, b"again")]
        finally:
            await restarted.stop()

    async def outer() -> None:
        await b.start()
        await with_nodes([a], body)

    run(outer())


def test_bounded_queue_drops_when_peer_does_not_read() -> None:
    b = listener(queue_limit=4)
    url = b.url
    payload = os.urandom(256 * 1024)

    async def body() -> None:
        async with aiohttp.ClientSession() as session:
            ws = await raw_peer(session, url, index=0, keypair=KEYS[0])  # then never reads
            await until(lambda: b.net.connected() == [0], "link")
            for _ in range(400):
                b.net.send(0, CHANNEL_CONSENSUS, payload)
                assert b.net.queue_size(0) <= 4
                await asyncio.sleep(0)
                if b.net.stats.dropped["queue_full"]:
                    break
            assert b.net.stats.dropped["queue_full"] >= 1
            assert b.net.connected() == [0]  # slow is not garbage: the link stays
            await ws.close()

    run(with_nodes([b], body))


def test_removed_validator_is_disconnected() -> None:
    a, b = make_nodes(2, validators=VALIDATORS[:2])

    async def body() -> None:
        await until(lambda: b.net.connected() == [0], "link")
        replacement = KeyPair.from_seed(b"\x77" * 32).public_key
        b.net.set_validators([replacement, VALIDATORS[1]])
        await until(lambda: b.net.connected() == [], "disconnect")
        await until(lambda: b.net.stats.refused["unknown_validator"] >= 1, "redial refused")

    run(with_nodes([a, b], body))
