"""The recipient's acknowledgement of a delivered transfer (issue 14 parts 5 and 7; ADR 0022).

``crossborder.acknowledge`` carries the SHA-256 of the received file and the chunk root the recipient
computes from those bytes with the asset's chunk size; the contract accepts it only when a delivery
is recorded and its root is that one. The serving node submits ``delivered`` just after the last
chunk left it, so :func:`wait_for_delivery` first waits for that event to be committed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.client import Client
from chain.crypto import KeyPair
from chain.dataplane.store import summarize_file
from chain.errors import ValidationError
from chain.types import SignedTx, make_tx


@dataclass(frozen=True)
class Received:
    """What the recipient states it holds: the file's SHA-256 and chunk root."""

    content_hash: bytes
    chunk_root: bytes


def received(client: Client, transfer_id: str, path: Path) -> Received:
    """Hash ``path`` with the chunk size of the transfer's asset (as recorded on chain)."""
    asset = client.asset(str(client.transfer(transfer_id)["asset_id"]))
    if not asset.get("chunk_size"):
        raise ValidationError(f"asset {asset['id']} has no chunk layout on chain", code="no_layout")
    summary = summarize_file(path, int(asset["chunk_size"]))
    return Received(summary.content_hash, summary.chunk_root)


def wait_for_delivery(client: Client, transfer_id: str, timeout_s: float) -> dict[str, Any] | None:
    """The transfer record once a delivery is committed, or None after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = client.transfer(transfer_id)
        if record.get("deliveries"):
            return record
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)


def acknowledge_tx(chain_id: str, key: KeyPair, transfer_id: str, got: Received, nonce: int) -> SignedTx:
    """``crossborder.acknowledge`` signed by the recipient member ``key``."""
    args = {"transfer_id": transfer_id, "content_hash": got.content_hash, "chunk_root": got.chunk_root}
    return make_tx(chain_id, "crossborder", "acknowledge", args, [key], nonce)
