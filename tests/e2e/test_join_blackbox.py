"""A validator added by governance, as a black box (ADR 0027): ``devnet join`` registers a new key with the
authority quorum, waits for the checkpoint that enacts it and starts its node with ``node.py init --join``;
the node state-syncs across the validator-set change, the old validators link to it (it announces itself),
it reaches the head with the same blocks and state as the others and votes — with an old validator down,
no quorum of the 5 forms without it. A key governance never added is refused with the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devnet import procs

from .conftest import Devnet, devnet_cli, http_json, noop_tx, running_devnet, wait_until

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(120)]
OLD = 4
NEW = 4
"""The joined validator's index: governance appends it to the 4 of genesis."""


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A test chain (noop pings) with a checkpoint every 8 blocks, shared by the module's tests in order
    (the second kills an old validator)."""
    yield from running_devnet(tmp_path_factory.mktemp("join"), OLD, "--test-mode", "--param", "checkpoint_interval=8")


def validators(devnet: Devnet, index: int) -> list[dict[str, object]]:
    code, body = http_json(f"{devnet.api(index)}/v1/validators")
    assert code == 200, body
    return list(body["validators"])


def test_a_validator_added_by_governance_joins_and_agrees(devnet: Devnet) -> None:
    result = devnet.cli("join")
    assert f"node {NEW} joined" in result.stdout
    entry = devnet.manifest.node(NEW)
    assert [v["public_key"] for v in validators(devnet, 0)][NEW] == entry.id
    log = procs.log_tail(entry, 400)
    assert "event=state_sync_installed" in log, log
    installed = int(log.split("event=state_sync_installed height=")[-1].split()[0])
    assert installed >= 8 and installed % 8 == 0
    devnet.wait_height(NEW, (devnet.height(0) or 0) + 2, timeout=45)
    # the old validators do not have its address in their config: they dial it after its announcement
    wait_until(lambda: all(NEW in ((devnet.status(i) or {}).get("peers") or []) for i in range(OLD)), 30,
               "every old validator linked to the new one")
    top = min(devnet.height(i) or 0 for i in range(OLD + 1))
    for height in range(installed, top + 1):  # a block hash covers its state_root: same blocks, same state
        reference = devnet.block(0, height)
        assert reference is not None
        assert devnet.block_hash(NEW, height) == reference["hash"], f"height {height} differs"
    assert devnet.block(NEW, top)["state_root"] == devnet.block(1, top)["state_root"]  # type: ignore[index]
    assert (devnet.status(NEW) or {})["validators"] == OLD + 1


def test_with_an_old_validator_down_the_chain_commits_with_the_new_ones_vote(devnet: Devnet) -> None:
    """n = 5, f = 1, quorum 4: with one of the four old validators killed, every certificate needs the new one."""
    victim = next(i for i in range(OLD) if i != devnet.primary(0))
    devnet.cli("kill", victim)
    tx = noop_tx(devnet.chain_id, "after the join")
    devnet.submit(NEW, tx)
    committed = devnet.wait_committed(NEW, tx.tx_id, timeout=45)
    block = devnet.block(NEW, committed)
    assert block is not None and block["hash"] == devnet.block_hash(0 if victim else 1, committed)
    signers = {s["validator_index"] for s in block["certificate"]["signatures"]}
    assert NEW in signers and victim not in signers and len(signers) >= 4
    wait_until(lambda: (devnet.height(NEW) or 0) > committed + 2, 30, f"the chain to keep going without node {victim}")


def test_a_key_governance_never_added_is_refused(devnet: Devnet) -> None:
    before = [e.index for e in devnet.reload().nodes]
    result = devnet_cli("join", "--no-register", "--dir", devnet.directory)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "event=join_refused" in output and "is not in the validator set" in output, output
    assert "governance never added it" in output and "Traceback" not in output, output
    assert [e.index for e in devnet.reload().nodes] == before  # not left in the manifest
