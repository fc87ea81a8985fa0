"""What ``python -m devnet bench`` measures besides throughput (issue 15 part 1).

- **The signature ceiling of this machine, measured in the same run** (:func:`signature_ceiling`):
  Ed25519 verifications per second on one core (PyNaCl, the node's own check), times the cores, over
  ``nodes × signatures per transaction`` (DESIGN.md §11: each node verifies each signature once). The
  bench's headline is committed tx/s as a fraction of it, so figures from a busy and a quiet machine
  can be compared.
- **Bytes on the wire per committed transaction** (:func:`wire_bytes`): the peer ports' bytes sent
  (``silkport_net{counter="bytes_out"}`` of each node's ``/metrics``, summed: every byte sent once),
  and the API request bytes the clients sent.
- **CPU profiles per node** (:class:`Profiles`): ``py-spy record`` attached to each node process for
  the timed phase, one SVG flame graph per node in the results directory (py-spy needs ptrace: root).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from chain.crypto import KeyPair, verify
from chain.errors import ConfigError

CEILING_SAMPLE_S = 0.1
NET_COUNTER = re.compile(r'^silkport_net\{counter="(?P<name>[a-z_]+)"\}\s+(?P<value>[0-9.e+]+)$', re.M)


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), like the nodes it is compared with."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def verifies_per_second(seconds: float = 0.5, sample_s: float = CEILING_SAMPLE_S) -> tuple[float, float]:
    """Ed25519 verifications per second on one core: the median over samples of ``sample_s`` by the
    wall clock (what this machine gave us in this run: the ceiling) and by this process's CPU time
    (the cost of one check, whatever else runs on the machine)."""
    keypair = KeyPair.generate()
    message = b"silkport/tx/v1" + b"bench" + bytes(120)  # the size of a small transaction's signing bytes
    signature = keypair.sign(message)
    wall_rates: list[float] = []
    cpu_rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or not wall_rates:
        count, started, cpu_started = 0, time.perf_counter(), time.process_time()
        while (elapsed := time.perf_counter() - started) < sample_s:
            for _ in range(50):
                verify(keypair.public_key, message, signature)
            count += 50
        wall_rates.append(count / elapsed)
        cpu_rates.append(count / max(time.process_time() - cpu_started, 1e-6))
    return statistics.median(wall_rates), statistics.median(cpu_rates)


def signature_ceiling(
    verify_rates: list[tuple[float, float]], nodes: int, signatures_per_tx: float, cores: int | None = None
) -> dict[str, Any]:
    """The tx/s that signature checks alone would allow: ``cores × verify/s ÷ (nodes × sigs/tx)``, with
    the wall-clock verify rate of :func:`verifies_per_second` (median of the samples before and after)."""
    cores = cores or usable_cores()
    per_core = statistics.median(wall for wall, _ in verify_rates)
    per_core_cpu = statistics.median(cpu for _, cpu in verify_rates)
    ceiling = cores * per_core / (max(1, nodes) * max(1.0, signatures_per_tx))
    return {
        "verify_per_s_per_core": round(per_core),
        "verify_us": round(1e6 / per_core, 1),
        "verify_cpu_us": round(1e6 / per_core_cpu, 1),
        "cores": cores,
        "nodes": nodes,
        "signatures_per_tx": round(signatures_per_tx, 2),
        "tx_per_s": round(ceiling, 1),
    }


def signature_cpu_share(ceiling: dict[str, Any], cpu_ms_per_tx: float | None) -> float | None:
    """The share of the nodes' CPU per committed tx that its signature checks need (``nodes × sig/tx ×
    verify time ÷ CPU per tx``). Unlike the throughput ratio it does not depend on how much of a shared
    machine the nodes got: 1.0 would mean the nodes did nothing but verify signatures."""
    if not cpu_ms_per_tx:
        return None
    needed_ms = ceiling["nodes"] * ceiling["signatures_per_tx"] * ceiling["verify_cpu_us"] / 1000
    return round(needed_ms / cpu_ms_per_tx, 3)


def net_counters(api: str, timeout: float = 3.0) -> dict[str, float] | None:
    """The ``silkport_net`` counters of one node's ``/metrics`` (None if it does not answer)."""
    try:
        with urllib.request.urlopen(f"{api}/metrics", timeout=timeout) as response:  # noqa: S310 (our node)
            text = response.read().decode()
    except OSError:
        return None
    return {m["name"]: float(m["value"]) for m in NET_COUNTER.finditer(text)}


