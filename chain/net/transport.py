"""Peer transport: a full mesh of authenticated websockets between validators (DESIGN.md §5, §10).

- The lower index dials the higher (one connection per pair), on ``<peer url>/p2p`` of the peer's
  aiohttp server (the same server as the REST API); a dropped or absent link is redialled with
  capped exponential back-off (0.1 s → 5 s, with jitter), reset after each authenticated link.
- Every link starts with the mutual handshake of :mod:`chain.net.handshake`; nothing else is read
  before it completes. Refusals are logged and counted by reason.
- After it, every websocket message is a binary frame (:mod:`chain.net.frames`). A peer that sends
  anything else (text, undecodable, oversize, unknown channel) is disconnected and counted; the node
  stays up.
- ``send``/``broadcast`` never block: frames go to a bounded per-link outbound queue (frame count
  and bytes) drained by one writer task, which waits for the socket (TCP back-pressure). When the
  queue is full the frame is dropped and counted, so a slow peer cannot exhaust memory; PBFT
  tolerates lost messages (retransmission by view change, catch-up by block sync).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from chain.crypto import KeyPair, Signer
from chain.errors import ConfigError, OversizeError, SilkportError
from chain.net.frames import DEFAULT_MAX_FRAME_BYTES, FRAME_OVERHEAD, decode_frame, encode_frame
from chain.net.handshake import DEFAULT_HANDSHAKE_TIMEOUT_S, run_handshake

P2P_PATH = "/p2p"
FrameHandler = Callable[[int, int, bytes], None]
WebSocket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


@dataclass
class NetStats:
    """Counters of one PeerNetwork (exported as metrics by the runtime)."""

    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    links_opened: int = 0
    links_closed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    """Outbound frames not sent, by reason: ``queue_full``, ``not_connected``, ``oversize``."""
    garbage: Counter[str] = field(default_factory=Counter)
    """Peers disconnected for sending garbage, by reason: ``text``, ``decode_error``, ``oversize``,
    ``unknown_channel``, ``protocol``."""
    refused: Counter[str] = field(default_factory=Counter)
    """Handshakes refused, by reason: ``wrong_chain``, ``unknown_validator``, ``bad_signature``,
    ``decode_error``, ``timeout``, ``self_connection``, ``unexpected_index``."""

    @property
    def garbage_disconnects(self) -> int:
        return sum(self.garbage.values())

    @property
    def handshake_refusals(self) -> int:
        return sum(self.refused.values())

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def flat(self) -> dict[str, int]:
        """Every counter as one flat name → int map (``dropped_queue_full``, ``refused_bad_signature``...)."""
        out = {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "links_opened": self.links_opened,
            "links_closed": self.links_closed,
            "dropped": self.dropped_total,
            "garbage_disconnects": self.garbage_disconnects,
            "handshake_refusals": self.handshake_refusals,
        }
        for prefix, counter in (
            ("dropped", self.dropped),
            ("garbage", self.garbage),
            ("refused", self.refused),
        ):
            out.update({f"{prefix}_{reason}": count for reason, count in counter.items()})
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "links_opened": self.links_opened,
            "links_closed": self.links_closed,
            "dropped": dict(self.dropped),
            "garbage": dict(self.garbage),
            "refused": dict(self.refused),
        }


class _Link:
    """One authenticated connection and its bounded outbound queue."""

    def __init__(self, index: int, public_key: bytes, ws: WebSocket, queue_limit: int) -> None:
        self.index = index
        self.public_key = public_key
        self.ws = ws
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_limit)
        self.queued_bytes = 0
        self.writer: asyncio.Task[None] | None = None


class PeerNetwork:
    """Authenticated full-mesh transport between the validators of one chain."""

    def __init__(
        self,
        chain_id: str,
        my_index: int,
        keypair: KeyPair,
        validators: Sequence[bytes],
        peer_urls: Mapping[int, str],
        on_frame: FrameHandler,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        queue_limit: int = 10_000,
        queue_bytes_limit: int = 256 * 1024 * 1024,
        handshake_timeout_s: float = DEFAULT_HANDSHAKE_TIMEOUT_S,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
        heartbeat_s: float | None = 10.0,
        on_connect: Callable[[int], None] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if not 0 <= my_index < len(validators) or validators[my_index] != keypair.public_key:
            raise ConfigError(f"key {keypair.public_hex[:16]} is not validator {my_index}")
        self.chain_id = chain_id
        self.my_index = my_index
        self.stats = NetStats()
        self._signer = Signer(keypair)
        self._validators: tuple[bytes, ...] = tuple(validators)
        self._peer_urls = dict(peer_urls)
        self._on_frame = on_frame
        self._on_connect = on_connect
        self._max_frame_bytes = max_frame_bytes
        self._max_msg_size = max_frame_bytes + FRAME_OVERHEAD
        self._queue_limit = queue_limit
        self._queue_bytes_limit = queue_bytes_limit
        self._handshake_timeout_s = handshake_timeout_s
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._heartbeat_s = heartbeat_s
        self._log = log or logging.getLogger("silkport.net")
        self._links: dict[int, _Link] = {}
        self._dialers: dict[int, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------------

    def register(self, app: web.Application) -> None:
        """Add the ``/p2p`` websocket route to the node's aiohttp application."""
        app.router.add_get(P2P_PATH, self._handle_inbound)

    async def start(self) -> None:
        """Accept inbound links and dial every higher-indexed peer (reconnecting until stop)."""
        if self._running:
            return
        self._running = True
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._handshake_timeout_s)
        )
        self._sync_dialers()

    async def stop(self) -> None:
        """Stop dialling, close every link and wait for the tasks to finish."""
        self._running = False
        dialers = list(self._dialers.values())
        self._dialers.clear()
        for task in dialers:
            task.cancel()
        for link in list(self._links.values()):
            await self._close(link.ws, aiohttp.WSCloseCode.GOING_AWAY, "node stopping")
        for task in dialers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _ in range(100):  # inbound links end in their request handlers; give them a moment
            if not self._links:
                break
            await asyncio.sleep(0.01)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def set_validators(self, validators: Sequence[bytes], peer_urls: Mapping[int, str] | None = None) -> None:
        """Switch to a new validator set: links whose key left the set (or moved) are closed."""
        self._validators = tuple(validators)
        if peer_urls is not None:
            self._peer_urls = dict(peer_urls)
        for link in list(self._links.values()):
            if link.index >= len(self._validators) or self._validators[link.index] != link.public_key:
                self._log.info("closing link to %d: key no longer in the validator set", link.index)
                task = asyncio.create_task(
                    self._close(link.ws, aiohttp.WSCloseCode.POLICY_VIOLATION, "removed")
                )
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        if self._running:
            self._sync_dialers()

    # --- sending ---------------------------------------------------------------------------------

    def connected(self) -> list[int]:
        """Indices of the peers with an authenticated link, ascending."""
        return sorted(self._links)

    def send(self, index: int, channel: int, payload: bytes) -> None:
        """Queue one frame for validator ``index``; never blocks (drops and counts instead)."""
        frame = self._frame(channel, payload)
        if frame is not None:
            self._enqueue(index, frame)

    def broadcast(self, channel: int, payload: bytes) -> None:
        """Queue one frame for every other validator (encoded once, shared by all queues)."""
        frame = self._frame(channel, payload)
        if frame is None:
            return
        for index in range(len(self._validators)):
            if index != self.my_index:
                self._enqueue(index, frame)

    def queue_size(self, index: int) -> int:
        link = self._links.get(index)
        return link.queue.qsize() if link else 0

    def _frame(self, channel: int, payload: bytes) -> bytes | None:
        try:
            return encode_frame(channel, payload, max_frame_bytes=self._max_frame_bytes)
        except OversizeError:
            self.stats.dropped["oversize"] += 1
            self._log.warning("dropping an oversize frame of %d bytes on channel %d", len(payload), channel)
            return None

    def _enqueue(self, index: int, frame: bytes) -> None:
        link = self._links.get(index)
        if link is None:
            self.stats.dropped["not_connected"] += 1
            return
        if link.queue.full() or link.queued_bytes + len(frame) > self._queue_bytes_limit:
            self.stats.dropped["queue_full"] += 1
            return
        link.queue.put_nowait(frame)
        link.queued_bytes += len(frame)

    async def _write_loop(self, link: _Link) -> None:
        try:
            while True:
                frame = await link.queue.get()
                link.queued_bytes -= len(frame)
                await link.ws.send_bytes(frame)
                self.stats.frames_out += 1
                self.stats.bytes_out += len(frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket broke: the reader sees it too and ends the link
            self._log.debug("write to %d failed: %s", link.index, exc)
            await self._close(link.ws, aiohttp.WSCloseCode.GOING_AWAY, "write failed")

    # --- links -----------------------------------------------------------------------------------

    async def _handle_inbound(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=self._max_msg_size, heartbeat=self._heartbeat_s)
        await ws.prepare(request)
        if not self._running:
            await self._close(ws, aiohttp.WSCloseCode.TRY_AGAIN_LATER, "not started")
            return ws
        index = await self._authenticate(ws, request.remote or "?", expected_index=None)
        if index is not None:
            await self._serve(index, ws)
        return ws

    async def _authenticate(self, ws: WebSocket, who: str, *, expected_index: int | None) -> int | None:
        try:
            return await run_handshake(
                ws,
                chain_id=self.chain_id,
                signer=self._signer,
                my_index=self.my_index,
                validators=self._validators,
                expected_index=expected_index,
                timeout_s=self._handshake_timeout_s,
            )
        except SilkportError as exc:
            self.stats.refused[exc.code] += 1
            self._log.warning("refused peer %s: %s (%s)", who, exc.message, exc.code)
            await self._close(ws, aiohttp.WSCloseCode.POLICY_VIOLATION, f"refused: {exc.code}")
        except (aiohttp.ClientError, ConnectionError) as exc:
            self._log.debug("handshake with %s broke: %s", who, exc)
            await self._close(ws, aiohttp.WSCloseCode.GOING_AWAY, "broken")
        return None

    async def _serve(self, index: int, ws: WebSocket) -> None:
        """Run one authenticated link until it closes; a newer link to the same peer replaces it."""
        link = _Link(index, self._validators[index], ws, self._queue_limit)
        previous = self._links.get(index)
        self._links[index] = link
        if previous is not None:
            await self._close(previous.ws, aiohttp.WSCloseCode.GOING_AWAY, "replaced")
        self.stats.links_opened += 1
        self._log.info("validator %d connected", index)
        link.writer = asyncio.create_task(self._write_loop(link))
        if self._on_connect is not None:
            try:
                self._on_connect(index)
            except Exception:  # the host's callback must not take the link down
                self._log.exception("on_connect callback failed for validator %d", index)
        try:
            await self._read_loop(link)
        finally:
            link.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link.writer
            if self._links.get(index) is link:
                del self._links[index]
            self.stats.links_closed += 1
            await self._close(ws, aiohttp.WSCloseCode.GOING_AWAY, "closed")
            self._log.info("validator %d disconnected", index)

    async def _read_loop(self, link: _Link) -> None:
        ws = link.ws
        while True:
            message = await ws.receive()
            kind = message.type
            if kind == aiohttp.WSMsgType.BINARY:
                data: bytes = message.data
                try:
                    channel, payload = decode_frame(data, max_frame_bytes=self._max_frame_bytes)
                except SilkportError as exc:
                    await self._garbage(link, exc.code, exc.message)
                    return
                self.stats.frames_in += 1
                self.stats.bytes_in += len(data)
                try:
                    self._on_frame(link.index, channel, payload)
                except Exception:  # a bug in the handler must not take the link (or node) down
                    self._log.exception("frame handler failed on a frame from %d", link.index)
            elif kind == aiohttp.WSMsgType.TEXT:
                await self._garbage(link, "text", "text message")
                return
            elif kind == aiohttp.WSMsgType.ERROR:
                error = ws.exception()
                if isinstance(error, aiohttp.WebSocketError):
                    too_big = error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
                    await self._garbage(link, "oversize" if too_big else "protocol", str(error))
                return
            elif kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return

    async def _garbage(self, link: _Link, reason: str, detail: str) -> None:
        self.stats.garbage[reason] += 1
        self._log.warning("disconnecting validator %d: sent garbage (%s: %s)", link.index, reason, detail)
        code = (
            aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            if reason == "oversize"
            else aiohttp.WSCloseCode.UNSUPPORTED_DATA
        )
        await self._close(link.ws, code, f"garbage: {reason}")

    async def _close(self, ws: WebSocket, code: int, reason: str) -> None:
        if ws.closed:
            return
        with contextlib.suppress(Exception):
            await ws.close(code=code, message=reason.encode()[:120])

    # --- dialling --------------------------------------------------------------------------------

    def _should_dial(self, index: int) -> bool:
        return index > self.my_index and index < len(self._validators) and index in self._peer_urls

    def _sync_dialers(self) -> None:
        for index in list(self._dialers):
            if not self._should_dial(index):
                self._dialers.pop(index).cancel()
        for index in self._peer_urls:
            if self._should_dial(index) and index not in self._dialers:
                self._dialers[index] = asyncio.create_task(self._dial_loop(index), name=f"p2p-dial-{index}")

    def _url(self, index: int) -> str:
        url = self._peer_urls[index].rstrip("/")
        return url if url.endswith(P2P_PATH) else url + P2P_PATH

    async def _dial_loop(self, index: int) -> None:
        delay = self._backoff_min_s
        while self._running:
            authenticated = False
            url = self._url(index)
            try:
                assert self._session is not None
                async with self._session.ws_connect(
                    url, max_msg_size=self._max_msg_size, heartbeat=self._heartbeat_s
                ) as ws:
                    peer = await self._authenticate(ws, url, expected_index=index)
                    if peer is not None:
                        authenticated = True
                        await self._serve(peer, ws)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self._log.debug("dial %d (%s) failed: %s", index, url, exc)
            except Exception:  # anything else must not end this loop: the link would never come back
                self.stats.garbage["dial_error"] += 1
                self._log.exception("dial %d (%s) failed unexpectedly; retrying", index, url)
            if authenticated:
                delay = self._backoff_min_s
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            if not authenticated:
                delay = min(delay * 2, self._backoff_max_s)
