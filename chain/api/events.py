"""``GET /v1/events``: one live feed of the node's head, as server-sent events (WHATWG HTML §9.2).

One broadcaster task per app samples ``node.status()`` every :attr:`EventLimits.sample_s` and, when
the height, view or primary changed, hands one ``head`` event to every subscriber; so a thousand
open explorers cost the node one status read per sample, not a thousand polls (ADR 0025).

Abuse limits (ADR 0011 style, answered as problem+json with ``Retry-After``): at most
``per_address`` open streams per source address and ``total`` in all (503 beyond); each subscriber
has a queue of ``queue_size`` events and each write must finish within ``write_timeout_s`` — a client
that does not read (full queue or stalled socket) is dropped, never buffered for. A comment line is
sent every ``heartbeat_s`` so proxies keep the stream and dead peers are found. A stream lives at
most ``max_age_s``; ``retry:`` tells the browser's ``EventSource`` to reconnect after it. When the node
shuts down every stream ends at once (aiohttp would otherwise wait for them, up to its shutdown timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chain.api.keys import NODE
from chain.api.models import EmptyQuery, parse
from chain.api.problems import problem

log = logging.getLogger(__name__)
HEAD_FIELDS = ("height", "view", "primary", "last_block_hash", "last_block_time_ms", "peers_connected")


@dataclass(frozen=True)
class EventLimits:
    per_address: int = 4
    total: int = 64
    """Streams open at once; far below the read class's in-flight caps (ADR 0011), which a stream also holds."""
    queue_size: int = 16
    write_timeout_s: float = 5.0
    heartbeat_s: float = 15.0
    sample_s: float = 0.25
    max_age_s: float = 600.0
    retry_ms: int = 2000


EVENT_LIMITS = web.AppKey("silkport.event_limits", EventLimits)


def head_of(status: dict[str, Any]) -> dict[str, Any]:
    """The part of ``/v1/status`` a head event carries."""
    return {key: status[key] for key in HEAD_FIELDS if key in status}


def encode_event(name: str, data: dict[str, Any], event_id: int) -> bytes:
    """One SSE frame: ``id``, ``event`` and a single-line JSON ``data`` field."""
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Subscriber:
    """One open stream: a bounded queue the broadcaster fills and the handler drains."""

    def __init__(self, address: str, queue_size: int) -> None:
        self.address = address
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(queue_size)
        self.overflowed = asyncio.Event()

    def offer(self, frame: bytes) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed.set()  # a client that does not read is dropped, not buffered for


class Feed:
    """The subscribers of one app and the broadcaster that samples the node's head."""

    def __init__(self, limits: EventLimits) -> None:
        self.limits = limits
        self.subscribers: set[Subscriber] = set()
        self.by_address: dict[str, int] = {}
        self.last: dict[str, Any] | None = None
        self.sequence = 0
        self.refused = {"per_address": 0, "total": 0}
        self.dropped_slow = 0
        self.closing = asyncio.Event()
        """Set when the app shuts down: every stream ends at once instead of holding the shutdown."""

    def admit(self, address: str) -> Subscriber | web.Response:
        if len(self.subscribers) >= self.limits.total:
            self.refused["total"] += 1
            return problem(503, "too_many_streams", f"the node serves {self.limits.total} event streams already",
                           headers={"Retry-After": "5"})
        if self.by_address.get(address, 0) >= self.limits.per_address:
            self.refused["per_address"] += 1
            return problem(429, "too_many_streams_from_address",
                           f"at most {self.limits.per_address} event streams per address", headers={"Retry-After": "5"})
        subscriber = Subscriber(address, self.limits.queue_size)
        self.subscribers.add(subscriber)
        self.by_address[address] = self.by_address.get(address, 0) + 1
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.discard(subscriber)
            left = self.by_address[subscriber.address] - 1
            if left:
                self.by_address[subscriber.address] = left
            else:
                del self.by_address[subscriber.address]

    def sample(self, status: dict[str, Any]) -> None:
        """Publish a ``head`` event if the height, view or primary changed since the last sample."""
        head = head_of(status)
        changed = self.last is None or any(
            head.get(k) != self.last.get(k) for k in ("height", "view", "primary")
        )
        self.last = head
        if changed:
            self.sequence += 1
            frame = encode_event("head", head, self.sequence)
            for subscriber in list(self.subscribers):
                subscriber.offer(frame)


