"""The demo's data-valve steps, called by ``devnet/demo_crossborder.py`` (issue 14 part 7; ADR 0018, 0022).

The exporter uploads a real dataset to the Daxing node (node 0, a validator in CN); after customs
releases the transfer, the DE partner fetches it from that node (every chunk checked against the
chunk root on chain, the SHA-256 of the whole file shown), the node commits ``crossborder.delivered``
with its validator key, the partner acknowledges with the delivered chunk root, and customs prints
the audit. For the denied transfer the fetch is refused and no byte arrives.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from chain.cli.audit import audit, render
from chain.client import ApiError, Client
from chain.crypto import KeyPair
from chain.dataplane import chunks, requests
from chain.dataplane.acknowledge import Received, acknowledge_tx, wait_for_delivery
from chain.dataplane.fetch import fetch

CHUNK = 16 * 1024


def layout(data: bytes) -> chunks.ChunkSummary:
    return chunks.summarize([data], CHUNK)


def customer_list(tag: str) -> bytes:
    """A synthetic CSV of 5,000 customers (about 200 KB, 13 chunks)."""
    rows = [f"{n},customer-{tag}-{n:05d},+49 30 {n:07d},DE-{n % 97:02d}" for n in range(5000)]
    return ("id,name,phone,region\n" + "\n".join(rows) + "\n").encode()


def _daxing(part: Any) -> Client:
    return Client(part.urls[0])


def upload(part: Any, asset_id: str, data: bytes, owner: KeyPair) -> None:
    """``PUT /v1/assets/{id}/data`` on the Daxing node, signed by the owner."""
    client = _daxing(part)
    summary = layout(data)
    valid_until = time.time_ns() // 1_000_000 + 5 * 60 * 1000
    headers = requests.put_headers(owner, part.ctx.chain_id, asset_id, summary.chunk_root, len(data), valid_until)
    stored = client.put_data(asset_id, io.BytesIO(data), len(data), headers)
    part.ctx.say(f"    uploaded to the Daxing node: {stored['size']} bytes in {stored['chunks']} chunks, "
                 f"chunk root {stored['chunk_root'][:16]}…")


def deliver(part: Any, transfer_id: str, partner: KeyPair) -> None:
    """Fetch from the Daxing node, wait for ``delivered``, acknowledge with its root, print the audit."""
    say, client = part.ctx.say, _daxing(part)
    with tempfile.TemporaryDirectory(prefix="silkport-demo-") as directory:
        out = Path(directory) / "customers.csv"
        # the layout checked against is proved from genesis, not taken from the node (ADR 0018 §12)
        result = fetch(client, transfer_id, out, partner, genesis=json.loads(part.ctx.genesis.read_text()))
        data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    say(f"  the DE partner fetches it from the Daxing node: {result.size} bytes, {result.chunks} chunks verified, "
        f"SHA-256 {digest}")
    record = wait_for_delivery(client, transfer_id, 30)
    if record is None:
        raise RuntimeError(f"no delivered event for transfer {transfer_id} within 30 s")
    step = [s for s in record["history"] if s["action"] == "delivered"][-1]
    say(f"  the Daxing node commits `delivered` with its validator key {step['node'][:16]}…: "
        f"{step['bytes']} bytes, chunk root {step['chunk_root'][:16]}… (block {step['ref']['height']})")
    asset = client.asset(str(record["asset_id"]))
    got = Received(bytes.fromhex(digest), layout(data).chunk_root)
    assert got.chunk_root.hex() == asset["chunk_root"]
    tx = acknowledge_tx(part.ctx.chain_id, partner, transfer_id, got, max(int(time.time() * 1000), 1))
    receipt = part.ctx.submit_and_wait(tx)
    receipt = receipt.get("receipt", receipt) if isinstance(receipt, dict) else {}
    if not receipt.get("ok"):
        raise RuntimeError(f"acknowledgement refused: {receipt.get('error_code')}")
    say("  the partner acknowledges with the SHA-256 and the delivered chunk root")
    say("  customs runs `silkport transfer audit`:")
    for line in render(audit(client, transfer_id)):
        say(f"    {line}")


def refused(part: Any, transfer_id: str, partner: KeyPair) -> None:
    """The denied transfer's fetch: a refusal, and no byte of the dataset."""
    with tempfile.TemporaryDirectory(prefix="silkport-demo-") as directory:
        out = Path(directory) / "perimeter.csv"
        try:
            fetch(_daxing(part), transfer_id, out, partner, genesis=json.loads(part.ctx.genesis.read_text()))
        except ApiError as error:
            part_file = Path(directory) / "perimeter.csv.part"
            received = part_file.stat().st_size if part_file.exists() else 0
            if out.exists() or received:
                raise RuntimeError("the denied transfer delivered bytes") from error
            part.ctx.say(f"  the partner's fetch is refused: {error.code} (HTTP {error.status}); "
                         f"{received} bytes received")
            return
    raise RuntimeError(f"the denied transfer {transfer_id} was served")
