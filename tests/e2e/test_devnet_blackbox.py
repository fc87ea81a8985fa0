"""Black-box tests of a 4-node devnet: real processes, LevelDB, websockets and the REST API.

Safety (agreement on every block hash), liveness with a crashed backup or primary (PBFT view change,
Castro & Liskov §4.4), crash recovery with catch-up (DESIGN.md §5–6) and durability across a full
restart — checked only through ``python -m devnet`` and ``/v1/*``. Waits are polls with deadlines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chain.genesis import load_genesis
from devnet import layout, procs

from .conftest import Devnet, noop_tx, running_devnet

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """These tests drive the ``noop`` contract: a test chain (``--test-mode``, ADR 0012)."""
    yield from running_devnet(tmp_path, 4, "--test-mode")


def submit_and_commit(devnet: Devnet, count: int, via: list[int], label: str) -> dict[str, int]:
    """Submit ``count`` noop txs round-robin over ``via``; wait for each to commit; return {tx_id: height}."""
    submitted = []
    for i in range(count):
        node = via[i % len(via)]
        submitted.append((node, devnet.submit(node, noop_tx(devnet.chain_id, f"{label} {i}"))))
    return {tx_id: devnet.wait_committed(node, tx_id) for node, tx_id in submitted}


def test_four_nodes_commit_and_agree_on_every_block(devnet: Devnet) -> None:
    committed = submit_and_commit(devnet, 12, [0, 1, 2, 3], "agree")
    top = max(committed.values())
    for index in range(devnet.size):
        devnet.wait_height(index, top)
    devnet.assert_agree([0, 1, 2, 3], top)
    for tx_id, height in committed.items():  # each tx is in the block its status names, on every node
        for index in range(devnet.size):
            block = devnet.block(index, height)
            assert block is not None and tx_id in block["tx_ids"], f"tx {tx_id[:16]} not in block {height}"


def test_crashed_backup_catches_up(devnet: Devnet) -> None:
    primary = devnet.primary(0)
    backup = (primary + 1) % devnet.size
    others = [i for i in range(devnet.size) if i != backup]
    before = submit_and_commit(devnet, 3, others, "before")

    devnet.cli("kill", backup)
    assert devnet.status(backup) is None
    during = submit_and_commit(devnet, 6, others, "during")
    top = max(during.values())
    assert top > max(before.values())

    devnet.cli("start", backup)
    devnet.wait_height(backup, top, timeout=90)
    devnet.assert_agree(list(range(devnet.size)), top)

    after = submit_and_commit(devnet, 2, [backup], "after")  # and it takes part again
    top = max(after.values())
    for index in range(devnet.size):
        devnet.wait_height(index, top)
    devnet.assert_agree(list(range(devnet.size)), top)


def test_crashed_primary_is_replaced_by_a_view_change(devnet: Devnet) -> None:
    submit_and_commit(devnet, 2, [0], "warm-up")
    primary = devnet.primary(0)
    view = max(v for v in (devnet.view(i) for i in range(devnet.size)) if v is not None)
    backups = [i for i in range(devnet.size) if i != primary]

    devnet.cli("kill", primary)
    committed = submit_and_commit(devnet, 4, backups, "after-primary-crash")

    new_views = {i: devnet.view(i) for i in backups}
    assert all(v is not None and v > view for v in new_views.values()), f"views {new_views}, was {view}"
    assert all(devnet.primary(i) != primary for i in backups)
    top = max(committed.values())
    for index in backups:
        devnet.wait_height(index, top)
    devnet.assert_agree(backups, top)

    devnet.cli("start", primary)  # the old primary comes back as a backup and catches up
    devnet.wait_height(primary, top, timeout=90)
    devnet.assert_agree(list(range(devnet.size)), top)


def test_full_restart_loses_nothing_committed(devnet: Devnet) -> None:
    committed = submit_and_commit(devnet, 10, [0, 1, 2, 3], "durable")
    heights = {i: devnet.height(i) for i in range(devnet.size)}
    top = max(committed.values())
    hashes = devnet.hashes(0, top)

    devnet.cli("down")
    assert all(devnet.status(i) is None for i in range(devnet.size))
    devnet.cli("up", "--detach")

    for index in range(devnet.size):
        current = devnet.height(index)
        assert current is not None and current >= (heights[index] or 0), (
            f"node {index} regressed to {current}"
        )
        assert devnet.hashes(index, top) == hashes, f"node {index} changed history after restart"
        for tx_id, height in committed.items():
            status = devnet.tx_status(index, tx_id, wait=1)
            assert status is not None and status["status"] == "committed" and status["height"] == height
    submit_and_commit(devnet, 2, [0, 3], "after-restart")


def test_cli_round_trip(devnet: Devnet) -> None:
    directory = devnet.directory
    document = json.loads((directory / layout.MANIFEST).read_text())
    genesis = load_genesis(directory / layout.GENESIS_FILE)
    assert [v.public_key for v in genesis.validators] == [n["id"] for n in document["nodes"]]
    for node in document["nodes"]:
        assert {"index", "id", "pid", "api", "home"} <= node.keys()
        assert Path(node["home"]).is_dir() and isinstance(node["pid"], int)
    pids = {n["index"]: n["pid"] for n in document["nodes"]}

    devnet.cli("kill", 2)
    assert devnet.manifest.node(2).pid is None
    assert not procs.is_running(layout.NodeEntry(**document["nodes"][2]))
    states = {n["index"]: n["state"] for n in json.loads(devnet.cli("status", "--json").stdout)["nodes"]}
    assert states == {0: "up", 1: "up", 2: "down", 3: "up"}

    devnet.cli("start", 2)
    assert devnet.status(2) is not None
    new_pid = devnet.manifest.node(2).pid
    assert new_pid is not None and new_pid != pids[2]
    assert "starting node 2" in devnet.cli("logs", 2).stdout

    devnet.cli("down")
    assert all(entry.pid is None for entry in devnet.manifest.nodes)
    assert all(devnet.status(i) is None for i in range(devnet.size))
    for index, pid in {**pids, 2: new_pid}.items():
        assert not procs.is_running(layout.NodeEntry(**{**document["nodes"][index], "pid": pid}))
