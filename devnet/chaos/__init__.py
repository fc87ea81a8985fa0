"""``python -m devnet chaos``: drive a load while faults come and go, then check the chain (ADR 0016).

The runner starts its own test-mode devnet in a temp dir (or uses ``--dir``), starts ``--byzantine K``
nodes in a Byzantine mode, offers ``--rate`` tx/s (:mod:`devnet.chaos.load`) and every ``--interval``
seconds injects one fault from a seeded schedule (:mod:`devnet.chaos.faults`: kill -9 + restart,
SIGSTOP/SIGCONT, link cuts with iptables), never more than ``f`` faulty nodes at once, Byzantine ones
included. At the end it heals everything, waits (bounded) until every honest node is at one head, and
checks on every node through the API (:mod:`devnet.chaos.check`): one block hash and one state root per
height, every acknowledged transaction present. The report (``--json``) names the seed, the faults,
the heights, the violations, the lost acknowledged transactions, the longest stall and the time to
converge after the last heal; the exit status is 1 unless the run passed. A seed replays the schedule.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chain.byzantine import MODES
from chain.consensus.quorum import max_faulty
from chain.errors import ConfigError
from chain.genesis import load_genesis
from devnet import layout, procs
from devnet.chaos import check, links
from devnet.chaos.faults import FaultInjector
from devnet.chaos.load import LoadGenerator


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Runner:
    """One chaos run over ``manifest``; ``run()`` returns the report (a JSON-ready dict)."""

    def __init__(self, manifest: layout.Manifest, args: Any, seed: int, own_devnet: bool) -> None:
        self.manifest = manifest
        self.args = args
        self.seed = seed
        self.rng = random.Random(seed)
        self.own = own_devnet
        self.zero = time.monotonic()
        self.events: list[str] = []
        n = len(manifest.nodes)
        self.f = max_faulty(n)
        if args.byzantine < 0 or args.byzantine > self.f:
            raise ConfigError(f"--byzantine must be between 0 and f = {self.f} for {n} nodes, not {args.byzantine}")
        self.byzantine: dict[int, str] = {}
        for index in sorted(self.rng.sample(range(n), args.byzantine)):
            mode = args.byzantine_mode if args.byzantine_mode != "mixed" else self.rng.choice(MODES)
            self.byzantine[index] = mode
        self.honest = [e.index for e in manifest.nodes if e.index not in self.byzantine]

    def clock(self) -> float:
        return time.monotonic() - self.zero

    def note(self, message: str) -> None:
        line = f"{self.clock():7.1f}s {message}"
        self.events.append(line)
        if not self.args.json:
            print(line, flush=True)

    def start_options(self, index: int) -> tuple[Sequence[str], int | None]:
        """``node.py run`` extra args and group id of node ``index`` (links.py needs one group per node)."""
        extra = ["--byzantine", self.byzantine[index]] if index in self.byzantine else []
        port = int(self.manifest.node(index).listen.rpartition(":")[2])
        return extra, links.group_for_port(port) if os.geteuid() == 0 else None

    def run(self) -> dict[str, Any]:
        args = self.args
        if self.byzantine:
            modes = ", ".join(f"node {i}: {m}" for i, m in self.byzantine.items())
            self.note(f"byzantine nodes: {modes}")
        # (Re)start the nodes this run needs in a mode or under their own group id.
        restart = [i for i in self.byzantine] if not self.own else []
        if restart:
            procs.stop_nodes(self.manifest, restart)
        procs.start_nodes(self.manifest, None, self.start_options)
        procs.wait_ready(self.manifest)
        injector = FaultInjector(
            self.manifest, rng=self.rng, budget=self.f - len(self.byzantine), exempt=list(self.byzantine),
            start_options=self.start_options, clock=self.clock, log=self.note,
        )
        if injector.cut_unavailable:
            self.note(f"link cuts unavailable ({injector.cut_unavailable}): cuts become pauses")
        monitor = check.HeightMonitor(self.manifest, self.zero)
        load = LoadGenerator([e.api for e in self.manifest.nodes], self.manifest.chain_id, args.rate)
        monitor.start()
        load.start()
        self.note(f"chaos: seed {self.seed}, {len(self.manifest.nodes)} nodes, f = {self.f}, rate {args.rate:g} tx/s, "
                  f"faults every {args.interval:g} s for {args.duration:g} s")
        interrupted = False
        last_heal = 0.0
        try:
            next_fault = self.clock() + min(args.interval, 3.0)
            while self.clock() < args.duration:
                injector.heal_due()
                if self.clock() >= next_fault and self.clock() + 2.0 < args.duration:
                    hold = self.rng.uniform(2.0, max(2.0, min(6.0, args.interval * 0.6)))
                    injector.inject(min(hold, args.duration - self.clock()))
                    next_fault += args.interval
                time.sleep(0.1)
        except KeyboardInterrupt:
            interrupted = True
            self.note("interrupted: healing everything")
        finally:
            injector.heal_all()
            last_heal = self.clock()
            self.note("healed everything")
        stats = load.stop()
        floor = monitor.best
        converged_at, height = None, None
        if not interrupted:
            height = check.wait_converged(self.manifest, self.honest, floor, args.converge_timeout)
            converged_at = None if height is None else self.clock()
            self.note(f"converged at height {height}" if height is not None else "did not converge")
        monitor.stop()
        verdict = check.check_chain(
            self.manifest, [e.index for e in self.manifest.nodes], self.honest, stats.acknowledged
        )
        final = check.heights(self.manifest, [e.index for e in self.manifest.nodes], timeout=2.0)
        converge_s = None if converged_at is None else round(converged_at - last_heal, 2)
        passed = (
            not interrupted
            and converged_at is not None
            and not verdict.safety_violations
            and not verdict.lost_acknowledged
            and not verdict.unreadable
        )
        return {
            "format": "silkport-chaos/1",
            "seed": self.seed,
            "nodes": len(self.manifest.nodes),
            "f": self.f,
            "duration_s": args.duration,
            "interval_s": args.interval,
            "rate": args.rate,
            "byzantine": {str(i): m for i, m in self.byzantine.items()},
            "link_cuts": "iptables" if injector.cut_unavailable is None else f"paused instead: {injector.cut_unavailable}",
            "faults": [f.to_json() for f in injector.history],
            "heights": {str(i): h for i, h in final.items()},
            "checked_height": verdict.checked_height,
            "load": {"submitted": stats.submitted, "accepted": stats.accepted, "refused": stats.refused,
                     "unreachable": stats.unreachable, "acknowledged": len(stats.acknowledged)},
            "safety_violations": verdict.safety_violations,
            "lost_acknowledged_count": len(verdict.lost_acknowledged),
            "lost_acknowledged_txs": verdict.lost_acknowledged[: check.SHOWN],
            "unreadable": verdict.unreadable,
            "longest_stall_s": round(monitor.longest_stall, 2),
            "longest_stall_at_s": round(monitor.longest_stall_at, 2),
            "last_heal_s": round(last_heal, 2),
            "converge_s": converge_s,
            "converged": converged_at is not None,
            "converged_height": height,
            "passed": passed,
            "events": self.events,
        }


def _check_byzantine_allowed(manifest: layout.Manifest, count: int) -> None:
    if count and not load_genesis(manifest.genesis).params.test_mode:
        raise ConfigError(
            f"--byzantine {count} is refused: the devnet in {manifest.directory} is not a test chain "
            "(genesis params.test_mode is false); create it with `python -m devnet up --test-mode`"
        )


def validate(args: Any) -> None:
    """Refuse bad numbers before anything starts (a clear error naming the option, exit 1)."""
    for name, low in (("nodes", 1), ("duration", 0), ("interval", 0), ("converge_timeout", 0)):
        value = getattr(args, name)
        if value is None or value < low or (low == 0 and value == 0):
            raise ConfigError(f"--{name.replace('_', '-')} must be {'at least 1' if low else 'positive'}, not {value}")
    if args.rate < 0:
        raise ConfigError(f"--rate must be 0 (no load) or positive, not {args.rate}")


def main(args: Any) -> int:
    validate(args)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    swept = links.sweep_stale() if links.available() is None else 0
    if swept:
        print(f"removed {swept} iptables rule(s) left by an earlier chaos run", file=sys.stderr)
    temp: Path | None = None
    if args.dir:
        manifest = layout.load_manifest(Path(args.dir))
        _check_byzantine_allowed(manifest, args.byzantine)
    else:
        if args.byzantine < 0 or args.byzantine > max_faulty(args.nodes):
            raise ConfigError(f"--byzantine must be between 0 and f = {max_faulty(args.nodes)} for {args.nodes} nodes")
        temp = Path(tempfile.mkdtemp(prefix="silkport-chaos-"))
        manifest = layout.create_layout(temp / "devnet", args.nodes, params={"test_mode": True})
        procs.init_nodes(manifest, args.log_level)
        manifest.save()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    runner = Runner(manifest, args, seed, own_devnet=temp is not None)
    report: dict[str, Any] = {"passed": False}
    try:
        report = runner.run()
    except KeyboardInterrupt:  # during start-up or the final checks: faults are healed, nodes stopped below
        print("chaos: interrupted", file=sys.stderr)
        return 130
    finally:
        if temp is not None:
            procs.stop_nodes(manifest)
            if args.keep or not report["passed"]:
                print(f"devnet kept in {temp} (node logs under node*/node.log)", file=sys.stderr)
            else:
                shutil.rmtree(temp, ignore_errors=True)
        elif runner.byzantine:  # a devnet we borrowed: its nodes go back to honest
            procs.stop_nodes(manifest, list(runner.byzantine))
            procs.start_nodes(manifest, list(runner.byzantine))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"seed {report['seed']}: {'PASS' if report['passed'] else 'FAIL'} · heights {report['heights']} · "
            f"{len(report['faults'])} faults · {len(report['safety_violations'])} safety violations · "
            f"{report['lost_acknowledged_count']} lost acknowledged txs ({report['load']['acknowledged']} acknowledged) · "
            f"longest stall {report['longest_stall_s']} s · converged {report['converge_s']} s after the last heal"
        )
    return 0 if report["passed"] else 1