FEED = web.AppKey("silkport.event_feed", Feed)


async def _broadcast(app: web.Application) -> None:
    feed = app[FEED]
    node = app[NODE]
    while True:
        try:
            feed.sample(node.status())
        except Exception:  # noqa: BLE001 - a failing status read must not end the feed
            log.exception("event=events_sample_failed")
        await asyncio.sleep(feed.limits.sample_s)


async def _feed_context(app: web.Application) -> AsyncIterator[None]:
    """The feed and its broadcaster live as long as the app (limits read when it starts)."""
    app[FEED] = Feed(app[EVENT_LIMITS])
    task = asyncio.create_task(_broadcast(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def get_events(request: web.Request) -> web.StreamResponse:
    parse(EmptyQuery, dict(request.query))
    feed = request.app[FEED]
    limits = feed.limits
    admitted = feed.admit(request.remote or "unknown")
    if isinstance(admitted, web.Response):
        return admitted
    subscriber = admitted
    dropped = False
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
    })
    try:
        await response.prepare(request)
        first = head_of(request.app[NODE].status())  # the head now, not the last sample (up to sample_s old)
        await _write(response, f"retry: {limits.retry_ms}\n\n".encode() + encode_event("head", first, feed.sequence),
                     limits)
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + limits.max_age_s
        overflow = asyncio.ensure_future(subscriber.overflowed.wait())
        closing = asyncio.ensure_future(feed.closing.wait())
        try:
            while loop.time() < ends_at:
                getter = asyncio.ensure_future(subscriber.queue.get())
                wait_s = min(limits.heartbeat_s, max(0.0, ends_at - loop.time()))
                done, _ = await asyncio.wait({getter, overflow, closing}, timeout=wait_s,
                                             return_when=asyncio.FIRST_COMPLETED)
                if overflow in done or closing in done:
                    getter.cancel()
                    dropped = overflow in done
                    break
                if getter in done:
                    await _write(response, getter.result(), limits)
                else:
                    getter.cancel()
                    await _write(response, b": heartbeat\n\n", limits)
        finally:
            overflow.cancel()
            closing.cancel()
    except (TimeoutError, ConnectionError):
        dropped = True  # a stalled socket: the client is gone or does not read
    finally:
        feed.leave(subscriber)
    if dropped:
        feed.dropped_slow += 1
        if request.transport is not None:
            request.transport.abort()  # never wait on a peer that does not read
    return response


async def _write(response: web.StreamResponse, frame: bytes, limits: EventLimits) -> None:
    await asyncio.wait_for(response.write(frame), limits.write_timeout_s)


def register(app: web.Application, limits: EventLimits | None = None) -> None:
    """Add ``GET /v1/events`` and its broadcaster to ``app``."""
    app[EVENT_LIMITS] = limits or EventLimits()
    app.cleanup_ctx.append(_feed_context)
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/v1/events", get_events)


async def _end_streams(app: web.Application) -> None:
    """aiohttp waits for running handlers after ``on_shutdown``: end the streams so it need not wait."""
    if FEED in app:
        app[FEED].closing.set()


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/events": {"get": {
        "summary": "Live feed of the head (height, view, primary) as server-sent events (ADR 0025)",
        "responses": {
            "200": {"description": "text/event-stream of `head` events and heartbeat comments",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            "400": {"description": "unexpected query parameter",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        },
    }},
}
OPENAPI_SCHEMAS: dict[str, Any] = {}
