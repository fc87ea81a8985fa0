"""The receiving side of state sync (ADR 0021): agree on a checkpoint, fetch, verify, install.

Run before the node starts (``node.py run --state-sync``): when the newest checkpoint that ``f + 1``
validators serve identically is at least ``state_sync_min_blocks`` above the local head, the node
fetches that snapshot's 256 chunks and its history pages from several peers at once, verifies each
part on arrival (:mod:`chain.statesync.snapshot`), drops a peer whose part fails for the rest of the sync and
asks another, and installs the whole in one synced batch (:mod:`chain.statesync.install`). The node
then starts as after a restart at the checkpoint: its replica begins at the certified head (the
checkpoint and watermarks of ADR 0013 start there) and the pipelined catch-up of ADR 0020 replays the
tail. Otherwise, or when no snapshot can be agreed or fetched, it replays blocks as before.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yarl

from chain.api.validator_auth import sign_request
from chain.config import NodeConfig
from chain.consensus.quorum import max_faulty
from chain.crypto import KeyPair, load_key_file, read_passphrase_file
from chain.errors import SilkportError, SnapshotError
from chain.genesis import GenesisDoc, load_genesis
from chain.ledger import Ledger
from chain.statesync.install import install
from chain.statesync.snapshot import (
    CHUNKS,
    Chunk,
    Manifest,
    decode_history,
    history_pages,
    verify_chunk,
    verify_history,
    verify_manifest,
)
from chain.storage.leveldb import LevelDBKV

log = logging.getLogger("silkport.statesync")
PATH = "/v1/sync/snapshot"
REQUEST_TIMEOUT_S = 30.0
PER_PEER_IN_FLIGHT = 2
"""Requests in flight to one peer: within its validators' pool of heavy reads (ADR 0011)."""
ROUNDS = 4
"""Times every usable peer is asked for one part before the sync gives up."""
RETRY_PAUSE_S = 0.5

Fetch = Callable[[int, str], Awaitable[bytes]]
"""``fetch(peer, path?query)`` → the body of a 200 answer; raises ``OSError``/``SilkportError`` otherwise."""


class FetchError(SilkportError):
    """A peer did not answer a snapshot request with 200."""

    code = "fetch_failed"


@dataclass
class Snapshot:
    """A verified snapshot, ready for :func:`chain.statesync.install.install`."""

    manifest: Manifest
    leaves: list[tuple[bytes, bytes]] = field(default_factory=list)
    entries: list[tuple[bytes, bytes]] = field(default_factory=list)
    history: list[bytes] = field(default_factory=list)


async def _manifests(fetch: Fetch, peers: list[int], query: str, chain_id: str,
                     keys: tuple[bytes, ...]) -> list[Manifest]:
    async def one(peer: int) -> Manifest | None:
        try:
            manifest = Manifest.decode(await fetch(peer, PATH + query))
            verify_manifest(manifest, chain_id, keys)
            return manifest
        except (OSError, TimeoutError, aiohttp.ClientError, SilkportError, ValueError, TypeError) as exc:
            log.info("event=snapshot_manifest_refused peer=%d error=%s", peer, exc)
            return None

    return [m for m in await asyncio.gather(*(one(p) for p in peers)) if m is not None]


def _agreed(manifests: list[Manifest], needed: int) -> Manifest | None:
    """The highest manifest whose height, block and index digests ``needed`` distinct signers share."""
    groups: dict[bytes, dict[int, Manifest]] = {}
    for manifest in manifests:
        groups.setdefault(manifest.agreement(), {})[manifest.signer] = manifest
    agreed = [next(iter(g.values())) for g in groups.values() if len(g) >= needed]
    return max(agreed, key=lambda m: m.height, default=None)


