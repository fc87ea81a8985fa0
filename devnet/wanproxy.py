"""A user-space TCP relay that makes a link look like a WAN: delay and retransmission stalls (ADR 0017).

``python -m devnet.wanproxy --rtt-ms 200 --loss 0.01 --route LISTEN=TARGET ...`` accepts on each
``LISTEN`` (HOST:PORT), dials ``TARGET`` and relays bytes both ways. This kernel has no ``netem``,
so the relay models the two things a WAN does to a TCP stream:

- **Delay.** Every chunk read in one direction is written ``rtt/2`` later (order kept), so a
  request and its answer take one RTT more than on the LAN; a new connection's target is dialled
  one RTT after the accept (the SYN/SYN-ACK round trip; the client's first bytes wait for it).
- **Loss, as TCP sees it.** Each chunk (one burst of writes) counts as ``ceil(len/1448)`` segments
  (Ethernet MSS); each segment is "lost" with probability ``loss``. A chunk with a loss is held, with
  every later chunk of that direction (head-of-line blocking), for one recovery:

  - a loss among the chunk's last three segments cannot draw three duplicate ACKs, so it waits for
    the retransmission timeout, Linux's steady-state ``RTO = SRTT + max(4·RTTVAR, 200 ms)``, i.e.
    ``rtt + 200 ms`` (RFC 6298 §2, ``TCP_RTO_MIN``; a tail-loss probe, RFC 8985, fires at about
    ``2·SRTT``, no sooner at this RTT);
  - otherwise fast retransmit repairs it, and SACK every other loss of the same window, in about
    one RTT (RFC 5681 §3.2, RFC 6675).

What it does not model: real packet drops (both TCP ends see a clean loopback-speed stream, their
congestion windows never shrink), bandwidth limits, jitter, reordering, or SYN loss. Seeded
(``--seed``) so a run can be replayed. Connections and buffers are capped so a flood of clients or a
slow reader cannot grow it without bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import math
import random
import sys
from dataclasses import dataclass

MSS = 1448
DUPACK_THRESHOLD = 3
"""Duplicate ACKs that trigger fast retransmit (RFC 5681 §3.2)."""
RTO_MIN_MS = 200.0
READ_SIZE = 64 * 1024
MAX_BUFFERED = 4 * 1024 * 1024
MAX_CONNECTIONS = 256
CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class LinkModel:
    """One direction's delay and loss model (see the module docstring for what it stands for)."""

    rtt_ms: float
    loss: float

    @property
    def one_way_s(self) -> float:
        return self.rtt_ms / 2000.0

    @property
    def rto_s(self) -> float:
        return (self.rtt_ms + RTO_MIN_MS) / 1000.0

    def stall_s(self, nbytes: int, rng: random.Random) -> float:
        """Extra hold for a chunk of ``nbytes``: none, one RTT (fast retransmit) or one RTO (tail loss)."""
        if self.loss <= 0.0 or nbytes <= 0:
            return 0.0
        segments = math.ceil(nbytes / MSS)
        lost = [k for k in range(segments) if rng.random() < self.loss]
        if not lost:
            return 0.0
        if max(lost) >= segments - DUPACK_THRESHOLD:
            return self.rto_s
        return self.rtt_ms / 1000.0


