"""Benchmark: ``GET /v1/assets/{id}`` and node memory over a LevelDB ledger holding 1,000,000 assets.

**Build.** A real :class:`~chain.ledger.Ledger` on LevelDB (through :class:`~chain.localnode.LocalNode`:
real blocks, real commit certificates, real state roots). Executing a million signed transactions
would measure signature checks, not the query path, so each block carries one bench-only
transaction ``bench.register_many(start, count)`` whose handler calls the **registry contract's own
``register`` handler** (schema validation, access check, certificate numbering, content index,
``asset/seq`` list, ``touch``) once per asset with a per-asset transaction hash. The state written
is therefore byte-for-byte the records a node would hold (one asset per registering transaction,
events aside: the per-asset events are not kept in the receipt).

**Measure** (in a fresh process, like a node restarted on that database): ``VmRSS`` after opening the
ledger, then ``requests`` GETs of random existing ids through the real aiohttp app over loopback
(``TestServer`` + ``TestClient``: routing, middleware, JSON), latency p50/p99 seen by the client,
and ``VmRSS`` (split into ``RssAnon``, the process's own memory, and ``RssFile``, LevelDB's mmapped
table files) while serving. Budgets: RSS ≤ 400 MB, p99 ≤ 10 ms.

Run: ``python -m benchmarks.assets_state [--assets N] [--dir D] [--requests N]`` (``--dir`` keeps the
database, and a later run with the same ``--dir`` and size skips the build).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chain import codec, statekeys
from chain.contracts import default_registry
from chain.contracts.base import Context, ContractRegistry, Int, Schema
from chain.contracts.callers import Callers
from chain.contracts.registry import asset_id_for
from chain.crypto import KeyPair
from chain.errors import ConfigError
from chain.genesis import GenesisDoc, parse_genesis
from chain.ledger import Ledger
from chain.localnode import LocalNode
from chain.types import make_tx
from testkit import contracts as testkit

BUDGET_RSS_MB = 400.0
BUDGET_P99_MS = 10.0
PER_BLOCK = 20_000
VALIDATORS = [testkit.key(f"validator-{i}") for i in range(4)]
OWNERS = (testkit.OWNER, testkit.BUYER)


def genesis() -> GenesisDoc:
    document = testkit.genesis_document(organisations=testkit.PORT_ORGANISATIONS, roles=testkit.PORT_ROLES,
                                        params={"max_state_bytes_per_window": 2**62})  # one sender, 10^6 assets
    return parse_genesis(document)


def tx_hash_of(n: int) -> bytes:
    return codec.sha256(b"silkport-bench/assets-state/tx/%d" % n)


def content_of(n: int) -> bytes:
    return codec.sha256(b"silkport-bench/assets-state/content/%d" % n)


def asset_id_of(n: int) -> str:
    return asset_id_for(tx_hash_of(n), content_of(n))


def bench_registry() -> ContractRegistry:
    """The node's contracts plus ``bench.register_many``, which runs ``registry.register`` per asset."""
    table = default_registry()
    register = table.lookup("registry", "register")
    assert register is not None

    @table.method("bench", "register_many", Schema({"start": Int(), "count": Int(maximum=100_000)}),
                  callers=Callers.role("registrar"))
    def register_many(ctx: Context, args: dict[str, Any]) -> None:
        for n in range(args["start"], args["start"] + args["count"]):
            owner = OWNERS[n % len(OWNERS)]
            call = {
                "content_hash": content_of(n), "size": 4096 + n % 65_536, "format": "csv",
                "title": f"Port dataset {n}", "description": "bench asset",
                "owner": owner.public_key, "classification": testkit.classification(fields=("awb", "weight_kg")),
            }
            one = Context(ctx.chain_id, ctx.height, ctx.timestamp_ms, ctx.tx_index, tx_hash_of(n),
                          (testkit.REGISTRAR.public_key, owner.public_key), ctx.state)
            register.run(one, register.schema.validate(codec.dict_from_pairs(codec.pairs_from_dict(call))))
        ctx.emit("bench", "registered_many", start=args["start"], count=args["count"])

    return table


def build(directory: Path, assets: int, *, per_block: int = PER_BLOCK, log: Any = print) -> dict[str, Any]:
    """Create a LevelDB ledger in ``directory`` holding ``assets`` registered assets."""
    from chain.storage.leveldb import LevelDBKV

    started = time.perf_counter()
    kv = LevelDBKV(directory)
    node = LocalNode(genesis(), VALIDATORS, kv=kv)
    node.ledger = Ledger(kv, node.ledger.genesis, registry=bench_registry())
    sender = KeyPair.from_seed(codec.sha256(b"silkport-bench/assets-state/sender"))
    for nonce, start in enumerate(range(0, assets, per_block), start=1):
        count = min(per_block, assets - start)
        tx = make_tx(node.chain_id, "bench", "register_many", {"start": start, "count": count},
                     [sender, testkit.REGISTRAR], nonce)
        node.submit_tx(tx)
        node.produce_block()
        receipt = node.ledger.store.tx(tx.tx_hash)[1]
        if not receipt.ok:
            raise ConfigError(f"bench registration at {start} failed: {receipt.error_code}")
        if nonce % 5 == 0 or start + count == assets:
            log(f"  {start + count:>9,} assets, height {node.ledger.height}, {time.perf_counter() - started:6.1f} s")
    total = int(codec.decode(node.ledger.state_get(statekeys.ASSET_COUNT) or codec.encode(0)))
    height = node.ledger.height
    kv.close()
    return {"assets": total, "height": height, "build_s": round(time.perf_counter() - started, 1),
            "db_mb": round(sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20, 1)}


