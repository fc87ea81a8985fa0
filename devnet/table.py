"""The devnet status table: poll every node's ``/v1/status``, derive tx/s, render with rich.

Sampling (:class:`Sampler`) is kept apart from rendering (:func:`render`), which is a pure function
of the rows and is unit-tested. tx/s for a node is the number of transactions in the blocks it
committed during the last ``window`` seconds, divided by the time elapsed; block transaction counts
come from ``GET /v1/blocks/{h}`` (``len(tx_ids)``), fetched once per height from any node that has it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rich.table import Table

from devnet.layout import Manifest, NodeEntry
from devnet.procs import fetch_json, fetch_status, is_running

WINDOW_S = 5.0
MAX_BLOCK_FETCHES = 64  # per refresh; a node catching up thousands of blocks must not stall the table


@dataclass(frozen=True, slots=True)
class NodeRow:
    """What the table shows for one node."""

    index: int
    name: str
    organisation: str
    jurisdiction: str
    api: str
    pid: int | None
    state: str  # "up" | "down" | "starting" (process alive, API silent)
    status: dict[str, Any] | None
    tx_per_s: float | None
    blocks_per_s: float | None = None
    """Heights this node committed per second over the window: its catch-up speed when it lags."""
    lag: int | None = None
    """Blocks behind the highest node (None when down)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "organisation": self.organisation,
            "jurisdiction": self.jurisdiction,
            "api": self.api,
            "pid": self.pid,
            "state": self.state,
            "tx_per_s": self.tx_per_s,
            "blocks_per_s": self.blocks_per_s,
            "lag": self.lag,
            "status": self.status,
        }


def _count(value: Any) -> Any:
    """peers_connected may be a number or a list of peers: show a number."""
    return len(value) if isinstance(value, list | tuple | dict) else value


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, str) and len(value) > 16:
        return value[:12] + "…"
    return str(value)


def _short(value: Any) -> str:
    return value[:10] if isinstance(value, str) and value else "–"


def render(
    rows: list[NodeRow], title: str = "silkport devnet", caption: str | None = None, *, wide: bool = True
) -> Table:
    """The status table for ``rows`` (pure: no I/O); ``wide=False`` drops organisation and last block."""
    table = Table(title=title, caption=caption, header_style="bold")
    table.add_column("node", justify="right", no_wrap=True, min_width=4)
    if wide:
        table.add_column("organisation", overflow="ellipsis", no_wrap=True, max_width=22)
    for column in ("state", "height", "lag", "view", "primary", "tx/s", "peers", "mempool"):
        justify = "left" if column == "state" else "right"
        table.add_column(column, justify=justify, no_wrap=True, min_width=len(column))  # type: ignore[arg-type]
    if wide:
        table.add_column("last block", no_wrap=True, min_width=10)
    heights: list[int] = [
        r.status["height"] for r in rows if r.status and isinstance(r.status.get("height"), int)
    ]
    top = max(heights) if heights else None
    for row in rows:
        status = row.status or {}
        state_style = {"up": "green", "down": "red"}.get(row.state, "yellow")
        height = status.get("height")
        height_cell = _cell(height)
        if top is not None and isinstance(height, int) and height < top:
            height_cell = f"[yellow]{height_cell}[/]"
        cells = [
            f"{row.index} {row.jurisdiction}",
            f"[{state_style}]{row.state}[/]",
            height_cell,
            _lag_cell(row),
            _cell(status.get("view")),
            _cell(status.get("primary")),
            _cell(row.tx_per_s) if row.state == "up" else "–",
            _cell(_count(status.get("peers_connected"))),
            _cell(status.get("mempool_size")),
        ]
        if wide:
            cells.insert(1, row.organisation)
            cells.append(_short(status.get("last_block_hash")))
        table.add_row(*cells)
    return table


def _lag_cell(row: NodeRow) -> str:
    """``0``, or how far behind and how fast it is catching up (``1,204 ↑310/s``)."""
    if row.lag is None:
        return "–"
    if row.lag == 0:
        return "0"
    speed = f" ↑{row.blocks_per_s:,.0f}/s" if row.blocks_per_s else ""
    return f"[yellow]{row.lag:,}{speed}[/]"


