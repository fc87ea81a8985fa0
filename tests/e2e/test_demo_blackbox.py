"""``python -m devnet demo`` against a real 4-node devnet: the narrated asset story runs to the end
(refused sale while pledged, final agreement line), twice on the same devnet, and every node agrees
on every block hash afterwards."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .conftest import REPO, Devnet

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]
AGREE = re.compile(r"^All 4 nodes agree: block (\d+) has hash ([0-9a-f]{64})$", re.MULTILINE)


def run_demo(devnet: Devnet) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "devnet", "demo", "--dir", str(devnet.directory)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"demo failed:\n{result.stdout}\n{result.stderr}\n{devnet.log_tails()}"
    return result.stdout


def test_demo_tells_the_asset_story_and_nodes_agree(devnet: Devnet) -> None:
    first = run_demo(devnet)
    assert "refused: asset_pledged" in first
    assert "the sale is refused while pledged: error code asset_pledged" in first
    assert "registered <- " not in first and "<- registered" in first  # history ends at the registration
    assert re.search(r"tx [0-9a-f]{64}  block \d+  ok", first)
    # the valve (ADR 0018, 0022): real bytes from the Daxing node, delivered, acknowledged, audited; the denied
    # transfer gets nothing
    assert re.search(r"fetches it from the Daxing node: \d+ bytes, \d+ chunks verified, SHA-256 [0-9a-f]{64}", first)
    assert "commits `delivered` with its validator key" in first and "(matches the delivery)" in first
    assert "fetch is refused: transfer_not_released (HTTP 403); 0 bytes received" in first
    match = AGREE.search(first)
    assert match, first
    height, block_hash = int(match.group(1)), match.group(2)
    assert devnet.block_hash(0, height) == block_hash

    second = run_demo(devnet)  # fresh keys and organisation ids: the same story works again
    assert "refused: asset_pledged" in second
    again = AGREE.search(second)
    assert again and int(again.group(1)) > height
    top = int(again.group(1))
    for index in range(devnet.size):
        devnet.wait_height(index, top)
    devnet.assert_agree(list(range(devnet.size)), top)
