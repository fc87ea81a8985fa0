"""State sync's receiving side and route (ADR 0021): f + 1 agreement on a manifest, a Byzantine peer's
forged parts detected and fetched elsewhere, and the route's answers to bad and abusive requests."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_snapshot import CHECKPOINT, VALIDATORS, build_chain, genesis

from chain import codec
from chain.api import make_app
from chain.api.validator_auth import sign_request
from chain.config import ApiBudgets, RouteBudget
from chain.crypto import Signer
from chain.errors import SnapshotError
from chain.ledger import Ledger
from chain.localnode import LocalNode
from chain.statesync.install import install
from chain.statesync.snapshot import CHUNKS, Chunk, Manifest
from chain.statesync.source import SnapshotSource
from chain.statesync.sync import PER_PEER_IN_FLIGHT, agree, fetch_snapshot
from chain.storage.kv import MemoryKV
from testkit import contracts as testkit

Client = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def chain() -> LocalNode:
    return build_chain()


def honest(node: LocalNode, index: int) -> Callable[[str], bytes]:
    source = SnapshotSource(node.ledger, Signer(VALIDATORS[index]), lambda: index)

    def serve(path_qs: str) -> bytes:
        query = dict(part.split("=") for part in path_qs.partition("?")[2].split("&") if part)
        height = int(query.get("height", source.latest_checkpoint(node.ledger.height)))
        source.check_height(height, node.ledger.height)
        if "chunk" in query:
            return source.chunk(height, int(query["chunk"]))
        if "history" in query:
            return source.history(height, int(query["history"]))
        return source.manifest(height)

    return serve


def forging(serve: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """A Byzantine peer: every chunk it serves has one value changed."""

    def forge(path_qs: str) -> bytes:
        body = serve(path_qs)
        if "chunk=" not in path_qs:
            return body
        chunk = Chunk.decode(body)
        if not chunk.leaves:
            return body
        (path, value), *rest = chunk.leaves
        return dataclasses.replace(chunk, leaves=((path, value + b"!"), *rest)).encode()

    return forge


def fetcher(peers: dict[int, Callable[[str], bytes]], asked: list[tuple[int, str]]) -> Any:
    async def fetch(peer: int, path_qs: str) -> bytes:
        asked.append((peer, path_qs))
        await asyncio.sleep(0)
        return peers[peer](path_qs)

    return fetch


def test_a_forging_peer_is_detected_and_the_others_serve_its_parts(
    chain: LocalNode, caplog: pytest.LogCaptureFixture
) -> None:
    peers = {1: honest(chain, 1), 2: forging(honest(chain, 2)), 3: honest(chain, 3)}
    asked: list[tuple[int, str]] = []
    fetch = fetcher(peers, asked)
    keys = chain.ledger.validator_keys
    genesis_hash = chain.ledger.store.block_hash(0) or b""

    async def run() -> Any:
        manifest = await agree(fetch, [1, 2, 3], testkit.CHAIN_ID, keys)
        assert manifest is not None and manifest.height == 2 * CHECKPOINT
        return await fetch_snapshot(fetch, [2, 1, 3], manifest, genesis_hash)

    with caplog.at_level(logging.WARNING, "silkport.statesync"):
        snapshot = asyncio.run(run())
    rejections = sum("event=snapshot_peer_rejected peer=2" in r.message for r in caplog.records)
    assert 1 <= rejections <= PER_PEER_IN_FLIGHT  # the requests already in flight to it when it was caught
    chunk_asks = [peer for peer, path in asked if "chunk=" in path]
    assert chunk_asks.count(2) == rejections  # never asked again once caught
    kv = MemoryKV()
    install(kv, genesis(), snapshot.manifest, snapshot.leaves, snapshot.entries, snapshot.history)
    assert Ledger(kv, genesis()).tree.root_hash(2 * CHECKPOINT) == chain.ledger.tree.root_hash(2 * CHECKPOINT)


def test_no_agreement_without_f_plus_one_identical_manifests(chain: LocalNode) -> None:
    """Index digests are not in the state root: a lone signer (even honest) is not enough."""
    keys = chain.ledger.validator_keys

    def lying_index(index: int) -> Callable[[str], bytes]:
        serve = honest(chain, index)

        def lie(path_qs: str) -> bytes:
            manifest = Manifest.decode(serve(path_qs))
            digests = (bytes([index]) * 32,) + manifest.index_digests[1:]
            return Manifest.create(manifest.header, manifest.certificate, manifest.summary, digests, index,
                                   Signer(VALIDATORS[index])).encode()

        return lie

    peers = {1: honest(chain, 1), 2: lying_index(2), 3: lying_index(3)}
    assert asyncio.run(agree(fetcher(peers, []), [1, 2, 3], testkit.CHAIN_ID, keys)) is None
    peers[3] = honest(chain, 3)
    agreed = asyncio.run(agree(fetcher(peers, []), [1, 2, 3], testkit.CHAIN_ID, keys))
    assert agreed is not None and agreed.signer in (1, 3)


def test_peers_at_different_checkpoints_agree_on_an_older_one(chain: LocalNode) -> None:
    behind = honest(chain, 3)

    def older(path_qs: str) -> bytes:  # this peer's latest checkpoint is one behind the others'
        return behind(path_qs if "height=" in path_qs else f"{path_qs}?height={CHECKPOINT}")

    peers = {1: honest(chain, 1), 3: older}
    agreed = asyncio.run(agree(fetcher(peers, []), [1, 3], testkit.CHAIN_ID, chain.ledger.validator_keys))
    assert agreed is not None and agreed.height == 2 * CHECKPOINT  # peer 3 is asked for that height too


def test_a_part_nobody_serves_ends_the_sync_with_a_clear_error(chain: LocalNode) -> None:
    keys = chain.ledger.validator_keys
    peers = {1: forging(honest(chain, 1)), 2: forging(honest(chain, 2))}

    async def run() -> None:
        fetch = fetcher(peers, [])
        manifest = await agree(fetch, [1, 2], testkit.CHAIN_ID, keys)
        assert manifest is not None
        await fetch_snapshot(fetch, [1, 2], manifest, chain.ledger.store.block_hash(0) or b"")

    with pytest.raises(SnapshotError, match="no peer served snapshot chunk"):
        asyncio.run(run())


# --- the route ----------------------------------------------------------------------------------


def serve_app(node: LocalNode, body: Any, budgets: ApiBudgets | None = None) -> None:
    async def main() -> None:
        app = make_app(node, rate_limit=None, budgets=budgets, clock=lambda: 0.0,
                       clock_ms=lambda: node.clock_ms)
        async with TestClient(TestServer(app)) as client:
            await body(client)

    asyncio.run(main())


def test_the_route_serves_verifiable_parts_and_refuses_bad_queries(chain: LocalNode) -> None:
    node: Any = chain
    node.snapshots = SnapshotSource(chain.ledger, Signer(VALIDATORS[0]), lambda: 0)

    async def body(client: Client) -> None:
        response = await client.get("/v1/sync/snapshot")
        assert response.status == 200, await response.text()
        assert response.headers["X-Silkport-Snapshot-Height"] == str(2 * CHECKPOINT)
        manifest = Manifest.decode(await response.read())
        assert manifest.height == 2 * CHECKPOINT
        response = await client.get(f"/v1/sync/snapshot?height={CHECKPOINT}&chunk=7")
        assert Chunk.decode(await response.read()).index == 7
        bad = {
            "chunk=1": 400, f"height={CHECKPOINT}&chunk={CHUNKS}": 400, "height=x": 400, "height=-16": 400,
            f"height={CHECKPOINT}&chunk=1&history=0": 400, "foo=1": 400, f"height={CHECKPOINT}&history=9": 400,
            f"height={CHECKPOINT + 1}": 404, f"height={100 * CHECKPOINT}": 404, "height=99999999999999999999": 400,
        }
        for query, status in bad.items():
            response = await client.get(f"/v1/sync/snapshot?{query}")
            assert response.status == status, (query, await response.text())
            assert response.content_type == "application/problem+json"

    serve_app(node, body)
    del node.snapshots
    serve_app(chain, _expect_404)


async def _expect_404(client: Client) -> None:
    response = await client.get("/v1/sync/snapshot")
    assert response.status == 404 and (await response.json())["code"] == "no_snapshot"


def test_a_flood_of_snapshot_requests_is_limited_and_validators_keep_their_pool(chain: LocalNode) -> None:
    node: Any = chain
    node.snapshots = SnapshotSource(chain.ledger, Signer(VALIDATORS[0]), lambda: 0)
    tight = RouteBudget(rate_per_s=1, burst=2, global_rate_per_s=1, global_burst=3, in_flight_per_address=1,
                        in_flight_global=2)

    async def body(client: Client) -> None:
        path = f"/v1/sync/snapshot?height={CHECKPOINT}&chunk=3"
        statuses = [(await client.get(path)).status for _ in range(12)]
        assert statuses.count(200) <= 3 and 429 in statuses
        headers = sign_request(VALIDATORS[1], 1, testkit.CHAIN_ID, "GET", path, node.clock_ms, b"\x01" * 16)
        response = await client.get(path, headers=headers)
        assert response.status == 200  # a validator's signed request is served from its reserved pool
        replay = await client.get(path, headers=headers)
        assert replay.status == 401  # the same signed request again is a replay
        assert codec.decode(await response.read())[1] == 3

    serve_app(node, body, ApiBudgets(heavy=tight))
    del node.snapshots


def run_state_sync(chain: LocalNode, home: Path, min_blocks: int, peers: tuple[int, ...] = (0, 1, 2)) -> int | None:
    """``state_sync`` of validator 3's home against real signed-request apps of ``chain`` (one per peer)."""
    import json
    import time

    from chain.config import NodeConfig, PeerConfig
    from chain.crypto import save_key_file
    from chain.statesync.sync import state_sync

    home.mkdir(exist_ok=True)
    (home / "genesis.json").write_text(json.dumps(GENESIS_DOCUMENT))
    if not (home / "validator.key").exists():
        save_key_file(home / "validator.key", VALIDATORS[3])

    async def main() -> int | None:
        servers = []
        for index in peers:
            node: Any = LocalNode(genesis(), VALIDATORS, kv=chain.ledger.kv)
            node.snapshots = SnapshotSource(node.ledger, Signer(VALIDATORS[index]), lambda i=index: i)
            app = make_app(node, rate_limit=None, budgets=ApiBudgets(), clock_ms=lambda: int(time.time() * 1000))
            server = TestServer(app)
            await server.start_server()
            servers.append((index, server))
        try:
            config = NodeConfig(index=3, listen_port=0, state_sync_min_blocks=min_blocks, peers={
                index: PeerConfig(api=str(server.make_url("")).rstrip("/"), p2p="127.0.0.1:9")
                for index, server in servers
            })
            return await state_sync(home, config)
        finally:
            for _index, server in servers:
                await server.close()

    return asyncio.run(main())


