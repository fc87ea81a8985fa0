"""Peer transport: a full mesh of TLS 1.3 links between validators (DESIGN.md §5, §10; ADR 0010).

- Each node listens on its own **peer port** (an asyncio stream server, separate from the REST API).
  The lower index dials the higher (one link per pair); a dropped or absent link is redialled with
  capped exponential back-off (0.1 s → 5 s, with jitter), reset after each authenticated link.
- An inbound connection is accepted as plain TCP and counted per source address and in total
  (:class:`~chain.net.wire.Admission`); above a cap it is reset before any TLS work. Reading stays
  paused until the TLS upgrade (``start_tls``), and one deadline covers the whole handshake.
- TLS 1.3 only, mutual, no compression, no resumption; the peer's certificate must carry a proof
  by a key of the **current** validator set (:mod:`chain.net.certs`). Authentication is therefore
  bound to this TLS channel: a relay, a replay or a TLS-terminating proxy cannot pass.
- Plaintext (``tls=False``) exists only for devnets created with ``--insecure-plaintext``: the
  signed-challenge handshake of :mod:`chain.net.handshake`, with the same pre-auth limits.
- After authentication every message is ``u32 length || frame`` (:mod:`chain.net.wire`,
  :mod:`chain.net.frames`), length checked before the body is read. A zero-length keepalive is sent
  on an idle link; a link silent for ``idle_timeout_s`` is closed. Garbage disconnects the peer.
- An authenticated link is replaced only by another authenticated link of the same validator, and
  only when the old one has been silent for two keepalive intervals (ADR 0010 §4).
- ``send``/``broadcast`` never block: frames go to a bounded per-link queue (count and bytes)
  drained by one writer task; a full queue drops and counts (PBFT tolerates lost messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence

from chain.crypto import KeyPair, Signer
from chain.errors import ConfigError, OversizeError, SilkportError, ValidationError
from chain.net.certs import TlsIdentity, make_identity, verify_peer_certificate
from chain.net.frames import DEFAULT_MAX_FRAME_BYTES, FRAME_OVERHEAD, decode_frame, encode_frame
from chain.net.handshake import run_handshake
from chain.net.stats import NetStats
from chain.net.wire import DEFAULT_LIMITS, HEADER, KEEPALIVE, Admission, Limits, read_message

FrameHandler = Callable[[int, int, bytes], None]
_BROKEN = (OSError, EOFError, asyncio.IncompleteReadError, ssl.SSLError)
REFUSAL_LOG_INTERVAL_S = 1.0


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` → ``(host, port)``; ConfigError naming the bad address otherwise."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"peer address must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class _Link:
    """One authenticated connection and its bounded outbound queue."""

    def __init__(self, index: int, public_key: bytes, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, queue_limit: int, now: float) -> None:
        self.index = index
        self.public_key = public_key
        self.reader = reader
        self.writer = writer
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_limit)
        self.queued_bytes = 0
        self.last_received = now
        self.writer_task: asyncio.Task[None] | None = None


class _Messages:
    """The length-prefixed wire as the plaintext handshake's MessageStream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send_message(self, data: bytes) -> None:
        self.writer.write(HEADER.pack(len(data)) + data)
        await self.writer.drain()

    async def receive_message(self, max_bytes: int) -> bytes:
        return await read_message(self.reader, max_bytes)