def caption_for(rows: list[NodeRow]) -> str:
    up = sum(1 for r in rows if r.state == "up")
    rates = [r.tx_per_s for r in rows if r.tx_per_s is not None and r.state == "up"]
    rate = f"{max(rates):,.1f}" if rates else "–"
    return f"{up}/{len(rows)} nodes up · committed tx/s (last {WINDOW_S:.0f} s): {rate}"


WIDE_COLUMNS = 104  # terminal width needed by the wide table


class Sampler:
    """Polls all nodes in parallel and keeps the short history that tx/s needs."""

    def __init__(
        self,
        manifest: Manifest,
        window: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.manifest = manifest
        self.window = window
        self.clock = clock
        self.history: dict[int, deque[tuple[float, int]]] = {e.index: deque() for e in manifest.nodes}
        self.block_tx_counts: dict[int, int] = {}
        self.first_height: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(manifest.nodes)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def sample(self) -> list[NodeRow]:
        statuses = list(self._pool.map(lambda e: fetch_status(e, timeout=0.4), self.manifest.nodes))
        now = self.clock()
        for entry, status in zip(self.manifest.nodes, statuses, strict=True):
            if status is not None and isinstance(status.get("height"), int):
                self._record(entry.index, now, status["height"])
        self._fetch_counts(statuses)
        heights = [s["height"] for s in statuses if s is not None and isinstance(s.get("height"), int)]
        top = max(heights, default=None)
        rows = []
        for entry, status in zip(self.manifest.nodes, statuses, strict=True):
            if status is not None:
                state = "up"
            else:
                state = "starting" if is_running(entry) else "down"
            rows.append(
                NodeRow(
                    index=entry.index,
                    name=entry.name,
                    organisation=entry.organisation,
                    jurisdiction=entry.jurisdiction,
                    api=entry.api,
                    pid=entry.pid,
                    state=state,
                    status=status,
                    tx_per_s=self.tx_rate(entry.index) if status is not None else None,
                    blocks_per_s=self.block_rate(entry.index) if status is not None else None,
                    lag=top - status["height"] if status is not None and top is not None
                    and isinstance(status.get("height"), int) else None,
                )
            )
        return rows

    def _record(self, index: int, now: float, height: int) -> None:
        if self.first_height is None or height < self.first_height:
            self.first_height = height
        samples = self.history[index]
        samples.append((now, height))
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()

    def _fetch_counts(self, statuses: list[dict[str, Any] | None]) -> None:
        """Fetch tx counts of blocks above the first height seen, newest first, bounded per refresh."""
        if self.first_height is None:
            return
        holders = [
            (status["height"], entry)
            for entry, status in zip(self.manifest.nodes, statuses, strict=True)
            if status is not None and isinstance(status.get("height"), int)
        ]
        if not holders:
            return
        top, source = max(holders, key=lambda pair: pair[0])
        missing = [h for h in range(top, self.first_height, -1) if h not in self.block_tx_counts]
        for height in missing[:MAX_BLOCK_FETCHES]:
            count = self._block_tx_count(source, height)
            if count is None:
                break
            self.block_tx_counts[height] = count

    @staticmethod
    def _block_tx_count(entry: NodeEntry, height: int) -> int | None:
        block = fetch_json(f"{entry.api}/v1/blocks/{height}", timeout=0.5)
        if not isinstance(block, dict) or not isinstance(block.get("tx_ids"), list):
            return None
        return len(block["tx_ids"])

    def block_rate(self, index: int) -> float | None:
        """Heights committed per second by node ``index`` over the window (None until 2 samples)."""
        samples = self.history[index]
        if len(samples) < 2 or samples[-1][0] <= samples[0][0]:
            return None
        return (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])

    def tx_rate(self, index: int) -> float | None:
        """Transactions per second committed by node ``index`` over the window (None until 2 samples)."""
        samples = self.history[index]
        if len(samples) < 2:
            return None
        (t_old, h_old), (t_new, h_new) = samples[0], samples[-1]
        if t_new <= t_old:
            return None
        txs = sum(self.block_tx_counts.get(h, 0) for h in range(h_old + 1, h_new + 1))
        return txs / (t_new - t_old)
