"""Black box: anchor a batch on a real 4-node devnet through the API, fetch its receipt from one node and
verify it offline with ``silkport verify`` against ``D/genesis.json`` (DESIGN.md §9, ADR 0008)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from chain.crypto import KeyPair, load_key_file
from chain.types import make_tx

from .conftest import REPO, Devnet, http_json

pytestmark = [pytest.mark.blackbox, pytest.mark.timeout(180)]


def silkport(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chain.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_anchor_receipt_verifies_offline(devnet: Devnet, tmp_path: Path) -> None:
    authorities = [load_key_file(p) for p in sorted((devnet.directory / "authorities").glob("authority*.json"))]
    registrar = KeyPair.generate()
    nonce = int(time.time() * 1000)
    grant = make_tx(devnet.chain_id, "governance", "grant_role", {"public_key": registrar.public_key,
                                                                  "role": "registrar"}, authorities[:2], nonce)
    devnet.wait_committed(0, devnet.submit(0, grant))
    hashes = [os.urandom(32) for _ in range(1000)]
    anchor = make_tx(devnet.chain_id, "anchoring", "anchor", {"hashes": hashes, "label": "e2e"}, [registrar], 1)
    height = devnet.wait_committed(1, devnet.submit(1, anchor))
    status, info = http_json(f"{devnet.api(1)}/v1/txs/{anchor.tx_id}")
    assert status == 200 and info["receipt"]["ok"], info
    devnet.wait_height(2, height + 1)

    with urllib.request.urlopen(f"{devnet.api(2)}/v1/anchors/{hashes[123].hex()}/receipt", timeout=30) as response:
        receipt = tmp_path / "receipt.json"
        receipt.write_bytes(response.read())
    genesis = devnet.directory / "genesis.json"
    result = silkport("verify", receipt, "--genesis", genesis)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"valid: hash {hashes[123].hex()} anchored at height {height}")

    tampered = tmp_path / "tampered.json"
    text = receipt.read_text()
    position = text.index('"position": 123')
    tampered.write_text(text[:position] + '"position": 124' + text[position + len('"position": 123'):])
    result = silkport("verify", tampered, "--genesis", genesis)
    assert result.returncode == 1 and result.stdout.startswith("invalid: ") and "Traceback" not in result.stderr

    old_height = int(http_json(f"{devnet.api(2)}/v1/status")[1]["height"])
    devnet.wait_height(0, old_height + 2)
    newer = tmp_path / "newer.json"
    with urllib.request.urlopen(f"{devnet.api(0)}/v1/anchors/{hashes[123].hex()}/receipt?since="
                                f"{_certified_height(receipt)}", timeout=30) as response:
        newer.write_bytes(response.read())
    result = silkport("verify", receipt, newer, "--genesis", genesis)
    assert result.returncode == 0 and result.stdout.startswith("consistent:"), result.stdout + result.stderr


def _certified_height(path: Path) -> int:
    import json

    return int(json.loads(path.read_text())["certified"]["header"]["height"])
