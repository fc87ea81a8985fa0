"""The chaos runner's faults: kill -9 + restart, SIGSTOP/SIGCONT pause, link cuts (ADR 0016).

The fault model is PBFT's (Castro & Liskov, OSDI'99 §2): at most ``f = (n - 1) // 3`` replicas are
faulty at once. A node counts as faulty while it is killed, paused, has a cut link (a cut X–Y is
charged to X, the node the fault was aimed at) or runs a Byzantine mode (for the whole run). The
schedule is drawn from a seeded :class:`random.Random`, so ``--seed`` replays the same decisions; the
kinds come in a shuffled round-robin, so even a short run applies each kind at least once.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devnet import layout, procs
from devnet.chaos import links

KINDS = ("kill", "pause", "cut")


@dataclass(slots=True)
class Fault:
    """One applied fault; times are seconds since the start of the run."""

    kind: str
    node: int
    start: float
    end: float | None = None
    peers: list[int] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"kind": self.kind, "node": self.node, "start_s": round(self.start, 2)}
        record["end_s"] = None if self.end is None else round(self.end, 2)
        if self.peers:
            record["peers"] = self.peers
        if self.note:
            record["note"] = self.note
        return record


class FaultInjector:
    """Applies and heals faults on a devnet's processes; never more than ``budget`` at once."""

    def __init__(
        self,
        manifest: layout.Manifest,
        *,
        rng: random.Random,
        budget: int,
        exempt: Sequence[int],
        start_options: Callable[[int], tuple[Sequence[str], int | None]],
        clock: Callable[[], float],
        log: Callable[[str], None],
    ) -> None:
        self.manifest = manifest
        self.rng = rng
        self.budget = budget
        self.exempt = set(exempt)
        self.start_options = start_options
        self.clock = clock
        self.log = log
        self.active: list[Fault] = []
        self.history: list[Fault] = []
        self.cutter = links.LinkCutter()
        self.cut_unavailable = links.available()
        self._kinds: list[str] = []

    def _next_kind(self) -> str:
        if not self._kinds:
            self._kinds = list(KINDS)
            self.rng.shuffle(self._kinds)
        return self._kinds.pop()

    def _port(self, index: int) -> int:
        """The API port: it names the node's group id (links.group_for_port)."""
        return int(self.manifest.node(index).listen.rpartition(":")[2])

    def _ports(self, index: int) -> list[int]:
        """Every port the node listens on: API and, when it has one, the peer port."""
        entry = self.manifest.node(index)
        return sorted({int(address.rpartition(":")[2]) for address in (entry.listen, entry.p2p) if address})

    def _cuttable(self, index: int) -> bool:
        """A node's packets can be told apart only if it runs under its own group id (links.py)."""
        return links.process_group(self.manifest.node(index).pid) == links.group_for_port(self._port(index))

    def inject(self, duration: float) -> Fault | None:
        """Start one fault on a healthy honest node (if the budget allows); it heals after ``duration``."""
        if len(self.active) >= self.budget:
            return None
        busy = {f.node for f in self.active} | self.exempt
        candidates = [e.index for e in self.manifest.nodes if e.index not in busy and procs.is_running(e)]
        if not candidates:
            return None
        node = self.rng.choice(candidates)
        kind = self._next_kind()
        fault = Fault(kind, node, self.clock())
        if kind == "cut":
            others = [e.index for e in self.manifest.nodes if e.index != node]
            peers = sorted(self.rng.sample(others, self.rng.randint(1, len(others))))
            reason = self.cut_unavailable or next(
                (f"node {i} does not run under its own group id" for i in [node, *peers] if not self._cuttable(i)), None
            )
            if reason is None:
                for peer in peers:
                    self.cutter.cut(node, peer, self._ports(node), links.group_for_port(self._port(node)),
                                    self._ports(peer), links.group_for_port(self._port(peer)))
                fault.peers = peers
            else:
                fault.kind, fault.note = "pause", f"link cut unavailable ({reason}): paused instead"
        if fault.kind == "kill":
            procs.kill_node(self.manifest, node)
        elif fault.kind == "pause":
            self._signal(node, signal.SIGSTOP)
        fault.end = fault.start + duration  # planned; set to the real time by heal()
        self.active.append(fault)
        self.history.append(fault)
        what = f"links to {fault.peers}" if fault.peers else ""
        self.log(f"fault {fault.kind} node {node} {what} for {duration:.1f} s {fault.note}".rstrip())
        return fault

    def heal_due(self) -> None:
        now = self.clock()
        for fault in [f for f in self.active if f.end is not None and f.end <= now]:
            self.heal(fault)

    def heal(self, fault: Fault) -> None:
        if fault.kind == "kill":
            procs.start_nodes(self.manifest, [fault.node], self.start_options)
        elif fault.kind == "pause":
            self._signal(fault.node, signal.SIGCONT)
        else:
            for peer in fault.peers:
                self.cutter.heal(fault.node, peer)
        fault.end = self.clock()
        self.active.remove(fault)
        self.log(f"healed {fault.kind} node {fault.node}")

    def heal_all(self) -> None:
        """Heal every active fault; always removes this run's iptables rules and resumes paused nodes."""
        try:
            for fault in list(self.active):
                try:
                    self.heal(fault)
                except Exception as exc:  # keep healing the rest; the finally below cleans the rules
                    self.log(f"healing {fault.kind} node {fault.node} failed: {exc}")
        finally:
            self.cutter.heal_all()
            for entry in self.manifest.nodes:
                if entry.pid and procs.is_running(entry):
                    self._signal(entry.index, signal.SIGCONT)

    def _signal(self, index: int, signum: int) -> None:
        entry = self.manifest.node(index)
        if entry.pid and procs.is_running(entry):
            try:
                os.killpg(entry.pid, signum)
            except ProcessLookupError:
                pass