async def agree(fetch: Fetch, peers: list[int], chain_id: str, keys: tuple[bytes, ...]) -> Manifest | None:
    """The newest checkpoint manifest that ``f + 1`` validators signed identically (None: none)."""
    needed = max_faulty(len(keys)) + 1
    manifests = await _manifests(fetch, peers, "", chain_id, keys)
    chosen = _agreed(manifests, needed)
    for height in sorted({m.height for m in manifests}, reverse=True):
        if chosen is not None and chosen.height >= height:
            break
        others = [p for p in peers if p not in {m.signer for m in manifests if m.height == height}]
        manifests += await _manifests(fetch, others, f"?height={height}", chain_id, keys)
        chosen = _agreed(manifests, needed)
    return chosen


async def fetch_snapshot(fetch: Fetch, peers: list[int], manifest: Manifest, genesis_hash: bytes) -> Snapshot:
    """Every chunk and history page of ``manifest``, each verified on arrival; a peer that sends a bad
    part is not asked again. Raises :class:`SnapshotError` when a part cannot be had from anyone."""
    height = manifest.height
    parts: list[tuple[str, int]] = [("chunk", k) for k in range(CHUNKS)]
    parts += [("history", p) for p in range(history_pages(height))]
    chunks: dict[int, Chunk] = {}
    pages: dict[int, list[bytes]] = {}
    rejected: set[int] = set()
    slots = {peer: asyncio.Semaphore(PER_PEER_IN_FLIGHT) for peer in peers}
    queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
    for part in parts:
        queue.put_nowait(part)

    async def get(kind: str, number: int) -> None:
        for attempt in range(ROUNDS * len(peers)):
            usable = [p for p in peers if p not in rejected]
            if not usable:
                break
            peer = usable[(number + attempt) % len(usable)]
            try:
                async with slots[peer]:
                    body = await fetch(peer, f"{PATH}?height={height}&{kind}={number}")
                if kind == "chunk":
                    chunk = Chunk.decode(body)
                    verify_chunk(manifest, number, chunk, manifest.index_digests)
                    chunks[number] = chunk
                else:
                    pages[number] = decode_history(body, manifest, number)
                return
            except (SnapshotError, ValueError, TypeError) as exc:  # whatever its bytes, a bad part is the peer's
                rejected.add(peer)
                log.warning("event=snapshot_peer_rejected peer=%d part=%s/%d reason=%s", peer, kind, number, exc)
            except (OSError, TimeoutError, aiohttp.ClientError, SilkportError) as exc:
                log.info("event=snapshot_part_failed peer=%d part=%s/%d error=%s", peer, kind, number, exc)
                if attempt and attempt % len(usable) == 0:
                    await asyncio.sleep(RETRY_PAUSE_S)
        raise SnapshotError(f"no peer served snapshot {kind} {number} of height {height} that verifies")

    async def worker() -> None:
        while not queue.empty():
            await get(*queue.get_nowait())

    tasks = [asyncio.create_task(worker()) for _ in range(PER_PEER_IN_FLIGHT * len(peers))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:  # one part that nobody serves ends the sync: stop the other workers
            task.cancel()
    history = [h for page in range(len(pages)) for h in pages[page]]
    verify_history(manifest, history, genesis_hash)
    snapshot = Snapshot(manifest, history=history)
    for k in range(CHUNKS):
        snapshot.leaves.extend(chunks[k].leaves)
        snapshot.entries.extend(chunks[k].entries)
    return snapshot


def signed_fetch(session: aiohttp.ClientSession, config: NodeConfig, keypair: KeyPair, chain_id: str) -> Fetch:
    """GETs to the peers' APIs, signed as this validator (served from their reserved pool)."""

    async def fetch(peer: int, path_qs: str) -> bytes:
        address = config.peers[peer]
        headers = sign_request(keypair, config.index, chain_id, "GET", path_qs,
                               int(time.time() * 1000) + config.clock_offset_ms, secrets.token_bytes(16))
        async with session.get(yarl.URL(address.api + path_qs, encoded=True), headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise FetchError(f"peer {peer} answered {response.status}: {body[:200]!r}")
            return body

    return fetch


async def offered_heights(fetch: Fetch, peers: list[int]) -> list[int]:
    """Heights of the peers' latest manifests, highest first, read without verification: only hints of
    where to ask for a trust chain (ADR 0027)."""
    async def one(peer: int) -> int | None:
        try:
            return Manifest.decode(await fetch(peer, PATH)).height
        except (OSError, TimeoutError, aiohttp.ClientError, SilkportError, ValueError, TypeError):
            return None

    return sorted({h for h in await asyncio.gather(*(one(p) for p in peers)) if h is not None}, reverse=True)


async def agree_across_sets(fetch: Fetch, peers: list[int], genesis: GenesisDoc, keys: tuple[bytes, ...]) -> Manifest | None:
    """:func:`agree` with this node's set; failing that (the peers' checkpoints are certified by a set it
    has not seen, e.g. a validator that governance added, ADR 0027), with the set a verified trust chain
    names for the peers' newest checkpoint."""
    manifest = await agree(fetch, peers, genesis.chain_id, keys)
    if manifest is not None:
        return manifest
    from chain.statesync.join import trusted_validators

    for height in (await offered_heights(fetch, peers))[:ROUNDS]:
        trusted = await trusted_validators(fetch, peers, genesis, height)
        if trusted is None or trusted[1] == keys:
            continue
        log.info("event=state_sync_trust_chain height=%d validators=%d", height, len(trusted[1]))
        manifest = await agree(fetch, peers, genesis.chain_id, trusted[1])
        if manifest is not None:
            return manifest
    return None


async def state_sync(home: Path, config: NodeConfig, *, force: bool = False) -> int | None:
    """Install the agreed checkpoint snapshot if the node is far enough behind (``force``: at any distance
    when the store is at genesis — a joining validator, ADR 0027); returns its height, or None when the node should replay blocks
    instead (logged with the reason)."""
    genesis: GenesisDoc = load_genesis(config.path(home, config.genesis_file))
    passphrase_file = config.key_passphrase_file
    passphrase = read_passphrase_file(config.path(home, passphrase_file)) if passphrase_file else None
    keypair = load_key_file(config.path(home, config.key_file), passphrase)
    kv = LevelDBKV(config.path(home, config.data_dir))
    try:
        ledger = Ledger(kv, genesis)
        local, keys = ledger.height, ledger.validator_keys
        genesis_hash = ledger.store.block_hash(0) or b""
        peers = [p for p in sorted(config.peers) if p != config.index]
        started = time.perf_counter()
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            fetch = signed_fetch(session, config, keypair, genesis.chain_id)
            manifest = await agree_across_sets(fetch, peers, genesis, keys)
            if manifest is None:
                log.warning("event=state_sync_skipped reason=no_snapshot_agreed_by_f+1_validators head=%d", local)
                return None
            if manifest.height <= local or (not (force and local == 0) and manifest.height - local < config.state_sync_min_blocks):
                log.info("event=state_sync_skipped reason=close_enough head=%d checkpoint=%d min_blocks=%d",
                         local, manifest.height, config.state_sync_min_blocks)
                return None
            log.info("event=state_sync_started head=%d checkpoint=%d peers=%s", local, manifest.height, peers)
            ordered = sorted(peers, key=lambda p: p != manifest.signer)
            try:
                snapshot = await fetch_snapshot(fetch, ordered, manifest, genesis_hash)
            except SnapshotError as exc:
                log.warning("event=state_sync_failed reason=%s: replaying blocks instead", exc.message)
                return None
        install(kv, genesis, snapshot.manifest, snapshot.leaves, snapshot.entries, snapshot.history)
        log.info("event=state_sync_installed height=%d keys=%d index_entries=%d seconds=%.2f",
                 manifest.height, len(snapshot.leaves), len(snapshot.entries), time.perf_counter() - started)
        return manifest.height
    finally:
        kv.close()
