"""Cutting links between two devnet nodes at the OS level, with iptables on loopback (ADR 0016).

Every node of a chaos devnet runs with its own group id. A cut of the link X–Y adds rules to the
``OUTPUT`` chain: drop TCP on ``lo`` to Y's ports (peer and API) from sockets owned by X's group, and
to X's ports from Y's group (``-m owner --gid-owner``). That stalls both directions of every connection between
the two — peer websockets and catch-up fetches alike — whatever the transport, while API clients
(other groups) still reach both nodes. Rules carry the comment ``silkport-chaos:<pid>`` of the runner
that added them: :meth:`LinkCutter.heal_all` removes a run's own rules (in a ``finally``), and
:func:`sweep_stale` removes the rules of runners that are no longer alive.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

TAG = "silkport-chaos"
GROUP_BASE = 100_000
"""A node listening on port P runs with group id ``GROUP_BASE + P``: unique among the devnets of a host."""


def group_for_port(port: int) -> int:
    return GROUP_BASE + port


def process_group(pid: int | None) -> int | None:
    """The real group id of ``pid`` from ``/proc/<pid>/status``, or None if it is gone."""
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Gid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def available() -> str | None:
    """None if cuts are possible here, else why not (then the runner pauses nodes instead)."""
    if os.geteuid() != 0:
        return "not root: iptables rules need CAP_NET_ADMIN"
    if shutil.which("iptables") is None:
        return "iptables is not installed"
    probe = subprocess.run(["iptables", "-w", "-S", "OUTPUT"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"iptables does not work here: {probe.stderr.strip()[:200]}"
    return None


def _rule(port: int, group: int, tag: str) -> list[str]:
    return [
        "OUTPUT", "-o", "lo", "-p", "tcp", "--dport", str(port), "-m", "owner", "--gid-owner", str(group),
        "-m", "comment", "--comment", tag, "-j", "DROP",
    ]


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True)


class LinkCutter:
    """Adds and removes this run's DROP rules; ``cuts`` holds the pairs currently cut."""

    def __init__(self) -> None:
        self.tag = f"{TAG}:{os.getpid()}"
        self.cuts: dict[tuple[int, int], list[list[str]]] = {}

    def cut(self, a: int, b: int, ports_a: Sequence[int], group_a: int, ports_b: Sequence[int], group_b: int) -> None:
        """Drop every TCP packet between nodes ``a`` and ``b`` (both directions, to every listening port:
        the peer port and the API port, which also serves catch-up)."""
        key = (min(a, b), max(a, b))
        if key in self.cuts:
            return
        rules = [_rule(port, group_a, self.tag) for port in ports_b] + [_rule(port, group_b, self.tag) for port in ports_a]
        added = []
        try:
            for rule in rules:
                result = _iptables("-A", *rule)
                if result.returncode != 0:
                    raise OSError(f"iptables -A failed: {result.stderr.strip()}")
                added.append(rule)
        finally:
            self.cuts[key] = added

    def heal(self, a: int, b: int) -> None:
        for rule in self.cuts.pop((min(a, b), max(a, b)), []):
            _iptables("-D", *rule)

    def heal_all(self) -> None:
        for a, b in list(self.cuts):
            self.heal(a, b)
        remove_tagged(lambda tag: tag == self.tag)


def _tagged_rules() -> list[tuple[str, str]]:
    """``(tag, rule spec)`` of every OUTPUT rule whose comment starts with :data:`TAG`."""
    listing = _iptables("-S", "OUTPUT")
    found = []
    for line in listing.stdout.splitlines():
        match = re.search(r'--comment "?(' + TAG + r':\d+)"?', line)
        if match and line.startswith("-A OUTPUT "):
            found.append((match.group(1), line[len("-A ") :]))
    return found


def remove_tagged(select: Callable[[str], bool]) -> int:
    """Delete the tagged rules whose tag ``select(tag)`` accepts; return how many."""
    removed = 0
    for tag, spec in _tagged_rules():
        if select(tag):
            if _iptables("-D", *spec.replace('"', "").split()).returncode == 0:
                removed += 1
    return removed


def sweep_stale() -> int:
    """Remove rules left by chaos runners that died without cleaning up (their pid is gone)."""

    def dead(tag: str) -> bool:
        pid = int(tag.rsplit(":", 1)[1])
        return not Path(f"/proc/{pid}").exists()

    return remove_tagged(dead)
