"""State sync as a black box (ADR 0021): a node wiped while the chain runs under light load installs
the peers' checkpoint snapshot, replays the tail, reaches the head with the same blocks (and so the same
state roots) as the others, and votes: with another validator down, the chain still commits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet import procs

from .conftest import Devnet, http_json, noop_tx, running_devnet, wait_until

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(120)]
WIPED = 3
LOAD_PAUSE_S = 0.2
"""Between two noop transactions of the light load (a politeness pause, not a timing assertion)."""


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """A test chain (noop pings) with a checkpoint every 8 blocks, so snapshots exist within seconds."""
    yield from running_devnet(tmp_path, 4, "--test-mode", "--param", "checkpoint_interval=8")


def light_load(devnet: Devnet, stop: threading.Event) -> None:
    sent = 0
    while not stop.is_set():
        http_json(f"{devnet.api(sent % WIPED)}/v1/txs", data=noop_tx(devnet.chain_id, f"load {sent}").encode())
        sent += 1
        stop.wait(LOAD_PAUSE_S)


def test_a_wiped_node_state_syncs_reaches_the_head_and_votes(devnet: Devnet) -> None:
    stop = threading.Event()
    load = threading.Thread(target=light_load, args=(devnet, stop), daemon=True)
    load.start()
    try:
        devnet.wait_height(0, 12)
        devnet.cli("wipe", WIPED)
        log = procs.log_tail(devnet.manifest.node(WIPED), 400)
        assert "event=state_sync_installed" in log, log
        installed = int(log.split("event=state_sync_installed height=")[1].split()[0])
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
