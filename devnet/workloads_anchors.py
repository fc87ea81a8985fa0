"""Bench workload ``anchors``: batches of hashes anchored by registrars (anchoring contract, ADR 0008).

Each timed transaction is one batch (``--txs`` counts batches): ``anchoring.anchor`` of fresh random
32-byte hashes, signed by its own registrar key (nonce 1, so posting to all nodes in any order cannot
make a nonce stale). ``Plan.setup`` grants the registrar role to every one of those keys with the
devnet's authority quorum (``D/authorities``), a fresh "clerk" key co-signing as sender.

Batch size: 10,000 hashes (DESIGN.md §7), lowered to what the devnet genesis admits — a batch of
``n`` hashes is ``34 n + ~200`` bytes, so it must fit ``params.max_tx_bytes`` (default 512 KiB: full batches) and ``max_anchor_batch``.
``SILKPORT_ANCHOR_BATCH`` overrides it. Throughput: hashes/s = committed batches × batch / seconds.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from chain.genesis import Params
from chain.types import make_tx
from devnet.workloads import Plan, WorkloadContext, workload

FULL_BATCH = 10_000
BYTES_PER_HASH = 34  # msgpack bin8 header + 32 bytes
TX_OVERHEAD = 400


def batch_size(devnet_dir: str) -> int:
    """Hashes per batch: 10,000, or what the devnet genesis admits (see the module docstring)."""
    override = os.environ.get("SILKPORT_ANCHOR_BATCH")
    if override:
        return max(1, min(FULL_BATCH, int(override)))
    try:
        params = json.loads((Path(devnet_dir) / "genesis.json").read_text()).get("params", {})
    except (OSError, ValueError):
        params = {}
    limits = Params(**{k: v for k, v in params.items() if k in Params.model_fields})
    max_tx = limits.max_tx_bytes
    size = min(FULL_BATCH, limits.max_anchor_batch, (max_tx - TX_OVERHEAD) // BYTES_PER_HASH)
    if size < FULL_BATCH:
        print(f"anchors workload: genesis max_tx_bytes={max_tx} admits {size} hashes per batch, not {FULL_BATCH}",
              file=sys.stderr)
    return size


@workload("anchors")
def anchors(ctx: WorkloadContext) -> Plan:
    """Anchor batches from distinct registrars (see the module docstring)."""
    authorities = ctx.authority_keys()
    if len(authorities) < 2:  # not a devnet directory: stand-in keys, refused on chain (no_quorum)
        print(f"warning: no authority keys in {ctx.devnet_dir}/authorities; the setup will be refused",
              file=sys.stderr)
        authorities = [ctx.keypair(), ctx.keypair()]
    size = batch_size(ctx.devnet_dir)
    clerk = ctx.keypair()
    registrars = [ctx.keypair() for _ in range(ctx.count)]
    setup = [
        make_tx(ctx.chain_id, "governance", "grant_role", {"public_key": key.public_key, "role": "registrar"},
                [clerk, *authorities[:2]], nonce)
        for nonce, key in enumerate(registrars, start=1)
    ]
    timed = []
    for i, registrar in enumerate(registrars):
        hashes = [os.urandom(32) for _ in range(size)]
        label = f"bench {ctx.client_index}/{i}"
        timed.append(make_tx(ctx.chain_id, "anchoring", "anchor", {"hashes": hashes, "label": label}, [registrar], 1))
    return Plan(timed=timed, setup=setup)
