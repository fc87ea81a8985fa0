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

from devnet import bench_probe, layout, procs
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


def cpu(manifest: layout.Manifest, indices: list[int]) -> float:
    """CPU seconds used so far by the listed nodes' processes."""
    return sum(procs.cpu_seconds(manifest.node(i).pid or 0) or 0.0 for i in indices)


def measure(directory: Path, down_s: float, profile: Path | None = None) -> dict[str, Any]:
    cli("kill", str(LAGGING), "--dir", str(directory))
    time.sleep(down_s)
    restarted = time.monotonic()
    cli("start", str(LAGGING), "--dir", str(directory), "--no-wait")
    manifest = layout.load_manifest(directory)  # node 3's new pid
    validators = [e.index for e in manifest.nodes if e.index != LAGGING]
    profiles = None
    if profile is not None:  # the lagging node's flame graph while it catches up (py-spy, root)
        profiles = bench_probe.Profiles(profile, {LAGGING: manifest.node(LAGGING).pid or 0})
        profiles.start()
    while (mine := height(manifest, LAGGING)) is None:
        time.sleep(POLL_S)
    answered = time.monotonic()
    first_head = height(manifest, 0) or 0
    cpu_lagging, cpu_validators = cpu(manifest, [LAGGING]), cpu(manifest, validators)
    while True:
        time.sleep(POLL_S)
        head, now_mine = height(manifest, 0), height(manifest, LAGGING)
        if head is not None and now_mine is not None and now_mine >= head - 1:
            break
    done = time.monotonic()
    flame = profiles.stop() if profiles is not None else {}
    cpu_lagging, cpu_validators = cpu(manifest, [LAGGING]) - cpu_lagging, cpu(manifest, validators) - cpu_validators
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
        # the machine-independent part: CPU per transaction of catching up vs of committing it (per validator)
        "catch_up_cpu_us_per_tx": round(cpu_lagging / max(caught_txs, 1) * 1e6, 1),
        "validator_cpu_us_per_tx": round(cpu_validators / len(validators) / max(chain_txs, 1) * 1e6, 1),
        "catch_up_cpu_share": round(cpu_lagging / seconds, 2),
        "validators_cpu_share": round(cpu_validators / seconds, 2),
        **({"profile": flame.get(LAGGING),
            "self_time": bench_probe.self_time(Path(flame[LAGGING]).read_text())} if LAGGING in flame else {}),
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
    parser.add_argument("--profile", type=Path, help="write node 3's py-spy flame graph of the catch-up here")
    args = parser.parse_args(argv)
    directory = Path(args.dir or tempfile.mkdtemp(prefix="silkport-catchup-")) / "devnet"
    cli("up", "--dir", str(directory), "--nodes", "4", "--detach", "--test-mode", "--param", "max_block_txs=2000")
    bench_log = (directory / "bench.log").open("wb")  # the load's own report, kept beside the devnet
    load = subprocess.Popen(
        [sys.executable, "-m", "devnet", "bench", "--dir", str(directory), "--workload", "noop", "--txs",
         str(args.txs), "--rate", str(args.rate), "--batch", str(args.batch), "--clients", str(args.clients),
         "--drain-timeout", "1", "--json"],
        stdout=bench_log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        time.sleep(args.warmup)
        figures = measure(directory, args.down, args.profile)
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
        bench_log.close()
        cli("down", "--dir", str(directory), "--timeout", "10", timeout=120)


if __name__ == "__main__":
    sys.exit(main())