def _abort(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.transport.abort()


def _reading(writer: asyncio.StreamWriter, on: bool) -> None:
    transport = writer.transport
    if isinstance(transport, asyncio.ReadTransport):
        transport.resume_reading() if on else transport.pause_reading()


class PeerNetwork:
    """Authenticated full-mesh transport between the validators of one chain."""

    def __init__(
        self,
        chain_id: str,
        my_index: int,
        keypair: KeyPair,
        validators: Sequence[bytes],
        peer_addresses: Mapping[int, str],
        on_frame: FrameHandler,
        *,
        listen: tuple[str, int] | socket.socket = ("127.0.0.1", 0),
        tls: bool = True,
        limits: Limits = DEFAULT_LIMITS,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        queue_limit: int = 10_000,
        queue_bytes_limit: int = 256 * 1024 * 1024,
        keepalive_s: float = 2.0,
        idle_timeout_s: float = 15.0,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
        on_connect: Callable[[int], None] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if not 0 <= my_index < len(validators) or validators[my_index] != keypair.public_key:
            raise ConfigError(f"key {keypair.public_hex[:16]} is not validator {my_index}")
        for index, address in peer_addresses.items():
            try:
                parse_address(address)
            except ConfigError as exc:
                raise ConfigError(f"peer {index}: {exc.message}") from exc
        self.chain_id = chain_id
        self.my_index = my_index
        self.tls = tls
        self.stats = NetStats()
        self._keypair = keypair
        self._signer = Signer(keypair)
        self._validators: tuple[bytes, ...] = tuple(validators)
        self._peer_addresses = dict(peer_addresses)
        self._on_frame = on_frame
        self._on_connect = on_connect
        self._listen = listen
        self._limits = limits
        self._admission = Admission(limits)
        self._max_frame_bytes = max_frame_bytes
        self._max_message = max_frame_bytes + FRAME_OVERHEAD
        self._queue_limit = queue_limit
        self._queue_bytes_limit = queue_bytes_limit
        self._keepalive_s = keepalive_s
        self._idle_timeout_s = idle_timeout_s
        self._backoff_min_s = backoff_min_s
        self._backoff_max_s = backoff_max_s
        self._log = log or logging.getLogger("silkport.net")
        self._identity: TlsIdentity | None = None
        self._server: asyncio.Server | None = None
        self._links: dict[int, _Link] = {}
        self._dialers: dict[int, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._running = False
        self._refusal_log: dict[str, tuple[float, int]] = {}

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound peer port (after :meth:`start`)."""
        assert self._server is not None and self._server.sockets, "the peer network is not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen on the peer port and dial every higher-indexed peer (reconnecting until stop)."""
        if self._running:
            return
        if self.tls:
            self._identity = make_identity(self.chain_id, self._keypair)
        else:
            self._log.warning(
                "event=p2p_plaintext INSECURE: peer links are NOT encrypted and a relay between two "
                "nodes is not detected; use only on a test devnet (--insecure-plaintext)"
            )
        if isinstance(self._listen, socket.socket):
            self._server = await asyncio.start_server(self._accepted, sock=self._listen)
        else:
            host, port = self._listen
            self._server = await asyncio.start_server(self._accepted, host, port, reuse_address=True)
        self._running = True
        self._sync_dialers()

    async def stop(self) -> None:
        """Stop listening and dialling, close every link and wait for the tasks to finish."""
        self._running = False
        if self._server is not None:
            self._server.close()
        tasks = [*self._dialers.values(), *self._background]
        self._dialers.clear()
        for link in list(self._links.values()):
            _abort(link.writer)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    @property
    def validators(self) -> tuple[bytes, ...]:
        """The validator set the links are pinned to."""
        return self._validators

    def set_validators(self, validators: Sequence[bytes], peer_addresses: Mapping[int, str] | None = None) -> None:
        """Switch to a new validator set (the pin): links whose key left the set or moved are closed."""
        self._validators = tuple(validators)
        if peer_addresses is not None:
            self._peer_addresses = dict(peer_addresses)
        for link in list(self._links.values()):
            if link.index >= len(self._validators) or self._validators[link.index] != link.public_key:
                self._log.info("closing link to %d: key no longer in the validator set", link.index)
                _abort(link.writer)
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
        """Drain the queue in batches (one ``drain`` per batch); a keepalive when idle."""
        writer = link.writer
        try:
            while True:
                try:
                    async with asyncio.timeout(self._keepalive_s):
                        frame = await link.queue.get()
                except TimeoutError:
                    writer.write(KEEPALIVE)
                    await writer.drain()
                    continue
                batch = [HEADER.pack(len(frame)), frame]
                size = len(frame)
                while not link.queue.empty() and size < 1 << 20:
                    frame = link.queue.get_nowait()
                    batch += (HEADER.pack(len(frame)), frame)
                    size += len(frame)
                link.queued_bytes -= size
                writer.writelines(batch)
                await writer.drain()
                self.stats.frames_out += len(batch) // 2
                self.stats.bytes_out += size
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket broke: the reader sees it too and ends the link
            self._log.debug("write to %d failed: %s", link.index, exc)
            _abort(writer)

    # --- inbound ---------------------------------------------------------------------------------

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Runs synchronously on accept: caps first, reading paused, then the handshake task."""
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else "?"
        if not self._running:
            self._refuse(address, "not_started", "node not started", level=logging.DEBUG)
            _abort(writer)
            return
        reason = self._admission.admit(address)
        if reason is not None:
            self._refuse(address, reason, "pre-authentication cap reached", level=logging.DEBUG)
            _abort(writer)
            return
        _reading(writer, False)  # not one byte is read before the TLS upgrade
        task = asyncio.create_task(self._inbound(reader, writer, address))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str) -> None:
        try:  # the pre-auth slot is held until both sides have accepted the link
            index = await self._authenticate(reader, writer, address, expected_index=None)
            if index is not None and index > self.my_index:
                self._refuse(address, "wrong_direction", f"validator {index} must be dialled, not dial in")
                _abort(writer)
                index = None
            if index is not None and not await self._confirm(reader, writer, address):
                index = None
        finally:
            self._admission.release(address)
        if index is not None:
            await self._serve(index, reader, writer)

    async def _confirm(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, who: str) -> bool:
        """Each side sends one keepalive once it has authenticated the other, and waits for the peer's.

        Over TLS 1.3 a client finishes its handshake before the server has checked the client's
        certificate; without this step a refused dialler would believe it had a link. Nothing but
        the 4-byte keepalive is accepted here (ADR 0010 §4).
        """
        try:
            writer.write(KEEPALIVE)
            async with asyncio.timeout(self._limits.handshake_timeout_s):
                await writer.drain()
                await read_message(reader, 0)
            return True
        except TimeoutError:
            self._refuse(who, "timeout", "the peer did not confirm the link")
        except OversizeError:
            self._refuse(who, "protocol", "a frame before the link was confirmed")
        except _BROKEN:
            self.stats.refused["peer_refused"] += 1
            self._log.info("peer %s closed the link before confirming it (it refused us)", who)
        _abort(writer)
        return False

    def _refuse(self, who: str, reason: str, detail: str, *, level: int = logging.WARNING) -> None:
        """Count a refusal; log at most one line per reason per second (a flood must not fill the disk)."""
        self.stats.refused[reason] += 1
        now = asyncio.get_running_loop().time()
        last, suppressed = self._refusal_log.get(reason, (float("-inf"), 0))
        if now - last < REFUSAL_LOG_INTERVAL_S:
            self._refusal_log[reason] = (last, suppressed + 1)
            return
        self._refusal_log[reason] = (now, 0)
        more = f" (+{suppressed} more like it not logged)" if suppressed else ""
        self._log.log(level, "refused peer %s: %s (%s)%s", who, detail, reason, more)

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, who: str, *, expected_index: int | None
    ) -> int | None:
        """TLS upgrade (inbound) + certificate pin, or the plaintext handshake; None when refused."""
        timeout_s = self._limits.handshake_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                if self.tls:
                    if expected_index is None:  # inbound: we are the TLS server
                        assert self._identity is not None
                        await writer.start_tls(self._identity.server, ssl_handshake_timeout=timeout_s + 1)
                    index = self._check_certificate(writer)
                else:
                    _reading(writer, True)
                    index = await run_handshake(
                        _Messages(reader, writer),
                        chain_id=self.chain_id,
                        signer=self._signer,
                        my_index=self.my_index,
                        validators=self._validators,
                        expected_index=expected_index,
                        timeout_s=timeout_s,
                    )
            if index == self.my_index:
                raise ValidationError("peer presents my own validator key", code="self_connection")
            if expected_index is not None and index != expected_index:
                raise ValidationError(f"dialled validator {expected_index}, peer is {index}", code="unexpected_index")
            return index
        except TimeoutError:
            self._refuse(who, "timeout", f"handshake not completed within {timeout_s} s")
        except SilkportError as exc:
            self._refuse(who, exc.code, exc.message)
        except _BROKEN as exc:
            reason = "tls_handshake_failed" if self.tls else "handshake_failed"
            self._refuse(who, reason, f"{type(exc).__name__}: {exc}", level=logging.INFO)
        _abort(writer)
        return None

    def _check_certificate(self, writer: asyncio.StreamWriter) -> int:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.version() != "TLSv1.3":
            raise ValidationError("the link is not TLS 1.3", code="tls_handshake_failed")
        return verify_peer_certificate(
            ssl_object.getpeercert(binary_form=True),
            chain_id=self.chain_id,
            validators=self._validators,
            now=datetime.datetime.now(datetime.UTC),
        )

    # --- links -----------------------------------------------------------------------------------

    async def _serve(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Run one authenticated link until it closes; False if refused as a duplicate of a live link."""
        loop = asyncio.get_running_loop()
        previous = self._links.get(index)
        if previous is not None:
            if loop.time() - previous.last_received < 2 * self._keepalive_s:
                self._refuse(f"validator {index}", "duplicate_link", "a live link to it exists")
                _abort(writer)
                return False
            self.stats.replaced += 1
            self._log.info("validator %d: replacing a link silent for %.1f s", index,
                           loop.time() - previous.last_received)
            _abort(previous.writer)
        link = _Link(index, self._validators[index], reader, writer, self._queue_limit, loop.time())
        self._links[index] = link
        self.stats.links_opened += 1
        self._log.info("validator %d connected", index)
        link.writer_task = asyncio.create_task(self._write_loop(link))
        if self._on_connect is not None:
            try:
                self._on_connect(index)
            except Exception:  # the host's callback must not take the link down
                self._log.exception("on_connect callback failed for validator %d", index)
        try:
            await self._read_loop(link)
        finally:
            link.writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await link.writer_task
            if self._links.get(index) is link:
                del self._links[index]
            self.stats.links_closed += 1
            _abort(writer)
            self._log.info("validator %d disconnected", index)
        return True

    async def _read_loop(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout(self._idle_timeout_s):
                    data = await read_message(link.reader, self._max_message)
            except TimeoutError:
                self._log.info("validator %d silent for %.0f s: closing", link.index, self._idle_timeout_s)
                return
            except OversizeError as exc:
                self._garbage(link, exc.code, exc.message)
                return
            except _BROKEN:
                return
            link.last_received = loop.time()
            if not data:
                continue  # keepalive
            try:
                channel, payload = decode_frame(data, max_frame_bytes=self._max_frame_bytes)
            except SilkportError as exc:
                self._garbage(link, exc.code, exc.message)
                return
            self.stats.frames_in += 1
            self.stats.bytes_in += len(data)
            try:
                self._on_frame(link.index, channel, payload)
            except Exception:  # a bug in the handler must not take the link (or node) down
                self._log.exception("frame handler failed on a frame from %d", link.index)

    def _garbage(self, link: _Link, reason: str, detail: str) -> None:
        self.stats.garbage[reason] += 1
        self._log.warning("disconnecting validator %d: sent garbage (%s: %s)", link.index, reason, detail)
        _abort(link.writer)

    # --- dialling --------------------------------------------------------------------------------

    def _should_dial(self, index: int) -> bool:
        return self.my_index < index < len(self._validators) and index in self._peer_addresses

    def _sync_dialers(self) -> None:
        for index in list(self._dialers):
            if not self._should_dial(index):
                self._dialers.pop(index).cancel()
        for index in self._peer_addresses:
            if self._should_dial(index) and index not in self._dialers:
                self._dialers[index] = asyncio.create_task(self._dial_loop(index), name=f"p2p-dial-{index}")

    async def _dial(self, index: int) -> bool:
        """One connection attempt to validator ``index``; True if it authenticated (and has ended)."""
        address = self._peer_addresses[index]
        host, port = parse_address(address)
        context = self._identity.client if self.tls and self._identity is not None else None
        try:
            async with asyncio.timeout(self._limits.handshake_timeout_s):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, ssl_handshake_timeout=self._limits.handshake_timeout_s + 1
                    if context is not None else None,
                )
        except TimeoutError:
            self._log.debug("dial %d (%s): timed out", index, address)
            return False
        except ssl.SSLError as exc:
            self._refuse(address, "tls_handshake_failed", f"dialling {index}: {exc}", level=logging.INFO)
            return False
        peer = await self._authenticate(reader, writer, address, expected_index=index)
        if peer is None or not await self._confirm(reader, writer, address):
            return False
        return await self._serve(peer, reader, writer)

    async def _dial_loop(self, index: int) -> None:
        delay = self._backoff_min_s
        while self._running:
            authenticated = False
            try:
                authenticated = await self._dial(index)
            except asyncio.CancelledError:
                raise
            except _BROKEN as exc:
                self._log.debug("dial %d failed: %s", index, exc)
            except Exception:  # anything else must not end this loop: the link would never come back
                self.stats.garbage["dial_error"] += 1
                self._log.exception("dial %d failed unexpectedly; retrying", index)
            if authenticated:
                delay = self._backoff_min_s
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            if not authenticated:
                delay = min(delay * 2, self._backoff_max_s)
