"""Watch a devnet from outside while an attack runs: block rate, empty blocks, views, node RSS.

A background thread polls every node's ``/v1/status`` and ``/proc/<pid>/status`` (VmRSS); at the end
the blocks committed in the window are fetched from the best node to count the empty ones. This is a
measurement (it asserts nothing): the attack runner and the black-box tests judge the figures.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from devnet import layout, procs


def rss_mb(pid: int | None) -> float | None:
    """Resident set size of ``pid`` in MB (None if it is gone)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Window:
    """What the observer saw between ``start`` and ``stop``."""

    seconds: float = 0.0
    start_height: int = 0
    end_height: int = 0
    views_before: dict[int, int] = field(default_factory=dict)
    views_after: dict[int, int] = field(default_factory=dict)
    max_view: int = 0
    peak_rss_mb: float = 0.0
    empty_blocks: int = 0
    unreachable_polls: int = 0

    @property
    def blocks(self) -> int:
        return max(0, self.end_height - self.start_height)

    @property
    def blocks_per_s(self) -> float:
        return self.blocks / self.seconds if self.seconds > 0 else 0.0

    @property
    def view_changes(self) -> int:
        return max((self.views_after.get(i, 0) - v for i, v in self.views_before.items()), default=0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "blocks": self.blocks,
            "blocks_per_s": round(self.blocks_per_s, 2),
            "empty_blocks": self.empty_blocks,
            "view_changes": self.view_changes,
            "max_view": self.max_view,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "unreachable_polls": self.unreachable_polls,
        }


class Observer:
    """Poll a devnet in a thread; ``with Observer(manifest) as window: ...`` fills ``window``."""

    def __init__(self, manifest: layout.Manifest, *, period_s: float = 0.5) -> None:
        self.manifest = manifest
        self.period_s = period_s
        self.window = Window()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0

    def _statuses(self) -> dict[int, dict[str, Any]]:
        out = {}
        for entry in self.manifest.nodes:
            status = procs.fetch_status(entry, timeout=2.0)
            if status is None:
                self.window.unreachable_polls += 1
            else:
                out[entry.index] = status
        return out

    def _sample(self) -> dict[int, dict[str, Any]]:
        statuses = self._statuses()
        for status in statuses.values():
            self.window.max_view = max(self.window.max_view, int(status.get("view", 0)))
        for entry in self.manifest.nodes:
            rss = rss_mb(entry.pid)
            if rss is not None:
                self.window.peak_rss_mb = max(self.window.peak_rss_mb, rss)
        return statuses

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def __enter__(self) -> Window:
        statuses = self._sample()
        self.window.views_before = {i: int(s.get("view", 0)) for i, s in statuses.items()}
        self.window.start_height = max((int(s["height"]) for s in statuses.values()), default=0)
        self._started = time.monotonic()
        self._thread.start()
        return self.window

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.window.seconds = time.monotonic() - self._started
        statuses = self._sample()
        self.window.views_after = {i: int(s.get("view", 0)) for i, s in statuses.items()}
        self.window.end_height = max((int(s["height"]) for s in statuses.values()), default=0)
        self.window.empty_blocks = self._count_empty(statuses)

    def _count_empty(self, statuses: dict[int, dict[str, Any]]) -> int:
        if not statuses:
            return 0
        best = max(statuses, key=lambda i: int(statuses[i]["height"]))
        api = self.manifest.node(best).api
        heights = range(self.window.start_height + 1, self.window.end_height + 1)
        if len(heights) > 2_000:  # a storm: sample evenly rather than fetch every block
            step = len(heights) // 2_000 + 1
            sampled = list(heights[::step])
            empty = sum(1 for h in sampled if self._is_empty(api, h))
            return round(empty * len(heights) / max(1, len(sampled)))
        return sum(1 for h in heights if self._is_empty(api, h))

    @staticmethod
    def _is_empty(api: str, height: int) -> bool:
        block = procs.fetch_json(f"{api}/v1/blocks/{height}", timeout=5.0)
        return isinstance(block, dict) and not block.get("tx_ids")
