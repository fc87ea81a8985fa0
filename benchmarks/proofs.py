"""Benchmark: anchor receipts and provenance bundles (chain/proofs/build.py, chain/proofs/verify.py; ADR 0008).

Figures (budgets from the proofs issue):

- ``receipt_ms``: median time to build one anchor receipt *and* its canonical JSON text from a ledger
  holding a 10,000-hash batch (warm caches; ``receipt_first_ms`` is the first, cold one) — ≤ 5 ms.
- ``bundle_verify_ms``: median time to verify a 100-event provenance bundle (events in 100 blocks)
  with a fresh :class:`~chain.proofs.verify.Verifier` (no cache) — ≤ 50 ms.
- ``receipts_per_s``: 10,000 receipts of one 10,000-hash batch (each ~690 KB: it carries the batch's
  transaction) verified by one Verifier, which checks the shared certified header, validator chain and
  transaction once — ≥ 2,000/s. Only verification is timed (texts are built just before).

Anchoring throughput on a devnet is measured by ``python -m devnet bench --workload anchors``.
Run: ``python -m benchmarks.proofs [--receipts N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from chain.genesis import parse_genesis
from chain.localnode import LocalNode
from chain.proofs.build import ProofBuilder
from chain.proofs.document import canonical_json
from chain.proofs.verify import Verifier
from chain.types import make_tx
from testkit import contracts as testkit
from testkit.contracts import APPRAISER, OWNER, REGISTRAR


def _port() -> tuple[dict[str, Any], LocalNode]:
    document = testkit.genesis_document(organisations=testkit.PORT_ORGANISATIONS, roles=testkit.PORT_ROLES)
    document["params"] = {"max_tx_bytes": 1 << 20}
    return document, LocalNode(parse_genesis(document), [testkit.key(f"validator-{i}") for i in range(4)])


def receipts(count: int = 10_000) -> dict[str, Any]:
    document, node = _port()
    hashes = [os.urandom(32) for _ in range(10_000)]
    node.submit_tx(make_tx(node.chain_id, "anchoring", "anchor", {"hashes": hashes, "label": "bench"}, [REGISTRAR], 1))
    for _ in range(20):
        node.produce_block()
    builder = ProofBuilder(node.ledger)
    start = time.perf_counter()
    canonical_json(builder.anchor_receipt(hashes[0]))
    first_ms = (time.perf_counter() - start) * 1e3
    build: list[float] = []
    for digest in hashes[1:1001]:
        start = time.perf_counter()
        canonical_json(builder.anchor_receipt(digest))
        build.append((time.perf_counter() - start) * 1e3)
    verifier = Verifier(document)
    verify_s = 0.0
    size = 0
    for digest in hashes[:count]:
        text = canonical_json(builder.anchor_receipt(digest))
        size = len(text)
        start = time.perf_counter()
        verifier.verify_text(text)
        verify_s += time.perf_counter() - start
    return {"receipt_ms": round(statistics.median(build), 3), "receipt_first_ms": round(first_ms, 2),
            "receipts_verified": count, "receipts_per_s": round(count / verify_s), "receipt_bytes": size}


def bundle(events: int = 100, rounds: int = 20) -> dict[str, Any]:
    document, node = _port()
    nonces = {REGISTRAR.public_key: 1, APPRAISER.public_key: 0}
    node.submit_tx(make_tx(node.chain_id, "registry", "register", testkit.register_args(b"bench"), [REGISTRAR, OWNER], 1))
    node.produce_block()
    asset = node.ledger.store.body(1)[0][1].events[0].subject
    for i in range(events - 1):
        nonces[APPRAISER.public_key] += 1
        args = {"asset_id": asset, "amount": 1000 + i, "currency": "CNY", "method": "market", "report_hash": bytes(32)}
        node.submit_tx(make_tx(node.chain_id, "valuation", "appraise", args, [APPRAISER], nonces[APPRAISER.public_key]))
        node.produce_block()
    text = canonical_json(ProofBuilder(node.ledger).asset_bundle(asset))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = Verifier(document).verify_text(text)
        times.append((time.perf_counter() - start) * 1e3)
    assert len(result.events) == events
    return {"bundle_events": events, "bundle_bytes": len(text), "bundle_verify_ms": round(statistics.median(times), 2)}


def run(receipt_count: int = 10_000) -> dict[str, Any]:
    return {**receipts(receipt_count), **bundle()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proofs")
    parser.add_argument("--receipts", type=int, default=10_000)
    print(json.dumps(run(parser.parse_args().receipts), indent=2))


if __name__ == "__main__":
    main()
