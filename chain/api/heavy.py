"""Heavy reads off the event loop (ADR 0011): proofs and asset history run on the app's bounded
thread pool, never on the loop that runs consensus.

A worker must not touch what the loop mutates. Committed blocks, receipts and state versions are
immutable in the store once the head names them, and plyvel reads are thread-safe; the one shared
mutable piece is the ledger's state-tree node cache, which block execution uses. So the reader here
has a :class:`~chain.statetree.StateTree` of its own over the same store (its own cache) and a
:class:`~chain.proofs.build.ProofBuilder` on that tree; one lock serialises the reader's own caches.
Each read fixes the head height first and reads at that height only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from chain.api.keys import HEAVY_POOL, NODE
from chain.errors import OversizeError
from chain.proofs.build import ProofBuilder
from chain.proofs.document import MAX_DOCUMENT_BYTES
from chain.statetree import StateTree

if TYPE_CHECKING:
    from chain.ledger import Ledger

T = TypeVar("T")
READER_CACHE_NODES = 50_000
"""The reader's state-tree cache (internal nodes, ~30 MB at most): a fraction of the executor's."""
READERS = web.AppKey("silkport.heavy_readers", dict)


class HeavyReader:
    """A ledger reader for worker threads: its own state tree and proof builder, used under a lock."""

    def __init__(self, ledger: Ledger) -> None:
        from chain.ledger import STATE_PREFIX

        self.ledger = ledger
        self.tree = StateTree(ledger.kv, prefix=STATE_PREFIX, cache_nodes=READER_CACHE_NODES)
        self.builder = ProofBuilder(ledger, self.tree)
        self.lock = threading.Lock()

    def state_get(self, height: int) -> Callable[[bytes], bytes | None]:
        """Reads of the state at ``height`` through this reader's tree."""
        return lambda key: self.tree.get(key, height)


def register(app: web.Application) -> None:
    app[READERS] = {}


def reader_for(request: web.Request) -> HeavyReader:
    ledger: Ledger = request.app[NODE].ledger
    readers: dict[int, HeavyReader] = request.app[READERS]
    reader = readers.get(id(ledger))
    if reader is None or reader.ledger is not ledger:
        reader = readers[id(ledger)] = HeavyReader(ledger)
    return reader


async def off_loop(request: web.Request, work: Callable[[HeavyReader], T]) -> T:
    """Run ``work(reader)`` on the heavy thread pool, one at a time per reader."""
    reader = reader_for(request)

    def run() -> T:
        with reader.lock:
            return work(reader)

    return await asyncio.get_running_loop().run_in_executor(request.app[HEAVY_POOL], run)


def capped(text: str) -> str:
    """A heavy answer no larger than a verifier accepts (``MAX_DOCUMENT_BYTES``)."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise OversizeError(f"the answer would be {len(text)} bytes, over the {MAX_DOCUMENT_BYTES}-byte limit")
    return text
