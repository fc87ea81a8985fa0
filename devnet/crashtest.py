"""``python -m devnet crashtest``: kill -9 nodes at random instants during commits, many times (ADR 0016).

Under a load (:mod:`devnet.chaos.load`), each round kills one node (SIGKILL: no shutdown) either right
after its log shows ``event=block_committed`` (biased towards the commit path) or at a purely random
instant, then, with the node dead, opens its LevelDB directly and checks (DESIGN.md §5–6):

- the store opens without repair (``LevelDBKV(create=False)``; plyvel raises on corruption);
- its head is at least the height the node reported committed before the kill (no committed block lost);
- its persisted votes (``VoteLog``, the records PBFT stores before sending, TOCS 2002 §4.1) never name
  two block hashes for one ``(kind, view, height)`` over all the kills (no double vote after restart);

then restarts it and waits until it is back at the others' head. A node that has not caught up is the
only one killed next (so never more than ``f = 1`` of 4 is faulty). At the end the chain checks of
:func:`devnet.chaos.check.check_chain` run on every node. Exit 1 unless every check passed.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chain.config import load_config
from chain.consensus.persist import decode_record
from chain.errors import ConfigError, SilkportError
from chain.storage.blockstore import BlockStore, VoteLog
from chain.storage.leveldb import LevelDBKV
from devnet import layout, procs
from devnet.chaos import check
from devnet.chaos.load import LoadGenerator

COMMITTED = re.compile(rb"event=block_committed height=(\d+)")
CATCH_UP_TIMEOUT_S = 60.0
RANDOM_DELAY_S = (0.0, 1.5)


def _wait_commit_line(entry: layout.NodeEntry, timeout: float) -> int | None:
    """Wait for a new ``block_committed`` line in the node's log; return its height (None: timeout)."""
    path = entry.log_file
    offset = path.stat().st_size if path.exists() else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, "rb") as handle:
            handle.seek(offset)
            found = COMMITTED.findall(handle.read())
        if found:
            return int(found[-1])
        time.sleep(0.005)
    return None


def inspect_store(entry: layout.NodeEntry) -> tuple[int, list[tuple[str, int, int, str]]]:
    """Open a dead node's LevelDB: its head height and its persisted votes ``(kind, view, height, hash)``."""
    home = Path(entry.home)
    config = load_config(home)
    with LevelDBKV(config.path(home, config.data_dir), create=False) as kv:
        height = BlockStore(kv).height()
        votes = []
        for _key, value in VoteLog(kv).load_all():
            message, _prepared, _block = decode_record(value)
            body = message.body
            block_hash = getattr(body, "block_hash", None)
            if block_hash is not None:
                votes.append((message.kind, int(body.view), int(body.height), bytes(block_hash).hex()))
    return height, votes


