"""SVG plots of the scaling curves (:mod:`benchmarks.curves`), with matplotlib (the ``bench`` extra).

Medians are drawn as points joined by lines, the range over the runs as error bars, and the issue's
targets (issue 15) as dashed lines. Only this module imports matplotlib, and only when a curve is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import curves


def _series(document: dict[str, Any], field: str) -> tuple[list[float], list[float], list[list[float]]]:
    """x, median and ``[below, above]`` error bars of ``field`` over the document's points."""
    xs, ys, below, above = [], [], [], []
    for point in document["points"]:
        summary = document["summary"][str(point)][field]
        if summary["median"] is None:
            continue
        xs.append(float(point))
        ys.append(summary["median"])
        below.append(summary["median"] - summary["min"])
        above.append(summary["max"] - summary["median"])
    return xs, ys, [below, above]


def _errorbar(axis: Any, document: dict[str, Any], field: str, label: str, **style: Any) -> None:
    xs, ys, error = _series(document, field)
    axis.errorbar(xs, ys, yerr=error, marker="o", capsize=3, label=label, **style)


def _validators(figure: Any, document: dict[str, Any]) -> None:
    throughput, ratio, latency = figure.subplots(1, 3)
    _errorbar(throughput, document, "committed_tx_per_s", "committed tx/s (median, range)")
    _errorbar(throughput, document, "signature_ceiling.tx_per_s", "same-run signature ceiling", linestyle=":")
    throughput.plot([1], [curves.TARGET_ONE_VALIDATOR_TX_S], marker="_", markersize=20, color="grey",
                    linestyle="none", label="target at n = 1: 7,000 tx/s")
    four = document["summary"].get("4", {}).get("committed_tx_per_s", {}).get("median")
    if four:
        throughput.plot([7], [four * curves.TARGET_SEVEN_OVER_FOUR], marker="_", markersize=20, color="red",
                        linestyle="none", label="target at n = 7: ½ of n = 4")
    throughput.set_yscale("log")
    throughput.set_ylabel("tx/s")
    throughput.set_title("throughput (noop, batches of 100)")
    _errorbar(ratio, document, "ceiling_ratio", "committed / ceiling")
    ratio.set_ylim(bottom=0)
    ratio.set_ylabel("ratio")
    ratio.set_title("ratio to the same-run ceiling")
    _errorbar(latency, document, "latency_ms.p99", "p99")
    _errorbar(latency, document, "latency_ms.p50", "p50")
    latency.set_ylabel("submit → commit, ms")
    latency.set_title("latency at saturation")
    for axis in (throughput, ratio, latency):
        axis.set_xlabel("validators n")
        axis.set_xticks(document["points"])
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)


def _state(figure: Any, document: dict[str, Any]) -> None:
    latency, memory, commit = figure.subplots(1, 3)
    _errorbar(latency, document, "p99_ms", "GET p99")
    _errorbar(latency, document, "p50_ms", "GET p50")
    latency.axhline(curves.TARGET_GET_P99_MS, color="grey", linestyle="--", linewidth=1, label="target p99 10 ms")
    latency.set_ylabel("ms")
    latency.set_title("GET /v1/assets/{id}")
    _errorbar(memory, document, "rss_mb", "RSS")
    _errorbar(memory, document, "rss_anon_mb", "of it anonymous", linestyle=":")
    _errorbar(memory, document, "rss_file_mb", "of it file-backed (LevelDB mmap)", linestyle=":")
    memory.axhline(curves.TARGET_RSS_MB, color="grey", linestyle="--", linewidth=1, label="target 400 MB")
    memory.set_ylabel("MB")
    memory.set_title("node RSS while serving")
    builds: dict[str, list[dict[str, float]]] = document.get("build_windows", {})
    largest = max(builds.values(), key=len, default=[])
    if largest:
        commit.plot([w["assets"] for w in largest], [w["s_per_block"] for w in largest], marker="o",
                     label="per 20,000-asset block, during the largest build")
    commit.set_ylabel("s per block (execute + commit)")
    commit.set_title("commit time as the state grows")
    for axis in (latency, memory, commit):
        axis.set_xscale("log")
        axis.set_xlabel("assets in state")
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)


def _anchoring(figure: Any, document: dict[str, Any]) -> None:
    axis = figure.subplots(1, 1)
    xs, ys, below, above = [], [], [], []
    for window in document["windows"]:
        summary = window["hashes_per_s"]
        xs.append((window["index_start"] + window["index_end"]) / 2 / 1e6)
        ys.append(summary["median"])
        below.append(summary["median"] - summary["min"])
        above.append(summary["max"] - summary["median"])
        axis.scatter([s["index_before"] / 1e6 for s in window["runs"]], [s["hashes_per_s"] for s in window["runs"]],
                     color="lightgrey", s=10, zorder=1)
    axis.errorbar(xs, ys, yerr=[below, above], marker="o", capsize=3, label="hashes/s per window (median, range)")
    axis.axhline(curves.TARGET_ANCHOR_HASHES_S, color="grey", linestyle="--", linewidth=1,
                 label="target 250,000 hashes/s")
    axis.set_ylim(bottom=0)
    axis.set_xlabel("anchored-hash index size (millions)")
    axis.set_ylabel("hashes/s")
    axis.set_title(f"anchoring, {document['nodes']} validators, batches of {document['batch_hashes']:,}")
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3)


def plot(document: dict[str, Any], path: Path) -> Path:
    """Draw the curve ``document`` as an SVG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    wide = document["curve"] != "anchoring"
    figure = Figure(figsize=(13, 4) if wide else (7, 4.5), layout="constrained")
    {"validators": _validators, "state": _state, "anchoring": _anchoring}[document["curve"]](figure, document)
    figure.suptitle(f"{document['curve']}: {document.get('command', '')}", fontsize=8)
    figure.savefig(path, format="svg", metadata={"Date": None})
    return path
