"""What the chaos runner observes and checks, only through the REST API (CometBFT e2e-style invariants).

- :class:`HeightMonitor` polls ``/v1/status`` of every node in a thread: the best height over time and
  the **longest stall** (longest interval with no new block at the best node).
- :func:`wait_converged`: after the last heal, the first moment every honest node answers at one and
  the same height, at least the best height seen at the heal (bounded by a timeout).
- :func:`check_chain`: for every height ``1..H`` (``H`` the lowest head among the nodes), every node's
  ``GET /v1/blocks/{h}``: **one block hash and one state root per height** (PBFT safety, OSDI'99 §4.5;
  DESIGN.md §4 finality of state) — and every acknowledged transaction is in the block at the height
  its acknowledgement named, on every honest node (no committed transaction lost, DESIGN.md §6).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from devnet import layout, procs

POLL_S = 0.25
SHOWN = 20


def heights(manifest: layout.Manifest, indices: Sequence[int], timeout: float = 1.0) -> dict[int, int | None]:
    """Each listed node's height from ``/v1/status`` (None: no answer)."""

    def one(index: int) -> int | None:
        status = procs.fetch_status(manifest.node(index), timeout)
        return int(status["height"]) if status and "height" in status else None

    with ThreadPoolExecutor(max_workers=max(1, len(indices))) as pool:
        return dict(zip(indices, pool.map(one, indices), strict=True))


class HeightMonitor:
    """Samples every node's height every :data:`POLL_S` seconds until ``stop()``."""

    def __init__(self, manifest: layout.Manifest, clock_zero: float) -> None:
        self.manifest = manifest
        self.zero = clock_zero
        self.best = 0
        self.best_since = 0.0
        self.longest_stall = 0.0
        self.longest_stall_at = 0.0
        self.samples: list[tuple[float, dict[int, int | None]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._note_stall(time.monotonic() - self.zero)

    def _note_stall(self, now: float) -> None:
        if now - self.best_since > self.longest_stall:
            self.longest_stall, self.longest_stall_at = now - self.best_since, self.best_since

    def _run(self) -> None:
        indices = [e.index for e in self.manifest.nodes]
        while not self._stop.is_set():
            sample = heights(self.manifest, indices, timeout=0.5)
            now = time.monotonic() - self.zero
            self.samples.append((now, sample))
            best = max((h for h in sample.values() if h is not None), default=0)
            if best > self.best:
                self._note_stall(now)
                self.best, self.best_since = best, now
            self._stop.wait(POLL_S)


def wait_converged(manifest: layout.Manifest, honest: Sequence[int], floor: int, timeout: float) -> int | None:
    """Poll until every honest node answers at one height ``>= floor``; that height, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = heights(manifest, honest, timeout=1.0)
        values = set(seen.values())
        if None not in values and len(values) == 1:
            height = values.pop()
            if height is not None and height >= floor:
                return height
        time.sleep(POLL_S / 2)
    return None


@dataclass(slots=True)
class ChainCheck:
    """The end-of-run verdict on the chain."""

    checked_height: int = 0
    safety_violations: list[dict[str, Any]] = field(default_factory=list)
    lost_acknowledged: list[dict[str, Any]] = field(default_factory=list)
    """Every lost acknowledged transaction (reports show the first :data:`SHOWN`, and the count)."""
    unreadable: list[dict[str, Any]] = field(default_factory=list)


def fetch_patiently(url: str, attempts: int = 10) -> Any | None:
    """GET JSON, waiting out the API's refusals (429/503 with ``Retry-After``, ADR 0011) and brief
    connection errors; None if every attempt failed or the answer is 404."""
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=5.0) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            retry_after = exc.headers.get("Retry-After", "") if exc.headers else ""
            delay = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 0.2 * (attempt + 1)
            time.sleep(min(delay, 2.0))
        except (OSError, ValueError):
            time.sleep(0.2 * (attempt + 1))
    return None


def _blocks(manifest: layout.Manifest, index: int, upto: int) -> dict[int, dict[str, Any] | None]:
    api = manifest.node(index).api

    def one(height: int) -> dict[str, Any] | None:
        block = fetch_patiently(f"{api}/v1/blocks/{height}")
        return block if isinstance(block, dict) else None

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(range(1, upto + 1), pool.map(one, range(1, upto + 1)), strict=True))


def check_chain(
    manifest: layout.Manifest, nodes: Sequence[int], honest: Sequence[int], acknowledged: dict[str, tuple[int, int]]
) -> ChainCheck:
    """Compare blocks ``1..H`` across ``nodes`` and look up every acknowledged tx on the honest ones."""
    result = ChainCheck()
    answered = {i: h for i, h in heights(manifest, nodes, timeout=2.0).items() if h is not None}
    if not answered:
        result.unreadable.append({"node": "all", "reason": "no node answers /v1/status"})
        return result
    for index in nodes:
        if index not in answered:
            result.unreadable.append({"node": index, "reason": "no answer from /v1/status"})
    top = min(answered.values())
    result.checked_height = top
    chains = {index: _blocks(manifest, index, top) for index in answered}
    for height in range(1, top + 1):
        for name, key in (("block_hash", "hash"), ("state_root", "state_root")):
            values: dict[int, str] = {}
            for index, chain in chains.items():
                block = chain[height]
                if block is None:
                    result.unreadable.append({"node": index, "height": height})
                    continue
                values[index] = str(block[key])
            if len(set(values.values())) > 1:
                result.safety_violations.append({"height": height, "kind": name, "values": values})
    for tx_id, (via, height) in sorted(acknowledged.items()):
        missing = []
        for index in honest:
            block = chains.get(index, {}).get(height) if height <= top else None
            if block is None or tx_id not in block.get("tx_ids", ()):
                located = fetch_patiently(f"{manifest.node(index).api}/v1/txs/{tx_id}")
                if not (isinstance(located, dict) and located.get("status") == "committed"
                        and int(located.get("height", -1)) == height):
                    missing.append(index)
        if missing:
            result.lost_acknowledged.append({"tx_id": tx_id, "acknowledged_by": via, "height": height,
                                             "missing_on": missing})
    return result
