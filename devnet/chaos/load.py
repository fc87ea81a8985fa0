"""The chaos runner's load: ``noop.ping`` transactions at a fixed rate through the REST API.

Transaction ``i`` is due at ``start + i / rate`` (open loop) and goes to node ``i mod n`` as canonical
msgpack (``POST /v1/txs``); every sender key is fresh (nonce 1), so nothing races on nonces. After a
``202`` the same node is asked ``GET /v1/txs/{id}?wait=commit`` until it answers ``committed`` or
gives up; a ``committed`` answer is an **acknowledgement**: the run records the transaction, the node
and the height it named, and at the end every node must hold that transaction at that height.
Runs in its own thread with its own event loop, so the fault schedule never waits on it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import aiohttp

from chain.crypto import KeyPair
from chain.types import make_tx

MSGPACK = {"Content-Type": "application/msgpack"}
WAIT_S = 5
WAIT_ROUNDS = 4
MAX_IN_FLIGHT = 512


@dataclass(slots=True)
class LoadStats:
    """What the load saw; ``acknowledged`` maps tx id to ``(node, height)``."""

    submitted: int = 0
    accepted: int = 0
    refused: int = 0
    unreachable: int = 0
    acknowledged: dict[str, tuple[int, int]] = field(default_factory=dict)


class LoadGenerator:
    """``start()`` begins submitting; ``stop()`` stops new submissions and waits for pending acks."""

    def __init__(self, apis: list[str], chain_id: str, rate: float) -> None:
        self.apis = apis
        self.chain_id = chain_id
        self.rate = rate
        self.stats = LoadStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="chaos-load", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.rate > 0:
            self._thread.start()

    def stop(self, drain_timeout: float = 30.0) -> LoadStats:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(drain_timeout)
        with self._lock:
            return self.stats

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
        timeout = aiohttp.ClientTimeout(total=WAIT_S + 5)
        limit = asyncio.Semaphore(MAX_IN_FLIGHT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            tasks: set[asyncio.Task[None]] = set()
            start = time.monotonic()
            i = 0
            while not self._stop.is_set():
                delay = start + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(min(delay, 0.2))
                    continue
                if limit.locked():  # saturated (nodes down or paused): skip this slot, stay open loop
                    i += 1
                    continue
                node = i % len(self.apis)
                tx = make_tx(self.chain_id, "noop", "ping", {"note": f"chaos {i}"}, [KeyPair.generate()], 1)
                task = asyncio.create_task(self._one(session, limit, node, tx.tx_id, tx.encode()))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if tasks:
                await asyncio.wait(tasks, timeout=WAIT_S * WAIT_ROUNDS + 10)

    async def _one(
        self, session: aiohttp.ClientSession, limit: asyncio.Semaphore, node: int, tx_id: str, body: bytes
    ) -> None:
        api = self.apis[node]
        async with limit:
            with self._lock:
                self.stats.submitted += 1
            try:
                async with session.post(f"{api}/v1/txs", data=body, headers=MSGPACK) as response:
                    accepted = response.status == 202
                    await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError):
                with self._lock:
                    self.stats.unreachable += 1
                return
            with self._lock:
                if accepted:
                    self.stats.accepted += 1
                else:
                    self.stats.refused += 1
            if not accepted:
                return
            for _ in range(WAIT_ROUNDS):
                try:
                    url = f"{api}/v1/txs/{tx_id}?wait=commit&timeout={WAIT_S}"
                    async with session.get(url) as response:
                        record = await response.json() if response.status == 200 else None
                except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                    return
                if isinstance(record, dict) and record.get("status") == "committed":
                    with self._lock:
                        self.stats.acknowledged[tx_id] = (node, int(record["height"]))
                    return
