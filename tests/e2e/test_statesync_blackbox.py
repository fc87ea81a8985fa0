"""State sync as a black box (ADR 0021): a node wiped while the chain runs under light load installs
the peers' checkpoint snapshot, replays the tail, reaches the head with the same blocks (and so the same
state roots) as the others, and votes: with another validator down, the chain still commits. A peer whose
API answers through a forging relay is caught on its first chunk and the others serve the rest."""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chain.statesync.snapshot import Chunk
from devnet import procs

from .conftest import Devnet, http_json, noop_tx, running_devnet, wait_until

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(120)]
WIPED = 3
LOAD_PAUSE_S = 0.2
"""Between two noop transactions of the light load (a politeness pause, not a timing assertion)."""


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A test chain (noop pings) with a checkpoint every 8 blocks, so snapshots exist within seconds;
    shared by the module's tests (the last one kills a validator)."""
    yield from running_devnet(tmp_path_factory.mktemp("statesync"), 4, "--test-mode", "--param",
                              "checkpoint_interval=8")


def forging_relay(target: str) -> ThreadingHTTPServer:
    """An HTTP relay to ``target`` that adds a leaf to every snapshot chunk (a Byzantine peer's API)."""

    class Relay(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            headers = {k: v for k, v in self.headers.items() if k.lower().startswith("x-silkport")}
            try:
                with urllib.request.urlopen(urllib.request.Request(target + self.path, headers=headers),
                                            timeout=15) as answer:
                    status, body, kind = answer.status, answer.read(), answer.headers.get("Content-Type", "")
            except urllib.error.HTTPError as exc:
                status, body, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
            if status == 200 and "chunk=" in self.path:
                chunk = Chunk.decode(body)
                fake = (bytes([chunk.index]) + bytes(31), b"forged")
                body = dataclasses.replace(chunk, leaves=(*chunk.leaves, fake)).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_forging_peer_is_caught_and_the_others_serve_the_snapshot(devnet: Devnet) -> None:
    devnet.wait_height(0, 10)
    relay = forging_relay(devnet.api(2))
    config_path = Path(devnet.manifest.node(WIPED).home) / "config.json"
    honest_config = config_path.read_text()
    config = json.loads(honest_config)
    config["peers"]["2"]["api"] = f"http://127.0.0.1:{relay.server_address[1]}"
    config_path.write_text(json.dumps(config))
    try:
        devnet.cli("wipe", WIPED)
        log = procs.log_tail(devnet.manifest.node(WIPED), 400)
        assert "event=snapshot_peer_rejected peer=2" in log, log
        assert "event=state_sync_installed" in log, log
        devnet.wait_height(WIPED, devnet.height(0) or 0, timeout=45)
    finally:
        relay.shutdown()
        relay.server_close()
        fresh = json.loads(config_path.read_text())  # keep what wipe wrote (state_sync_min_blocks)
        fresh["peers"] = json.loads(honest_config)["peers"]
        config_path.write_text(json.dumps(fresh))


def light_load(devnet: Devnet, stop: threading.Event) -> None:
    sent = 0
    while not stop.is_set():
        http_json(f"{devnet.api(sent % WIPED)}/v1/txs", data=noop_tx(devnet.chain_id, f"load {sent}").encode())
        sent += 1
        stop.wait(LOAD_PAUSE_S)


def test_a_wiped_node_state_syncs_reaches_the_head_and_votes(devnet: Devnet) -> None:
    """(Last in the module: it kills a validator.)"""
    stop = threading.Event()
    load = threading.Thread(target=light_load, args=(devnet, stop), daemon=True)
    load.start()
    try:
        devnet.wait_height(0, 12)
        devnet.cli("wipe", WIPED)
        log = procs.log_tail(devnet.manifest.node(WIPED), 400)
        assert "event=state_sync_installed" in log, log
        installed = int(log.split("event=state_sync_installed height=")[-1].split()[0])
        assert installed >= 8 and installed % 8 == 0
        assert devnet.block(WIPED, installed - 1) is None  # it did not replay the blocks below the snapshot
        head = devnet.height(0) or 0
        devnet.wait_height(WIPED, head + 2, timeout=45)
    finally:
        stop.set()
        load.join(timeout=10)
    top = min(devnet.height(i) or 0 for i in range(4))
    for height in range(installed, top + 1):  # block hashes cover state_root: same blocks, same state
        reference = devnet.block(0, height)
        assert reference is not None
        assert devnet.block_hash(WIPED, height) == reference["hash"], f"height {height} differs"
    victim = next(i for i in range(WIPED) if i != devnet.primary(0))
    devnet.cli("kill", victim)  # now a quorum (3 of 4) needs the synced node's votes
    tx = noop_tx(devnet.chain_id, "after state sync")
    devnet.submit(WIPED, tx)
    committed = devnet.wait_committed(WIPED, tx.tx_id, timeout=45)
    assert devnet.block_hash(0, committed) == devnet.block_hash(WIPED, committed)
    wait_until(lambda: (devnet.height(WIPED) or 0) > committed, 30, f"the chain to keep going without node {victim}")
