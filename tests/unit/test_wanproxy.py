"""The WAN relay (ADR 0017) on loopback: bytes intact and in order, the loss model, and abuse.

No assertion here is about elapsed time: delays are exercised, but only what arrives is checked.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable

import pytest

from devnet.layout import free_ports
from devnet.wanproxy import MSS, LinkModel, Relay, main, parse_route

HOST = "127.0.0.1"
NO_WAN = LinkModel(0, 0.0)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


async def with_relay(
    upstream: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    body: Callable[[int, Relay], Awaitable[None]],
    model: LinkModel = NO_WAN,
    **limits: int,
) -> None:
    """Start an upstream server and a relay in front of it; run ``body(relay_port, relay)``."""
    up_port, relay_port = free_ports(2)
    server = await asyncio.start_server(upstream, HOST, up_port)
    relay = Relay([(f"{HOST}:{relay_port}", f"{HOST}:{up_port}")], model, seed=7, **limits)
    await relay.start()
    try:
        await body(relay_port, relay)
    finally:
        await relay.close()
        server.close()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


def test_relays_every_byte_in_order_both_ways_with_delay_and_stalls() -> None:
    payload = os.urandom(200_000)  # ~140 segments each way, so ordering under stalls is exercised

    async def body(port: int, relay: Relay) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        received = await reader.read(-1)  # until the upstream's EOF comes back through the relay
        assert received == payload
        assert relay.stats.stalls > 0, "loss 0.05 over ~140 segments each way must stall at least once"
        writer.close()

    run(with_relay(echo, body, LinkModel(rtt_ms=20, loss=0.05)))


def test_loss_model_stalls_one_rto_for_a_tail_loss_and_one_rtt_for_fast_retransmit() -> None:
    model = LinkModel(rtt_ms=200, loss=0.01)
    assert model.one_way_s == pytest.approx(0.1)
    assert model.rto_s == pytest.approx(0.4)  # RTT + TCP_RTO_MIN
    assert LinkModel(200, 0.0).stall_s(10 * MSS, random.Random(1)) == 0.0
    assert model.stall_s(0, random.Random(1)) == 0.0

    first = [model.stall_s(64 * 1024, random.Random(3)) for _ in range(3)]
    assert len(set(first)) == 1, "the same seed gives the same stalls"
    rng, draws = random.Random(5), random.Random(5)
    total = sum(model.stall_s(MSS, rng) for _ in range(5000))  # one segment: every loss is a tail loss
    lost = sum(1 for _ in range(5000) if draws.random() < 0.01)
    assert total == pytest.approx(lost * model.rto_s) and 20 < lost < 90

    certain = LinkModel(rtt_ms=200, loss=0.4999)
    big = 40 * MSS  # losses everywhere: the last three segments decide, and it is one stall, not forty
    stalls = {round(certain.stall_s(big, random.Random(seed)), 6) for seed in range(50)}
    assert stalls == {0.2, 0.4}, f"one RTT or one RTO per chunk, never a sum: {stalls}"


def test_fast_retransmit_when_only_early_segments_are_lost() -> None:
    class Dice(random.Random):
        """Loses exactly the segments listed, in draw order."""

        def __init__(self, lost: set[int]) -> None:
            super().__init__(0)
            self.lost, self.k = lost, -1

        def random(self) -> float:
            self.k += 1
            return 0.0 if self.k in self.lost else 0.99

    model = LinkModel(rtt_ms=200, loss=0.01)
    assert model.stall_s(10 * MSS, Dice({0, 3, 5})) == pytest.approx(0.2)  # SACK: one RTT for all three
    assert model.stall_s(10 * MSS, Dice({7})) == pytest.approx(0.4)  # too few segments after it: RTO
    assert model.stall_s(10 * MSS, Dice(set())) == 0.0


def test_garbage_is_relayed_unchanged_the_relay_parses_nothing() -> None:
    junk = bytes(range(256)) * 40 + b"\x16\x03\x01\xff\xff" + os.urandom(1000)

    async def body(port: int, relay: Relay) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(junk)
        writer.write_eof()
        assert await reader.read(-1) == junk
        writer.close()

    run(with_relay(echo, body))


def test_unreachable_target_closes_the_client_and_counts_a_refusal() -> None:
    async def body() -> None:
        dead_port, relay_port = free_ports(2)  # nothing listens on dead_port
        relay = Relay([(f"{HOST}:{relay_port}", f"{HOST}:{dead_port}")], LinkModel(0, 0.0), seed=1)
        await relay.start()
        try:
            reader, writer = await asyncio.open_connection(HOST, relay_port)
            assert await reader.read(-1) == b""
            writer.close()
            assert relay.stats.refused == 1 and relay.active == 0
        finally:
            await relay.close()

    run(body())


def test_connection_flood_beyond_the_cap_is_refused_and_the_rest_still_relay() -> None:
    async def body(port: int, relay: Relay) -> None:
        held = [await asyncio.open_connection(HOST, port) for _ in range(3)]
        for reader, writer in held:  # each is relayed (an echo proves the upstream link exists)
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
        flood = [await asyncio.open_connection(HOST, port) for _ in range(20)]
        for reader, writer in flood:
            assert await reader.read(-1) == b"", "a connection over the cap must be closed"
            writer.close()
        assert relay.stats.refused == 20 and relay.active == 3
        reader, writer = held[0]
        writer.write(b"still")
        assert await reader.readexactly(5) == b"still"
        for _, writer in held:
            writer.close()

    run(with_relay(echo, body, max_connections=3))


def test_a_slow_reader_cannot_make_the_relay_buffer_without_bound() -> None:
    stop = asyncio.Event()
    limit = 128 * 1024

    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stop.wait()
        writer.close()

    async def body(port: int, relay: Relay) -> None:
        _, writer = await asyncio.open_connection(HOST, port)
        chunk = b"x" * 65536
        sent = 0
        while writer.transport.get_write_buffer_size() < 4 * 1024 * 1024:  # until back-pressure reaches us
            writer.write(chunk)
            sent += len(chunk)
            await asyncio.sleep(0)
        assert sent > 4 * 1024 * 1024
        assert relay.stats.peak_buffered <= limit + 65536
        stop.set()
        writer.transport.abort()

    run(with_relay(never_reads, body, max_buffered=limit))


def test_cli_refuses_bad_routes_and_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_route("127.0.0.1:1=10.0.0.1:2") == ("127.0.0.1:1", "10.0.0.1:2")
    for bad in ("127.0.0.1:1", "host=10.0.0.1:2", "127.0.0.1:0=10.0.0.1:2", "127.0.0.1:1=x:99999"):
        with pytest.raises(SystemExit) as exited:
            main(["--rtt-ms", "10", "--route", bad])
        assert exited.value.code == 2
        assert "--route must be LISTEN_HOST:PORT=TARGET_HOST:PORT" in capsys.readouterr().err
    assert main(["--rtt-ms", "10", "--loss", "0.9", "--route", "127.0.0.1:1=127.0.0.1:2"]) == 2
    assert "--loss must be in [0, 0.5)" in capsys.readouterr().err
