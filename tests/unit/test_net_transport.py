"""PeerNetwork on loopback: real peer ports on ephemeral sockets (chain/net/transport.py, ADR 0010)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from chain import codec
from chain.crypto import KeyPair, Signer
from chain.net import CHANNEL_CONSENSUS, CHANNEL_TX, PeerNetwork
from chain.net.certs import make_identity
from chain.net.handshake import decode_hello, encode_auth, encode_hello
from chain.net.wire import HEADER, KEEPALIVE, Limits, pack, read_message

CHAIN = "silkport-test"
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(3)]
VALIDATORS = [k.public_key for k in KEYS]
LOG = logging.getLogger("test.net")
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


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
    """One PeerNetwork on its own pre-bound peer socket; records every frame it receives."""

    def __init__(self, index: int, sock: socket.socket, addresses: dict[int, str], **kwargs: Any) -> None:
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
            addresses,
            lambda *frame: self.received.append(frame),
            listen=sock,
            log=LOG,
            **kwargs,
        )

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self.net.start()

    async def stop(self) -> None:
        await self.net.stop()


def listener(index: int = 1, **kwargs: Any) -> Node:
    """A node that dials nobody (only accepts): the target of hand-driven peers."""
    return Node(index, bound_socket(), {}, **kwargs)


def make_nodes(count: int, **kwargs: Any) -> list[Node]:
    socks = [bound_socket() for _ in range(count)]
    addresses = {i: f"127.0.0.1:{s.getsockname()[1]}" for i, s in enumerate(socks)}
    return [Node(i, socks[i], addresses, **kwargs) for i in range(count)]


async def with_nodes(nodes: list[Node], body: Callable[[], Awaitable[None]]) -> None:
    for node in nodes:
        await node.start()
    try:
        await body()
    finally:
        for node in nodes:
            await node.stop()


async def tls_peer(port: int, keypair: KeyPair, chain_id: str = CHAIN, *, confirm: bool = True) -> Stream:
    """A hand-driven TLS peer with a genuine certificate for ``keypair``."""
    identity = make_identity(chain_id, keypair)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=identity.client)
    if confirm:
        writer.write(KEEPALIVE)  # "I accept you", as a genuine peer does after checking the certificate
    return reader, writer


async def plaintext_peer(port: int, index: int, keypair: KeyPair, *, sign_right: bool = True) -> Stream:
    """A hand-driven plaintext peer: does the handshake itself (optionally signing the wrong challenge)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    challenge = os.urandom(32)
    writer.write(pack(encode_hello(CHAIN, challenge)))
    _, peer_challenge = decode_hello(await read_message(reader, 512))
    signed = peer_challenge if sign_right else os.urandom(32)
    writer.write(pack(encode_auth(CHAIN, Signer(keypair), index, signed, challenge)) + KEEPALIVE)
    await writer.drain()
    return reader, writer


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """True once the other side has closed or reset the connection (reads whatever is left)."""
    try:
        while await asyncio.wait_for(reader.read(65536), 10):
            pass
    except (ConnectionError, OSError):
        pass
    return True


def test_two_nodes_link_over_tls13_and_deliver_both_ways() -> None:
    a, b = make_nodes(2, validators=VALIDATORS[:2])

    async def body() -> None:
        await until(lambda: a.net.connected() == [1] and b.net.connected() == [0], "link")
        assert b.net._links[0].writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        assert b.net._links[0].writer.get_extra_info("ssl_object").compression() is None
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
        # exactly one connection per pair: each node opened two links, none was replaced
        assert all(n.net.stats.links_opened == 2 and n.net.stats.replaced == 0 for n in nodes)

    run(with_nodes(nodes, body))