def _status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(fraction * len(ordered))) - 1))]


def measure(directory: Path, assets: int, requests: int = 2_000, seed: int = 7,
            max_open_files: int | None = None) -> dict[str, Any]:
    """Open the ledger like a restarted node, then time ``requests`` GETs of random asset ids.

    ``max_open_files`` overrides LevelDB's table-cache size for this run (``chain.storage.leveldb``):
    LevelDB mmaps the table files it keeps open, and those file-backed pages count in ``VmRSS``.
    """
    from aiohttp.test_utils import TestClient, TestServer

    from chain.api import make_app
    from chain.storage import leveldb
    from chain.storage.leveldb import LevelDBKV

    if max_open_files is not None:
        leveldb.MAX_OPEN_FILES = max_open_files

    rss_start = _status_kb("VmRSS")
    node = LocalNode(genesis(), VALIDATORS, kv=LevelDBKV(directory))
    rss_open = _status_kb("VmRSS")
    rng = random.Random(seed)
    ids = [asset_id_of(rng.randrange(assets)) for _ in range(requests)]
    latencies: list[float] = []
    peaks: dict[str, float] = {}

    def mark(stage: str) -> None:
        peaks[stage] = round(_status_kb("VmHWM") / 1024, 1)

    async def main() -> None:
        async with TestClient(TestServer(make_app(node, rate_limit=None))) as client:
            for asset_id in ids[:50]:  # warm the connection and the code paths
                await (await client.get(f"/v1/assets/{asset_id}")).read()
            mark("warm")
            for asset_id in ids:
                began = time.perf_counter()
                response = await client.get(f"/v1/assets/{asset_id}")
                body = await response.json()
                latencies.append((time.perf_counter() - began) * 1000)
                if response.status != 200 or body["id"] != asset_id:
                    raise ConfigError(f"GET /v1/assets/{asset_id}: {response.status}")
            mark("requests")
            missing = await client.get("/v1/assets/" + "0" * 64)
            if missing.status != 404:
                raise ConfigError("an unknown id did not give 404")

    mark("open")
    asyncio.run(main())
    serving = {name: round(_status_kb(name) / 1024, 1) for name in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}
    cached_nodes = len(getattr(node.ledger.tree, "_cache", ()))
    node.ledger.close()
    return {
        "height": node.ledger.height,
        "requests": requests,
        "leveldb_max_open_files": leveldb.MAX_OPEN_FILES,
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
        "rss_mb_interpreter": round(rss_start / 1024, 1),
        "rss_mb_after_open": round(rss_open / 1024, 1),
        "rss_mb": serving["VmRSS"],
        "rss_anon_mb": serving["RssAnon"],
        "rss_file_mb": serving["RssFile"],
        "peak_rss_mb": serving["VmHWM"],
        "rss_mb_after_close": round(_status_kb("VmRSS") / 1024, 1),
        "statetree_cached_nodes": cached_nodes,
        "peak_rss_mb_by_stage": peaks,
    }


def run(assets: int = 1_000_000, *, directory: str | None = None, requests: int = 2_000,
        max_open_files: int | None = None) -> dict[str, Any]:
    """Build (unless ``directory`` already holds ``assets`` assets) and measure in a fresh process."""
    own = directory is None
    path = Path(tempfile.mkdtemp(prefix="silkport-assets-state-")) / "db" if own else Path(str(directory))
    marker = path.parent / (path.name + ".built.json")
    try:
        built: dict[str, Any] | None = json.loads(marker.read_text()) if marker.exists() else None
        if built is None or built.get("assets") != assets:
            if path.exists():
                shutil.rmtree(path)
            built = build(path, assets, log=lambda text: print(text, file=sys.stderr, flush=True))
            marker.write_text(json.dumps(built))
        command = [sys.executable, "-m", "benchmarks.assets_state", "--measure", str(path), "--assets", str(assets),
                   "--requests", str(requests)]
        if max_open_files is not None:
            command += ["--max-open-files", str(max_open_files)]
        measured = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    finally:
        if own:
            shutil.rmtree(path.parent, ignore_errors=True)
    return {**built, **measured, "budget_rss_mb": BUDGET_RSS_MB, "budget_p99_ms": BUDGET_P99_MS,
            "within_budget": measured["rss_mb"] <= BUDGET_RSS_MB and measured["p99_ms"] <= BUDGET_P99_MS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.assets_state", description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=1_000_000)
    parser.add_argument("--dir", default=None, help="keep the database here (reused if already built)")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--max-open-files", type=int, default=None,
                        help="LevelDB max_open_files for the measuring process (default: the node's)")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.assets, args.requests, max_open_files=args.max_open_files)))
        return 0
    print(json.dumps(run(args.assets, directory=args.dir, requests=args.requests, max_open_files=args.max_open_files),
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