@dataclass(slots=True)
class Stats:
    connections: int = 0
    refused: int = 0
    bytes_relayed: int = 0
    stalls: int = 0
    peak_buffered: int = 0
    """Most bytes one direction held at once (bounded by MAX_BUFFERED + READ_SIZE)."""


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    model: LinkModel,
    rng: random.Random,
    stats: Stats,
    max_buffered: int = MAX_BUFFERED,
) -> None:
    """Relay one direction: each chunk is due ``one_way + stall`` after it was read, never before the last."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    room = asyncio.Condition()
    buffered = [0]  # bytes read and not yet written (a list: shared with ``deliver``)

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError, RuntimeError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
            stats.bytes_relayed += len(data)
            async with room:
                buffered[0] -= len(data)
                room.notify_all()

    sender = asyncio.create_task(deliver())
    release = 0.0
    try:
        while True:
            async with room:  # a slow reader on the far side stops us reading: bounded memory
                await room.wait_for(lambda: buffered[0] < max_buffered or sender.done())
            if sender.done():
                break
            data = await reader.read(READ_SIZE)
            stall = model.stall_s(len(data), rng)
            if stall:
                stats.stalls += 1
            release = max(loop.time() + model.one_way_s, release) + stall
            buffered[0] += len(data)
            stats.peak_buffered = max(stats.peak_buffered, buffered[0])
            queue.put_nowait((release, data))
            if not data:
                break
        await sender
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
            await sender


class Relay:
    """Listeners for every route; one pair of pumps per accepted connection."""

    def __init__(
        self,
        routes: list[tuple[str, str]],
        model: LinkModel,
        seed: int,
        *,
        max_connections: int = MAX_CONNECTIONS,
        max_buffered: int = MAX_BUFFERED,
    ) -> None:
        self.routes = routes
        self.max_connections = max_connections
        self.max_buffered = max_buffered
        self.model = model
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.active = 0
        self.servers: list[asyncio.Server] = []
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        for listen, target in self.routes:
            host, port = split_address(listen)
            server = await asyncio.start_server(functools.partial(self._handle, target=target), host, port)
            self.servers.append(server)

    async def close(self) -> None:
        """Stop listening and drop every relayed connection (since 3.12.1 ``wait_closed`` waits for them)."""
        for server in self.servers:
            server.close()
        for end in list(self.links):
            end.transport.abort()
        for server in self.servers:
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> None:
        if self.active >= self.max_connections:
            self.stats.refused += 1
            writer.close()
            return
        self.active += 1
        self.stats.connections += 1
        upstream_writer: asyncio.StreamWriter | None = None
        self.links.add(writer)
        try:
            host, port = split_address(target)
            await asyncio.sleep(self.model.rtt_ms / 1000.0)  # the TCP handshake's round trip
            try:
                upstream_reader, upstream = await asyncio.wait_for(
                    asyncio.open_connection(host, port), CONNECT_TIMEOUT_S
                )
            except (TimeoutError, OSError):
                self.stats.refused += 1
                return
            upstream_writer = upstream
            self.links.add(upstream)
            await asyncio.gather(
                _pump(reader, upstream, self.model, self.rng, self.stats, self.max_buffered),
                _pump(upstream_reader, writer, self.model, self.rng, self.stats, self.max_buffered),
                return_exceptions=True,
            )
        finally:
            self.active -= 1
            for end in (writer, upstream_writer):
                if end is not None:
                    self.links.discard(end)
                    end.close()


def split_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def parse_route(text: str) -> tuple[str, str]:
    listen, sep, target = text.partition("=")
    try:
        if not sep:
            raise ValueError("missing '='")
        split_address(listen)
        split_address(target)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--route must be LISTEN_HOST:PORT=TARGET_HOST:PORT ({exc}), got {text!r}"
        ) from exc
    return listen, target


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m devnet.wanproxy", description=__doc__.split("\n")[0])
    top.add_argument("--rtt-ms", type=float, required=True, help="round-trip time added (half each way)")
    top.add_argument(
        "--loss", type=float, default=0.0, help="per-segment loss probability (modelled as RTO stalls)"
    )
    top.add_argument("--seed", type=int, default=0)
    top.add_argument(
        "--route", type=parse_route, action="append", required=True, help="LISTEN=TARGET (repeat)"
    )
    return top


async def serve(args: argparse.Namespace) -> None:
    relay = Relay(args.route, LinkModel(args.rtt_ms, args.loss), args.seed)
    await relay.start()
    print(f"wanproxy ready: rtt {args.rtt_ms:g} ms, loss {args.loss:g}, {len(args.route)} routes", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await relay.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 0.0 <= args.loss < 0.5 or not 0.0 <= args.rtt_ms <= 10_000:
        print("wanproxy: --loss must be in [0, 0.5) and --rtt-ms in [0, 10000]", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(args))
    except OSError as exc:
        print(f"wanproxy: cannot listen: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