class CrashTest:
    def __init__(self, manifest: layout.Manifest, kills: int, seed: int, log: Any) -> None:
        self.manifest = manifest
        self.kills = kills
        self.rng = random.Random(seed)
        self.log = log
        self.rounds: list[dict[str, Any]] = []
        self.votes: dict[tuple[int, str, int, int], str] = {}
        self.double_votes: list[dict[str, Any]] = []
        self.lost_heads: list[dict[str, Any]] = []
        self.repairs: list[dict[str, Any]] = []
        self.not_caught_up: list[int] = []

    def round(self, number: int, victim: int) -> bool:
        """Kill, inspect and restart ``victim``; True if it caught up with the others."""
        entry = self.manifest.node(victim)
        biased = self.rng.random() < 0.5
        seen = _wait_commit_line(entry, 10.0) if biased else None
        if not biased:
            time.sleep(self.rng.uniform(*RANDOM_DELAY_S))
        status = procs.fetch_status(entry, timeout=0.2)
        reported = max(seen or 0, int(status["height"]) if status else 0)
        procs.kill_node(self.manifest, victim)  # returns once the whole process is gone (lock released)
        record: dict[str, Any] = {"round": number, "node": victim, "instant": "after_commit" if biased else "random",
                                  "reported_height": reported}
        try:
            stored, votes = inspect_store(entry)
        except SilkportError as exc:
            self.repairs.append({"round": number, "node": victim, "error": exc.message})
            record["error"] = exc.message
            self.rounds.append(record)
            return False
        record["stored_height"] = stored
        if stored < reported:
            self.lost_heads.append({"round": number, "node": victim, "reported": reported, "stored": stored})
        for kind, view, height, block_hash in votes:
            key = (victim, kind, view, height)
            earlier = self.votes.setdefault(key, block_hash)
            if earlier != block_hash:
                self.double_votes.append({"node": victim, "kind": kind, "view": view, "height": height,
                                          "hashes": [earlier, block_hash]})
        procs.start_nodes(self.manifest, [victim])
        others = [e.index for e in self.manifest.nodes if e.index != victim]
        target = max((h for h in check.heights(self.manifest, others).values() if h is not None), default=0)
        started = time.monotonic()
        deadline = started + CATCH_UP_TIMEOUT_S
        caught_up = False
        while time.monotonic() < deadline:
            current = check.heights(self.manifest, [victim]).get(victim)
            if current is not None and current >= target:
                caught_up = True
                break
            time.sleep(0.1)
        record["caught_up_s"] = round(time.monotonic() - started, 2) if caught_up else None
        self.rounds.append(record)
        self.log(f"round {number}: node {victim} killed {record['instant']} at reported height {reported}, "
                 f"stored {stored}, {'caught up' if caught_up else 'NOT caught up'}")
        if not caught_up:
            self.not_caught_up.append(number)
        return caught_up

    def run(self, load: LoadGenerator) -> dict[str, Any]:
        victim: int | None = None
        load.start()
        try:
            for number in range(1, self.kills + 1):
                if victim is None:
                    victim = self.rng.choice([e.index for e in self.manifest.nodes])
                caught_up = self.round(number, victim)
                if number in [r["round"] for r in self.repairs]:
                    break  # a store that needs repair cannot be restarted: stop here
                victim = None if caught_up else victim  # never a second faulty node
        finally:
            stats = load.stop()
        final_floor = max((h for h in check.heights(self.manifest, [e.index for e in self.manifest.nodes]).values()
                           if h is not None), default=0)
        nodes = [e.index for e in self.manifest.nodes]
        converged = check.wait_converged(self.manifest, nodes, final_floor, CATCH_UP_TIMEOUT_S)
        verdict = check.check_chain(self.manifest, nodes, nodes, stats.acknowledged)
        catch_ups = [r["caught_up_s"] for r in self.rounds if r.get("caught_up_s") is not None]
        passed = not (self.double_votes or self.lost_heads or self.repairs or self.not_caught_up
                      or verdict.safety_violations or verdict.lost_acknowledged or converged is None)
        return {
            "format": "silkport-crashtest/1",
            "kills": len(self.rounds),
            "after_commit_kills": sum(r["instant"] == "after_commit" for r in self.rounds),
            "opened_without_repair": len(self.rounds) - len(self.repairs),
            "repairs_needed": self.repairs,
            "lost_committed_heads": self.lost_heads,
            "double_votes": self.double_votes,
            "not_caught_up_rounds": self.not_caught_up,
            "max_catch_up_s": max(catch_ups, default=None),
            "acknowledged_txs": len(stats.acknowledged),
            "safety_violations": verdict.safety_violations,
            "lost_acknowledged_count": len(verdict.lost_acknowledged),
            "lost_acknowledged_txs": verdict.lost_acknowledged[: check.SHOWN],
            "checked_height": verdict.checked_height,
            "converged": converged is not None,
            "passed": passed,
            "rounds": self.rounds,
        }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(args: Any) -> int:
    if args.nodes < 1 or args.kills < 1:
        raise ConfigError(f"--nodes and --kills must be at least 1, not {args.nodes} and {args.kills}")
    if args.rate < 0:
        raise ConfigError(f"--rate must be 0 (no load) or positive, not {args.rate}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    temp = Path(tempfile.mkdtemp(prefix="silkport-crashtest-"))
    manifest = layout.create_layout(temp / "devnet", args.nodes, params={"test_mode": True})
    report: dict[str, Any] = {"passed": False}

    def log(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    for signum in (signal.SIGTERM, signal.SIGHUP):  # a supervisor's stop: stop our nodes too (finally)
        signal.signal(signum, _interrupt)
    try:
        procs.init_nodes(manifest, args.log_level)
        manifest.save()
        procs.start_nodes(manifest)
        procs.wait_ready(manifest)
        load = LoadGenerator([e.api for e in manifest.nodes], manifest.chain_id, args.rate)
        report = {"seed": seed, **CrashTest(manifest, args.kills, seed, log).run(load)}
    except KeyboardInterrupt:
        print("crashtest: interrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_nodes(manifest)
        if args.keep or not report["passed"]:
            print(f"devnet kept in {temp} (node logs under node*/node.log)", file=sys.stderr)
        else:
            shutil.rmtree(temp, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"seed {seed}: {'PASS' if report['passed'] else 'FAIL'} · {report['kills']} kills "
              f"({report['after_commit_kills']} right after a commit) · {report['opened_without_repair']} opened "
              f"without repair · {len(report['lost_committed_heads'])} lost heads · "
              f"{len(report['double_votes'])} double votes · max catch-up {report['max_catch_up_s']} s")
    return 0 if report["passed"] else 1
