"""devnet.table rendering and tx/s, devnet.bench statistics and devnet.workloads (no processes)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from chain.types import SignedTx
from devnet import bench, layout
from devnet.table import NodeRow, Sampler, caption_for, render
from devnet.workloads import WORKLOADS, WorkloadContext


def _row(index: int, state: str, status: dict[str, Any] | None, rate: float | None = None) -> NodeRow:
    return NodeRow(
        index, f"node{index}", "daxing-port-authority", "CN", "http://x", 100 + index, state, status, rate
    )


def _text(rows: list[NodeRow], wide: bool = True) -> str:
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(render(rows, "t", caption_for(rows), wide=wide))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return str(output)


def test_render_shows_status_fields_and_down_nodes() -> None:
    status = {
        "height": 42,
        "view": 3,
        "primary": 1,
        "peers_connected": [1, 2, 3],
        "mempool_size": 7,
        "last_block_hash": "ab" * 32,
    }
    text = _text([_row(0, "up", status, 12.5), _row(1, "down", None)])
    assert "42" in text and "12.5" in text and "abababab" in text and "down" in text
    assert "1/2 nodes up" in text
    row0 = next(line for line in text.splitlines() if "0 CN" in line)
    assert " 3 " in row0 and " 7 " in row0  # peers counted from a list; mempool


def test_render_narrow_drops_organisation() -> None:
    text = _text([_row(0, "up", {"height": 1})], wide=False)
    assert "daxing" not in text and "organisation" not in text


def test_tx_rate_counts_transactions_of_blocks_committed_in_the_window(tmp_path: Path) -> None:
    manifest = layout.create_layout(tmp_path / "d", 2)
    now = [100.0]
    sampler = Sampler(manifest, window=5.0, clock=lambda: now[0])
    try:
        sampler.block_tx_counts.update({11: 10, 12: 20, 13: 30, 14: 40})
        sampler._record(0, 100.0, 10)
        assert sampler.tx_rate(0) is None
        sampler._record(0, 102.0, 12)
        assert sampler.tx_rate(0) == pytest.approx(30 / 2.0)
        sampler._record(0, 106.0, 13)  # the oldest sample at or before the window start stays the anchor
        assert sampler.tx_rate(0) == pytest.approx(60 / 6.0)
        sampler._record(0, 107.0, 14)  # now the sample at 102 is the anchor: blocks 13 and 14 count
        assert sampler.tx_rate(0) == pytest.approx(70 / 5.0)
    finally:
        sampler.close()


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 0.5) == 50.0
    assert bench.percentile(values, 0.99) == 99.0
    assert bench.percentile([3.0], 0.99) == 3.0
    assert bench.percentile([], 0.5) is None


def test_summarize_reports_throughput_latency_and_cpu() -> None:
    tracker = bench.CommitTracker(["http://x"])
    tracker.committed_at = {"a": 11.0, "b": 12.0}
    tracker.block_times = {5: (11.0, 1), 6: (12.0, 1), 4: (1.0, 9)}
    records = [("a", 10.0, True, ""), ("b", 10.5, True, ""), ("c", 10.6, False, "429 slow down")]
    report = bench.summarize(records, tracker, {0: 1.0}, {0: 1.5}, {"workload": "noop"})
    assert report["committed"] == 2 and report["accepted"] == 2 and report["rejected"] == 1
    assert report["duration_s"] == 2.0 and report["committed_tx_per_s"] == 1.0
    assert report["latency_ms"]["p50"] == 1000.0 and report["latency_ms"]["max"] == 1500.0
    assert report["blocks"] == 2  # the block committed before the first submission is not counted
    assert report["cpu_s"] == {"0": 0.5} and report["errors"] == {"429 slow down": 1}
    assert "committed     2" in bench.format_report(
        {**report, "clients": 1, "nodes": 1, "offered_rate": None}
    )


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workloads_build_signed_transactions_for_the_chain(name: str, tmp_path: Path) -> None:
    plan = WORKLOADS[name](WorkloadContext("silkport-devnet", 0, 1, 5, str(tmp_path)))
    assert len(plan.timed) == 5
    assert len({tx.tx_id for tx in plan.timed}) == 5
    for tx in plan.timed + plan.setup:
        tx.verify_signatures("silkport-devnet")
        assert SignedTx.decode(tx.encode()) == tx


def test_render_shows_a_lagging_node_and_its_catch_up_speed() -> None:
    rows = [
        NodeRow(0, "node0", "o", "CN", "http://x", 1, "up", {"height": 5000}, 1.0, 40.0, 0),
        NodeRow(1, "node1", "o", "CN", "http://x", 2, "up", {"height": 3796}, 0.0, 310.0, 1204),
    ]
    text = _text(rows)
    row1 = next(line for line in text.splitlines() if "1 CN" in line)
    assert "1,204 ↑310/s" in row1
    row0 = next(line for line in text.splitlines() if "0 CN" in line)
    assert " 0 " in row0


def test_block_rate_is_heights_per_second_over_the_window(tmp_path: Path) -> None:
    manifest = layout.create_layout(tmp_path / "d", 2)
    sampler = Sampler(manifest, window=5.0, clock=lambda: 0.0)
    try:
        sampler._record(1, 100.0, 1000)
        assert sampler.block_rate(1) is None
        sampler._record(1, 102.0, 1600)
        assert sampler.block_rate(1) == 300.0
    finally:
        sampler.close()
