"""Catch-up rate of a restarted node against the chain's commit rate, under load (issue 13 part 1).

``python -m devnet.bench_catchup [--rate R] [--down S] [--batch B] [--txs N]``: starts a 4-node test
devnet, drives ``devnet bench`` (noop workload) in the background at ``--rate`` tx/s (0: as fast as the
clients can: saturation), kills node 3 for ``--down`` seconds, restarts it and polls ``/v1/status`` of
nodes 0 and 3 until node 3 is within one block of the head. While it catches up, the chain goes on
committing: the figures are the rates over that same interval, in blocks and in transactions per
second, and their ratio (the issue's goal: catch-up ≥ 5× the commit rate). Start-up of the restarted
process is excluded from the rate (it is reported apart): the rate starts at node 3's first answer.

A measurement, not a test: it prints one JSON line and tears the devnet down.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devnet import layout, procs
from devnet.bench_statesync import cli, height

LAGGING = 3
POLL_S = 0.1


def txs_between(manifest: layout.Manifest, low: int, high: int) -> int:
    """Transactions in blocks ``low+1 .. high``, counted from node 0's block listing."""
    total = 0
    for h in range(low + 1, high + 1):
        block = procs.fetch_json(f"{manifest.node(0).api}/v1/blocks/{h}", 10.0)
        total += len(block["tx_ids"]) if block else 0
    return total


def measure(directory: Path, down_s: float) -> dict[str, Any]:
    manifest = layout.load_manifest(directory)
    cli("kill", str(LAGGING), "--dir", str(directory))
    time.sleep(down_s)
    restarted = time.monotonic()
    cli("start", str(LAGGING), "--dir", str(directory), "--no-wait")
    while (mine := height(manifest, LAGGING)) is None:
        time.sleep(POLL_S)
    answered = time.monotonic()
    first_head = height(manifest, 0) or 0
    while True:
        time.sleep(POLL_S)
        head, now_mine = height(manifest, 0), height(manifest, LAGGING)
        if head is not None and now_mine is not None and now_mine >= head - 1:
            break
    done = time.monotonic()
    seconds = done - answered
    caught_blocks, chain_blocks = now_mine - mine, head - first_head
    caught_txs, chain_txs = txs_between(manifest, mine, now_mine), txs_between(manifest, first_head, head)
    return {
        "gap_at_first_answer_blocks": first_head - mine,
        "startup_s": round(answered - restarted, 2),
        "catch_up_s": round(seconds, 2),
        "catch_up_blocks_per_s": round(caught_blocks / seconds, 1),
        "chain_blocks_per_s": round(chain_blocks / seconds, 1),
        "catch_up_txs_per_s": round(caught_txs / seconds),
        "chain_txs_per_s": round(chain_txs / seconds),
        "ratio_blocks": round(caught_blocks / max(chain_blocks, 1), 1),
        "ratio_txs": round(caught_txs / max(chain_txs, 1), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devnet.bench_catchup", description=__doc__)
    parser.add_argument("--dir", help="parent of the devnet directory (default: a temporary one)")
    parser.add_argument("--rate", type=float, default=0, help="offered tx/s (0: saturation)")
    parser.add_argument("--batch", type=int, default=100, help="transactions per request")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--txs", type=int, default=200_000, help="load size (must outlast the run)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of load before the kill")
    parser.add_argument("--down", type=float, default=30.0, help="seconds node 3 stays down")
    args = parser.parse_args(argv)
    directory = Path(args.dir or tempfile.mkdtemp(prefix="silkport-catchup-")) / "devnet"
    cli("up", "--dir", str(directory), "--nodes", "4", "--detach", "--test-mode", "--param", "max_block_txs=2000")
    load = subprocess.Popen(
        [sys.executable, "-m", "devnet", "bench", "--dir", str(directory), "--workload", "noop", "--txs",
         str(args.txs), "--rate", str(args.rate), "--batch", str(args.batch), "--clients", str(args.clients),
         "--drain-timeout", "1", "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        time.sleep(args.warmup)
        figures = measure(directory, args.down)
        alive = load.poll() is None
        print(json.dumps({"offered_rate": args.rate or "saturation", "batch": args.batch, "down_s": args.down,
                          "load_running_throughout": alive, **figures}), flush=True)
        return 0 if alive else 1
    finally:
        if load.poll() is None:
            load.send_signal(signal.SIGTERM)  # bench cleans up its clients on SIGTERM
            try:
                load.wait(30)
            except subprocess.TimeoutExpired:
                load.kill()
        cli("down", "--dir", str(directory), "--timeout", "10", timeout=120)


if __name__ == "__main__":
    sys.exit(main())