def test_unknown_key_is_refused() -> None:
    b = listener(validators=VALIDATORS[:2])
    stranger = KeyPair.from_seed(b"\x42" * 32)
    intruder = PeerNetwork(
        CHAIN, 0, stranger, [stranger.public_key, VALIDATORS[1]], {1: b.address}, lambda *f: None
    )

    async def body() -> None:
        await intruder.start()
        try:
            await until(lambda: b.net.stats.refused["unknown_validator"] >= 1, "refusal")
            assert b.net.connected() == [] and intruder.connected() == []
        finally:
            await intruder.stop()

    run(with_nodes([b], body))


def test_wrong_chain_id_fails_the_tls_handshake() -> None:
    b = listener(validators=VALIDATORS[:2])
    a = Node(0, bound_socket(), {1: b.address}, validators=VALIDATORS[:2], chain_id="other-chain")

    async def body() -> None:
        await until(lambda: b.net.stats.refused["tls_handshake_failed"] >= 1, "refusal")
        assert b.net.connected() == [] and a.net.connected() == []

    run(with_nodes([a, b], body))


@pytest.mark.parametrize("tls_side", [0, 1])
def test_plaintext_and_tls_nodes_never_link(tls_side: int) -> None:
    a, b = make_nodes(2, validators=VALIDATORS[:2])
    (a if tls_side == 1 else b).net.tls = False

    async def body() -> None:
        await until(lambda: b.net.stats.handshake_refusals >= 2 or a.net.stats.handshake_refusals >= 2, "refusals")
        assert a.net.connected() == [] and b.net.connected() == []

    run(with_nodes([a, b], body))


def test_plaintext_bad_signature_and_silent_peer_are_refused() -> None:
    b = listener(validators=VALIDATORS[:2], tls=False, limits=Limits(handshake_timeout_s=0.3))

    async def body() -> None:
        reader, writer = await plaintext_peer(b.port, 0, KEYS[0], sign_right=False)
        assert await closed_by_peer(reader)
        writer.close()
        assert b.net.stats.refused["bad_signature"] == 1
        _, silent = await asyncio.open_connection("127.0.0.1", b.port)
        await until(lambda: b.net.stats.refused["timeout"] == 1, "handshake timeout")
        silent.close()
        _, huge = await asyncio.open_connection("127.0.0.1", b.port)
        huge.write(HEADER.pack(2**31))  # the old deflate-bomb sized announcement: refused unread
        await until(lambda: b.net.stats.refused["oversize"] == 1, "oversize refusal")
        huge.close()
        assert b.net.connected() == []

    run(with_nodes([b], body))


def test_plaintext_nodes_link() -> None:
    a, b = make_nodes(2, validators=VALIDATORS[:2], tls=False)

    async def body() -> None:
        await until(lambda: a.net.connected() == [1] and b.net.connected() == [0], "plaintext link")
        a.net.send(1, CHANNEL_TX, b"tx")
        await until(lambda: b.received == [(0, CHANNEL_TX, b"tx")], "delivery")

    run(with_nodes([a, b], body))


def test_garbage_disconnects_and_node_stays_up() -> None:
    b = listener(max_frame_bytes=1024)
    garbage = [
        ("decode_error", pack(b"\xc1\xc1")),
        ("unknown_channel", pack(codec.encode((5, b"x")))),
        ("oversize", HEADER.pack(5000)),  # announced length above the limit: nothing more is read
        ("oversize", HEADER.pack(2**32 - 1)),
    ]

    async def body() -> None:
        for count, (reason, data) in enumerate(garbage, start=1):
            reader, writer = await tls_peer(b.port, KEYS[0])
            await until(lambda: b.net.connected() == [0], "link")
            writer.write(data)
            assert await closed_by_peer(reader), reason
            writer.close()
            await until(lambda: b.net.connected() == [], "link closed")
            assert b.net.stats.garbage_disconnects == count
        assert b.net.stats.garbage["oversize"] == 2
        reader, good = await tls_peer(b.port, KEYS[0])
        await until(lambda: b.net.connected() == [0], "link after garbage")
        good.write(pack(codec.encode((CHANNEL_TX, b"still up"))))
        await until(lambda: bool(b.received), "delivery after garbage")
        assert b.received == [(0, CHANNEL_TX, b"still up")]
        good.close()

    run(with_nodes([b], body))


