"""The scaling-curves driver's pure parts (issue 15 part 5): alternation, medians, tables, the JSON
document and its SVG, on a tiny fake dataset; no devnet, no timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import curves


def test_runs_alternate_forward_then_backward() -> None:
    assert curves.alternated([1, 4, 7], 3) == [(0, 1), (0, 4), (0, 7), (1, 7), (1, 4), (1, 1), (2, 1), (2, 4), (2, 7)]
    assert curves.alternated([10], 2) == [(0, 10), (1, 10)]
    with pytest.raises(ValueError, match="runs must be at least 1"):
        curves.alternated([1], 0)


def test_spread_is_median_and_range_of_the_present_values() -> None:
    assert curves.spread([3.0, None, 1.0, 10.0]) == {"median": 3.0, "min": 1.0, "max": 10.0, "n": 3}
    assert curves.spread([2, 4]) == {"median": 3.0, "min": 2.0, "max": 4.0, "n": 2}
    assert curves.spread([None]) == {"median": None, "min": None, "max": None, "n": 0}


def test_measure_alternated_keeps_every_run_per_point_in_order() -> None:
    calls: list[tuple[int, int]] = []

    def measure(point: int, run: int) -> dict[str, object]:
        calls.append((run, point))
        return {"tx_per_s": point * 100 + run, "nested": {"p99": float(run)}}

    raw = curves.measure_alternated([1, 4], 3, measure, log=lambda _: None)
    assert calls == [(0, 1), (0, 4), (1, 4), (1, 1), (2, 1), (2, 4)]
    assert [r["tx_per_s"] for r in raw["4"]] == [400, 401, 402]
    summary = curves.medians(raw, ["tx_per_s", "nested.p99", "missing.field"])
    assert summary["1"]["tx_per_s"] == {"median": 101.0, "min": 100.0, "max": 102.0, "n": 3}
    assert summary["4"]["nested.p99"]["median"] == 1.0
    assert summary["4"]["missing.field"]["n"] == 0


def test_markdown_table_shows_median_and_range() -> None:
    summary = {"1": {"tx": curves.spread([900, 1000, 1100])}, "10": {"tx": curves.spread([None])},
               "1000000": {"tx": curves.spread([0.25])}}
    table = curves.markdown_table("n", summary, [("tx/s", "tx")]).splitlines()
    assert table[0] == "| n | tx/s |"
    assert table[2] == "| 1 | **1,000** (900–1,100) |"
    assert table[3] == "| 10 | – |"
    assert table[4] == "| 1,000,000 | **0.25** |"


def test_build_log_windows_give_seconds_per_block() -> None:
    log = ("noise\n    100,000 assets, height 5,   10.0 s\n    200,000 assets, height 10,   30.0 s\n"
           "    210,000 assets, height 11,   31.5 s\n")
    windows = curves.parse_build_log(log)
    assert [w["assets"] for w in windows] == [100_000, 200_000, 210_000]
    assert windows[0]["s_per_block"] == 2.0  # 5 blocks after genesis at height 0
    assert windows[1]["s_per_block"] == 4.0
    assert windows[1]["us_per_asset"] == 200.0
    assert windows[2]["s_per_block"] == 1.5 and windows[2]["us_per_asset"] == 150.0
    assert curves.parse_build_log("nothing here") == []
    paused = curves.parse_build_log(log, pauses={200_000: 15.0})
    assert paused[1]["s_per_block"] == 1.0 and paused[1]["elapsed_s"] == 15.0
    assert paused[2]["s_per_block"] == 1.5  # later windows keep their own time


def fake_validators() -> dict[str, object]:
    raw = {str(n): [{"committed_tx_per_s": 1000.0 / n + run, "ceiling_ratio": 0.2 + run / 100,
                     "signature_ceiling": {"tx_per_s": 8000.0 / n}, "latency_ms": {"p50": 100.0 * n, "p99": 200.0 * n}}
                    for run in range(2)] for n in (1, 4)}
    return {"curve": "validators", "runs": 2, "points": [1, 4], "command": "fake", "raw": raw,
            "summary": curves.medians(raw, curves.VALIDATOR_FIELDS)}


def test_importing_the_driver_does_not_need_matplotlib() -> None:
    code = "import sys, benchmarks.curves; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_json_document_is_written_without_plotting(tmp_path: Path) -> None:
    written = curves.write_curve(tmp_path / "figures", "validators", fake_validators(), plot=False)
    assert written == [tmp_path / "figures" / "curve-validators.json"]
    document = json.loads(written[0].read_text())
    assert document["summary"]["4"]["committed_tx_per_s"]["median"] == 250.5
    assert "| 4 | **250** (250–251) |" in curves.table_for(document)


def test_plots_are_svg_files(tmp_path: Path) -> None:
    state_raw = {str(n): [{"p50_ms": 1.0, "p99_ms": 2.0 + run, "rss_mb": 100.0, "rss_anon_mb": 80.0,
                           "rss_file_mb": 20.0, "s_per_block": 3.0} for run in range(2)] for n in (10_000, 100_000)}
    state = {"curve": "state", "runs": 2, "points": [10_000, 100_000], "raw": state_raw,
             "summary": curves.medians(state_raw, curves.STATE_FIELDS),
             "build_windows": {"100000": curves.parse_build_log("  100,000 assets, height 5,   10.0 s\n")}}
    anchoring = {"curve": "anchoring", "nodes": 4, "batch_hashes": 10_000, "windows": [
        {"index_start": 0, "index_end": 600_000, "hashes_per_s": curves.spread([100_000, 120_000]),
         "runs": [{"index_before": 0, "hashes_per_s": 100_000}, {"index_before": 300_000, "hashes_per_s": 120_000}]}]}
    assert curves.table_for(anchoring).splitlines()[2] == "| 0–600,000 | **110,000** (100,000–120,000) | 100,000 · 120,000 | – |"
    for name, document in (("validators", fake_validators()), ("state", state), ("anchoring", anchoring)):
        json_path, svg = curves.write_curve(tmp_path, name, document)
        assert svg == tmp_path / f"curve-{name}.svg"
        assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
        assert json.loads(json_path.read_text())["curve"] == name