GENESIS_DOCUMENT: dict[str, Any] = {**testkit.genesis_document(roles=[(testkit.REGISTRAR, "registrar")]),
                                    "params": {"test_mode": True, "checkpoint_interval": CHECKPOINT}}


def test_state_sync_installs_only_when_far_enough_behind(chain: LocalNode, tmp_path: Path) -> None:
    from chain.storage.leveldb import LevelDBKV

    home = tmp_path / "node3"
    assert run_state_sync(chain, home, min_blocks=2 * CHECKPOINT + 1) is None  # closer: replay instead
    kv = LevelDBKV(home / "data")
    assert Ledger(kv, genesis()).height == 0
    kv.close()
    assert run_state_sync(chain, home, min_blocks=CHECKPOINT) == 2 * CHECKPOINT
    kv = LevelDBKV(home / "data")
    ledger = Ledger(kv, genesis())
    assert (ledger.height, ledger.head_hash) == (2 * CHECKPOINT, chain.ledger.store.block_hash(2 * CHECKPOINT))
    kv.close()
    assert run_state_sync(chain, home, min_blocks=1) is None  # at the checkpoint already


def test_state_sync_without_f_plus_one_peers_replays(chain: LocalNode, tmp_path: Path) -> None:
    assert run_state_sync(chain, tmp_path / "node3", min_blocks=1, peers=(0,)) is None