def test_live_link_is_not_replaced_and_wrong_direction_is_refused() -> None:
    a, b = make_nodes(2, validators=VALIDATORS[:2])

    async def body() -> None:
        await until(lambda: b.net.connected() == [0], "link")
        original = b.net._links[0]
        reader, writer = await tls_peer(b.port, KEYS[0])  # validator 0's key again, a second link
        assert await closed_by_peer(reader)
        writer.close()
        assert b.net.stats.refused["duplicate_link"] == 1
        assert b.net._links[0] is original and b.net.stats.replaced == 0
        reader, writer = await tls_peer(a.port, KEYS[1])  # 1 must be dialled by 0, not dial in
        assert await closed_by_peer(reader)
        writer.close()
        assert a.net.stats.refused["wrong_direction"] == 1

    run(with_nodes([a, b], body))


def test_link_counts_only_once_both_sides_confirm() -> None:
    b = listener(limits=Limits(handshake_timeout_s=0.5))

    async def body() -> None:
        reader, writer = await tls_peer(b.port, KEYS[0], confirm=False)
        assert await read_message(reader, 0) == b""  # the node accepted us and says so
        assert b.net.connected() == []  # but no link until we confirm: we never do
        await until(lambda: b.net.stats.refused["timeout"] == 1, "unconfirmed link refused")
        writer.close()
        reader, writer = await tls_peer(b.port, KEYS[0], confirm=False)
        writer.write(pack(codec.encode((CHANNEL_TX, b"too early"))))
        assert await closed_by_peer(reader)
        assert b.net.stats.refused["protocol"] == 1 and b.received == []
        writer.close()
        assert b.net.stats.links_opened == 0

    run(with_nodes([b], body))


def test_refused_dialler_does_not_count_a_link() -> None:
    b = listener(validators=VALIDATORS[:2])
    stranger = KeyPair.from_seed(b"\x43" * 32)
    connected: list[int] = []
    intruder = PeerNetwork(
        CHAIN, 0, stranger, [stranger.public_key, VALIDATORS[1]], {1: b.address}, lambda *f: None,
        on_connect=connected.append, backoff_min_s=0.02, backoff_max_s=0.05,
    )

    async def body() -> None:
        await intruder.start()
        try:
            await until(lambda: intruder.stats.refused["peer_refused"] >= 2, "refusals seen by the dialler")
            assert intruder.stats.links_opened == 0 and connected == []
        finally:
            await intruder.stop()

    run(with_nodes([b], body))


def test_silent_link_is_closed_and_may_be_replaced() -> None:
    b = listener(keepalive_s=0.05, idle_timeout_s=0.5)

    async def body() -> None:
        reader, silent = await tls_peer(b.port, KEYS[0])  # authenticates, then never sends a byte
        await until(lambda: b.net.connected() == [0], "link")
        await asyncio.sleep(0.15)  # > two keepalive intervals of silence: the old link counts as dead
        reader2, fresh = await tls_peer(b.port, KEYS[0])
        await until(lambda: b.net.stats.replaced == 1, "replacement")
        assert b.net.connected() == [0] and b.net._links[0].writer is not silent
        await until(lambda: b.net.connected() == [], "idle close")  # fresh stays silent too
        silent.close()
        fresh.close()

    run(with_nodes([b], body))


