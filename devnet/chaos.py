"""``python -m devnet chaos``: crash and restart nodes of a running devnet, within PBFT's fault budget.

Every ``--interval`` seconds one randomly chosen running node is killed with SIGKILL (kill -9: no
clean shutdown, DESIGN.md §6 promises it loses nothing committed), and the node killed in the
previous round is restarted — so at most ``f = (n - 1) // 3`` nodes are down at any time and the
chain must keep committing. Watch it with ``python -m devnet status`` or a foreground ``up``.
Seeded (``--seed``) so a run that finds a problem can be replayed.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from chain.consensus.quorum import max_faulty
from devnet import layout, procs


def run(manifest: layout.Manifest, *, duration: float, interval: float, seed: int) -> list[str]:
    """Kill and restart nodes for ``duration`` seconds; return the event log (also printed)."""
    rng = random.Random(seed)
    budget = max_faulty(len(manifest.nodes))
    events: list[str] = []

    def note(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        events.append(line)
        print(line, flush=True)

    if budget == 0:
        note(f"a {len(manifest.nodes)}-node devnet tolerates no fault; nothing to do")
        return events
    down: list[int] = []
    deadline = time.monotonic() + duration
    note(
        f"chaos: seed {seed}, up to {budget} node(s) down at a time, every {interval:g} s for {duration:g} s"
    )
    try:
        while time.monotonic() < deadline:
            if len(down) >= budget:
                index = down.pop(0)
                procs.start_nodes(manifest, [index])
                note(f"restarted node {index}")
            running = [e.index for e in manifest.nodes if e.index not in down and procs.is_running(e)]
            if running:
                victim = rng.choice(running)
                procs.kill_node(manifest, victim)
                down.append(victim)
                note(f"killed node {victim} (SIGKILL)")
            time.sleep(interval)
    except KeyboardInterrupt:
        note("interrupted")
    finally:
        if down:
            procs.start_nodes(manifest, down)
            note(f"restarted node(s) {', '.join(map(str, down))}")
    return events


def main(args: Any) -> int:
    manifest = layout.load_manifest(Path(args.dir))
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    run(manifest, duration=args.duration, interval=args.interval, seed=seed)
    procs.wait_ready(manifest)
    print("all nodes answer /v1/status again")
    return 0