def wire_bytes(
    before: dict[int, dict[str, float] | None],
    after: dict[int, dict[str, float] | None],
    api_bytes: int,
    committed: int,
) -> dict[str, Any]:
    """Peer and API bytes of the timed phase, in total and per committed transaction."""
    peer = 0.0
    for index, counters in after.items():
        old = before.get(index)
        if counters is not None and old is not None:
            peer += counters.get("bytes_out", 0.0) - old.get("bytes_out", 0.0)
    return {
        "peer_bytes": int(peer),
        "api_bytes": api_bytes,
        "peer_bytes_per_tx": round(peer / committed, 1) if committed else None,
        "api_bytes_per_tx": round(api_bytes / committed, 1) if committed else None,
    }


class Profiles:
    """``py-spy record`` on every node for the timed phase; SVG flame graphs in ``directory``."""

    def __init__(self, directory: Path, pids: dict[int, int], rate_hz: int = 99) -> None:
        executable = shutil.which("py-spy") or _venv_tool("py-spy")
        if executable is None:
            raise ConfigError("--profile needs py-spy: pip install py-spy (it is in the dev extra)")
        self.executable = executable
        self.directory = directory
        self.pids = pids
        self.rate_hz = rate_hz
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for index, pid in self.pids.items():
            output = self.directory / f"node{index}.svg"
            log = (self.directory / f"node{index}.py-spy.log").open("wb")
            self.procs[index] = subprocess.Popen(
                [self.executable, "record", "--pid", str(pid), "--rate", str(self.rate_hz),
                 "--format", "flamegraph", "--output", str(output), "--nonblocking"],
                stdout=log, stderr=subprocess.STDOUT,
            )
            log.close()

    def stop(self, timeout: float = 30.0) -> dict[int, str]:
        """Stop every recorder (SIGINT: py-spy writes its file then) and name the files written."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        written: dict[int, str] = {}
        for index, proc in self.procs.items():
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            path = self.directory / f"node{index}.svg"
            if path.exists() and path.stat().st_size > 0:
                written[index] = str(path)
        return written


FRAME = re.compile(
    r'<title>(?P<title>[^<]*) \((?P<samples>[\d,]+) samples?, [\d.]+%\)</title>'
    r'<rect x="[^"]*" y="(?P<y>\d+)"[^>]*fg:x="(?P<x>\d+)" fg:w="(?P<w>\d+)"'
)
LINE = re.compile(r":\d+\)$")


def self_time(svg_text: str, top: int = 12) -> list[tuple[str, float]]:
    """The functions with the most samples of their own (not in a callee) in a py-spy flame graph, as
    ``(function (file), share of all samples)``: a frame's self time is its width less its children's
    (the frames one level below within its span); lines of one function are added up."""
    import html
    from collections import Counter

    frames = [(html.unescape(m["title"]), int(m["y"]), int(m["x"]), int(m["w"])) for m in FRAME.finditer(svg_text)]
    by_level: dict[int, list[tuple[int, int]]] = {}
    for _, y, x, w in frames:
        by_level.setdefault(y, []).append((x, w))
    levels = sorted(by_level)
    step = min((b - a for a, b in zip(levels, levels[1:], strict=False)), default=0)
    total = max((w for _, _, _, w in frames), default=0)
    own: Counter[str] = Counter()
    for title, y, x, w in frames:
        children = sum(cw for cx, cw in by_level.get(y + step, ()) if x <= cx < x + w) if step else 0
        if w > children:
            own[LINE.sub(")", title)] += w - children
    return [(name, round(count / total, 3)) for name, count in own.most_common(top)] if total else []


def _venv_tool(name: str) -> str | None:
    import sys

    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


def headline(report: dict[str, Any]) -> str:
    """``committed tx/s = R × the same-run signature ceiling`` in one line."""
    ceiling = report.get("signature_ceiling")
    if not ceiling:
        return ""
    ratio = report.get("ceiling_ratio")
    return (
        f"  headline      {report['committed_tx_per_s']:,.1f} tx/s = {ratio} of the same-run signature ceiling "
        f"{ceiling['tx_per_s']:,.1f} tx/s ({ceiling['cores']} cores × {ceiling['verify_per_s_per_core']:,}"
        f" verify/s ÷ {ceiling['nodes']} nodes × {ceiling['signatures_per_tx']} sig/tx)"
        f"; signatures are {report.get('signature_cpu_share')} of the nodes' CPU per tx"
    )