def test_pre_auth_caps_junk_and_slowloris() -> None:
    limits = Limits(max_pending_total=4, max_pending_per_address=3, handshake_timeout_s=0.5)
    b = listener(limits=limits)

    async def body() -> None:
        slow = [await asyncio.open_connection("127.0.0.1", b.port) for _ in range(3)]
        for _, writer in slow:
            writer.write(b"\x16\x03")  # the first bytes of a ClientHello, then nothing (slowloris)
        await until(lambda: b.net._admission.pending_total == 3, "three pending")
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        assert await closed_by_peer(reader)  # refused before any TLS work
        writer.close()
        assert b.net.stats.refused["per_address_limit"] == 1
        await until(lambda: b.net.stats.refused["timeout"] == 3, "slowloris timeouts")
        assert b.net._admission.pending_total == 0
        junk_reader, junk = await asyncio.open_connection("127.0.0.1", b.port)
        junk.write(not_a_tls_record(4096))
        assert await closed_by_peer(junk_reader)
        await until(lambda: b.net.stats.refused["tls_handshake_failed"] == 1, "junk refused")
        for _, writer in slow:
            writer.close()
        junk.close()
        _, good = await tls_peer(b.port, KEYS[0])  # the caps were released: a validator still gets in
        await until(lambda: b.net.connected() == [0], "link after the flood")
        good.close()

    run(with_nodes([b], body))


def test_total_cap_counts_every_address() -> None:
    b = listener(limits=Limits(max_pending_total=2, max_pending_per_address=8, handshake_timeout_s=5))

    async def body() -> None:
        held = [await asyncio.open_connection("127.0.0.1", b.port) for _ in range(2)]
        await until(lambda: b.net._admission.pending_total == 2, "two pending")
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        assert await closed_by_peer(reader)
        assert b.net.stats.refused["too_many_connections"] == 1
        for _, held_writer in held:
            held_writer.close()
        writer.close()

    run(with_nodes([b], body))


def test_peer_restart_reconnects() -> None:
    a, b = make_nodes(2, validators=VALIDATORS[:2])
    port = b.port

    async def body() -> None:
        await until(lambda: a.net.connected() == [1], "first link")
        await b.stop()
        await until(lambda: a.net.connected() == [], "link drop")
        a.net.send(1, CHANNEL_CONSENSUS, b"lost")
        assert a.net.stats.dropped["not_connected"] == 1
        restarted = Node(1, bound_socket(port), {0: a.address}, validators=VALIDATORS[:2])
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
    payload = os.urandom(256 * 1024)

    async def body() -> None:
        _, writer = await tls_peer(b.port, KEYS[0])  # then never reads
        await until(lambda: b.net.connected() == [0], "link")
        for _ in range(400):
            b.net.send(0, CHANNEL_CONSENSUS, payload)
            assert b.net.queue_size(0) <= 4
            await asyncio.sleep(0)
            if b.net.stats.dropped["queue_full"]:
                break
        assert b.net.stats.dropped["queue_full"] >= 1
        assert b.net.connected() == [0]  # slow is not garbage: the link stays
        writer.close()

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


def not_a_tls_record(size: int, seed: int = 0) -> bytes:
    """Seeded junk that no TLS stack can take for the start of a record.

    Purely random bytes are not always refused at once: a first byte of 0x16 (a handshake record) or one
    with the high bit set (an SSLv2-style header) makes OpenSSL wait for the length the junk announces,
    so the peer is refused by the handshake timeout instead (a flaky count on Python 3.13, CI stop 18).
    """
    junk = random.Random(seed).randbytes(size)
    return b"\x00\x00" + junk[2:]  # record type 0 and protocol major version 0: refused on sight


def test_refusals_are_all_counted_but_logged_at_most_once_a_second(caplog: pytest.LogCaptureFixture) -> None:
    b = listener()

    async def body() -> None:
        for attempt in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
            writer.write(not_a_tls_record(512, seed=attempt))
            assert await closed_by_peer(reader)
            writer.close()
        await until(lambda: b.net.stats.refused["tls_handshake_failed"] == 20, "twenty refusals")

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="test.net"):
        run(with_nodes([b], body))
    seconds = time.monotonic() - started
    lines = [r for r in caplog.records if "tls_handshake_failed" in r.getMessage()]
    assert 1 <= len(lines) <= int(seconds) + 1  # once a second at most, however slow the machine is
