"""Time to head of a wiped node: state sync vs block replay (ADR 0021; a measurement, not a test).

``python -m devnet.bench_statesync [--dir D] [--txs 20000] [--anchor-batches 5]``: starts a 4-node
test devnet, fills its state with ``noop.put`` transactions (two state
keys each: the key and the sender's nonce) and its local index with anchor batches, then wipes node 3
twice — once replaying every block (``devnet wipe 3 --replay``), once with state sync (``devnet wipe
3``) — and times each from the wipe until node 3 is within one block of node 0 (start-up included),
polling ``/v1/status``. Prints one JSON line per run and tears the devnet down.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devnet import layout, procs

REPO = Path(__file__).resolve().parents[1]
WIPED = 3


def cli(*args: str, timeout: float = 900) -> str:
    result = subprocess.run([sys.executable, "-m", "devnet", *args], cwd=REPO, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"devnet {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def height(manifest: layout.Manifest, index: int) -> int | None:
    status = procs.fetch_status(manifest.node(index), timeout=2.0)
    return int(status["height"]) if status else None


def time_to_head(directory: Path, replay: bool) -> dict[str, Any]:
    manifest = layout.load_manifest(directory)
    gap = height(manifest, 0) or 0
    started = time.monotonic()
    cli("wipe", str(WIPED), "--dir", str(directory), "--no-wait", *(["--replay"] if replay else []))
    while True:
        time.sleep(0.1)
        head, mine = height(manifest, 0), height(manifest, WIPED)
        if head is not None and mine is not None and mine >= head - 1:
            return {"mode": "replay" if replay else "state sync", "gap_blocks": gap, "head": head,
                    "seconds_to_head": round(time.monotonic() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.bench_statesync", description=__doc__)
    parser.add_argument("--dir", help="devnet directory (default: a temporary one)")
    parser.add_argument("--txs", type=int, default=20_000, help="noop.put transactions (2 state keys each)")
    parser.add_argument("--anchor-batches", type=int, default=5, help="anchor batches (local-index entries)")
    args = parser.parse_args(argv)
    directory = Path(args.dir or tempfile.mkdtemp(prefix="silkport-statesync-")) / "devnet"
    cli("up", "--dir", str(directory), "--nodes", "4", "--detach", "--test-mode",
        "--param", "max_block_txs=2000")
    try:
        cli("bench", "--dir", str(directory), "--workload", "noop-put", "--txs", str(args.txs), "--json")
        if args.anchor_batches:
            cli("bench", "--dir", str(directory), "--workload", "anchors", "--txs", str(args.anchor_batches),
                "--json")
        time.sleep(2)
        for replay in (True, False):
            print(json.dumps({"state_txs": args.txs, "anchor_batches": args.anchor_batches,
                              **time_to_head(directory, replay)}), flush=True)
        log = procs.log_tail(layout.load_manifest(directory).node(WIPED), 400)
        installed = [line for line in log.splitlines() if "event=state_sync_installed" in line]
        print(installed[-1] if installed else "no state_sync_installed line in node 3's log", flush=True)
    finally:
        cli("down", "--dir", str(directory), "--timeout", "10", timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
