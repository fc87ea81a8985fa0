"""``python -m benchmarks.curves {validators,state,anchoring,plot}``: the scaling curves of issue 15 part 5.

Each curve runs the project's existing tools as subprocesses and keeps every raw figure:

- ``validators``: ``python -m devnet bench --nodes n --workload noop --batch 100`` for n = 1, 4, 7, 10
  (committed tx/s, its ratio to the signature ceiling measured in the same run, p50/p99, CPU per tx);
- ``state``: ``python -m benchmarks.assets_state --assets N --dir D`` for N = 10⁴, 10⁵, 10⁶ (GET p50/p99
  and RSS of a restarted node; the build log's per-block time of 20,000-asset blocks as the commit time);
- ``anchoring``: one 4-validator devnet kept up, ``python -m devnet bench --dir D --workload anchors`` in
  windows of ``--window`` hashes, so the anchored-hash index (ADR 0009) grows from window to window.

Points are measured ``--runs`` times, **alternated** (forward, then backward, ...) so that a drift of the
shared machine's load falls on every point alike, and reported as median and range. Each curve writes
``curve-<name>.json`` (raw runs + medians) and ``curve-<name>.svg`` under ``--out`` (matplotlib, the
``bench`` extra: imported only when plotting, :mod:`benchmarks.curves_plot`). This module measures; it
asserts nothing about speed (STYLE.md).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
VALIDATORS = (1, 4, 7, 10)
STATE_SIZES = (10_000, 100_000, 1_000_000)
# Transactions per validators run, sized for ~20-30 s at the rates measured on the shared 2-core machine.
VALIDATOR_TXS = {1: 35_000, 4: 20_000, 7: 10_000, 10: 6_000}
RUN_TIMEOUT_S = 600

# The targets (issue 15).
TARGET_ONE_VALIDATOR_TX_S = 7_000.0
TARGET_SEVEN_OVER_FOUR = 0.5
TARGET_GET_P99_MS = 10.0
TARGET_RSS_MB = 400.0
TARGET_ANCHOR_HASHES_S = 250_000.0


# --- pure parts: alternation, medians, tables ---------------------------------------------------


def alternated(points: Sequence[Any], runs: int) -> list[tuple[int, Any]]:
    """``(run, point)`` pairs: every point once per run, forward on even runs and backward on odd ones,
    so a slow drift of the machine's load is spread over all points instead of falling on the last."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    order: list[tuple[int, Any]] = []
    for run in range(runs):
        order.extend((run, point) for point in (points if run % 2 == 0 else list(reversed(points))))
    return order


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """Median, min and max of the non-missing ``values`` (all None when there are none)."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(present), "min": min(present), "max": max(present), "n": len(present)}


def pick(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of a nested dict (None if any key is missing)."""
    value: Any = record
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def medians(runs: dict[str, list[dict[str, Any]]], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
    """For each point (key of ``runs``) and each dotted field, the :func:`spread` over its runs."""
    return {point: {field: spread(pick(r, field) for r in records) for field in fields}
            for point, records in runs.items()}


def _say(text: str) -> None:
    print(text, flush=True)


def measure_alternated(points: Sequence[Any], runs: int, measure: Callable[[Any, int], dict[str, Any]],
                       log: Callable[[str], None] = _say) -> dict[str, list[dict[str, Any]]]:
    """Run ``measure(point, run)`` in :func:`alternated` order; the records per point (keys are str)."""
    results: dict[str, list[dict[str, Any]]] = {str(p): [] for p in points}
    for run, point in alternated(points, runs):
        began = time.monotonic()
        record = measure(point, run)
        record.setdefault("wall_s", round(time.monotonic() - began, 1))
        results[str(point)].append(record)
        log(f"  run {run + 1}/{runs} point {point}: {json.dumps(_brief(record))}")
    return results


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"


def cell(summary: dict[str, Any]) -> str:
    """``median (min–max)`` of a :func:`spread`, for a Markdown table."""
    if summary["median"] is None:
        return "–"
    if summary["n"] == 1 or summary["min"] == summary["max"]:
        return f"**{_fmt(summary['median'])}**"
    return f"**{_fmt(summary['median'])}** ({_fmt(summary['min'])}–{_fmt(summary['max'])})"


def markdown_table(first: str, summary: dict[str, dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table: one row per point, one column per ``(label, field)``."""
    lines = ["| " + " | ".join([first, *(label for label, _ in columns)]) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for point, fields in summary.items():
        lines.append("| " + " | ".join([f"{int(point):,}" if point.isdigit() else point,
                                        *(cell(fields[field]) for _, field in columns)]) + " |")
    return "\n".join(lines)


def write_curve(out: Path, name: str, document: dict[str, Any], plot: bool = True) -> list[Path]:
    """Write ``curve-<name>.json`` and (with ``plot``) ``curve-<name>.svg`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"curve-{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    written = [path]
    if plot:
        from benchmarks import curves_plot  # matplotlib: the `bench` extra, only when plotting

        written.append(curves_plot.plot(document, out / f"curve-{name}.svg"))
    return written


def parse_build_log(text: str, pauses: dict[int, float] | None = None) -> list[dict[str, float]]:
    """The progress lines of ``benchmarks.assets_state`` (``  N assets, height H, T s``) as windows:
    assets and height at each line, with the seconds per block since the previous line.

    ``pauses`` maps the asset count of a line to the seconds the build was stopped (SIGSTOP, to keep
    another measurement off a busy machine) between that line and the one before; they are subtracted."""
    windows: list[dict[str, float]] = []
    previous = (0, 0, 0.0)  # genesis at height 0; block h carries assets of the h-th batch
    paused = 0.0
    for match in re.finditer(r"^\s*([\d,]+) assets, height (\d+),\s+([\d.]+) s", text, re.MULTILINE):
        assets, height = int(match[1].replace(",", "")), int(match[2])
        paused += (pauses or {}).get(assets, 0.0)
        elapsed = float(match[3]) - paused
        blocks = max(1, height - previous[1])
        windows.append({"assets": assets, "height": height, "elapsed_s": elapsed,
                        "s_per_block": round((elapsed - previous[2]) / blocks, 3),
                        "us_per_asset": round(1e6 * (elapsed - previous[2]) / max(1, assets - previous[0]), 1)})
        previous = (assets, height, elapsed)
    return windows


# --- the curves ----------------------------------------------------------------------------------


def _run(command: list[str], *, stderr_to: Path | None = None, timeout: float = RUN_TIMEOUT_S) -> str:
    if stderr_to is not None:
        with stderr_to.open("a") as err:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=err, text=True, timeout=timeout, check=False)
        tail = stderr_to.read_text()[-2000:]
    else:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        tail = done.stderr[-2000:]
    if done.returncode != 0:
        raise SystemExit(f"curves: `{' '.join(command[1:])}` failed ({done.returncode}):\n{done.stdout[-2000:]}{tail}")
    return done.stdout


def _bench(extra: list[str], results: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "devnet", "bench", *extra, "--results", str(results), "--log-level", "warning"]
    _run(command)
    report: dict[str, Any] = json.loads((results / "report.json").read_text())
    report["command"] = "python -m devnet bench " + " ".join(extra)
    return report


VALIDATOR_FIELDS = ("committed_tx_per_s", "ceiling_ratio", "signature_ceiling.tx_per_s", "latency_ms.p50",
                    "latency_ms.p99", "cpu_ms_per_tx", "cpu_ms_per_tx_per_node", "signature_cpu_share",
                    "txs_per_block", "committed", "rejected_share", "duration_s")


def curve_validators(runs: int, work: Path, nodes: Sequence[int], txs: dict[int, int]) -> dict[str, Any]:
    def measure(n: int, run: int) -> dict[str, Any]:
        report = _bench(["--nodes", str(n), "--workload", "noop", "--batch", "100", "--clients", "2",
                         "--txs", str(txs[n])], work / f"validators-{n}-run{run}")
        if report["uncommitted"]:  # accepted but never committed: a broken node, not a slow one
            raise SystemExit(f"curves: n={n}: {report['uncommitted']} accepted transactions not committed")
        report["rejected_share"] = round(report["rejected"] / report["submitted"], 3)  # 503 queue_full at n = 1
        if report["cpu_ms_per_tx"] is not None:
            report["cpu_ms_per_tx_per_node"] = round(report["cpu_ms_per_tx"] / n, 3)
        return report

    raw = measure_alternated(list(nodes), runs, measure)
    return {"curve": "validators", "runs": runs, "points": list(nodes), "txs": {str(n): txs[n] for n in nodes},
            "command": "python -m devnet bench --nodes N --workload noop --batch 100 --clients 2 --txs T",
            "raw": raw, "summary": medians(raw, VALIDATOR_FIELDS)}


STATE_FIELDS = ("p50_ms", "p99_ms", "rss_mb", "rss_anon_mb", "rss_file_mb", "build_s", "db_mb", "s_per_block",
                "us_per_asset")


def curve_state(runs: int, work: Path, sizes: Sequence[int], requests: int) -> dict[str, Any]:
    """Build each size once (reused from ``work`` if already built there), measure ``runs`` times."""
    logs: dict[str, list[dict[str, float]]] = {}

    def measure(assets: int, run: int) -> dict[str, Any]:
        directory, log = work / f"assets-{assets}", work / f"assets-{assets}.build.log"
        out = _run([sys.executable, "-m", "benchmarks.assets_state", "--assets", str(assets), "--dir", str(directory),
                    "--requests", str(requests)], stderr_to=log, timeout=3600)
        record: dict[str, Any] = json.loads(out)
        pauses_file = work / f"assets-{assets}.pauses.json"  # {"<assets at the line after>": seconds}
        pauses = {int(k): float(v) for k, v in json.loads(pauses_file.read_text()).items()} if (
            pauses_file.exists()) else {}
        windows = parse_build_log(log.read_text(), pauses) if log.exists() else []
        logs[str(assets)] = windows
        if windows:  # the commit time at this size: the build's last window of blocks
            record["s_per_block"], record["us_per_asset"] = windows[-1]["s_per_block"], windows[-1]["us_per_asset"]
            record["build_s"] = round(windows[-1]["elapsed_s"], 1)  # pauses excluded
        if pauses:
            record["build_paused_s"] = round(sum(pauses.values()), 1)
        return record

    raw = measure_alternated(list(sizes), runs, measure)
    return {"curve": "state", "runs": runs, "points": list(sizes), "requests": requests,
            "command": f"python -m benchmarks.assets_state --assets N --dir D --requests {requests}",
            "note": "each size is built once (the build is the commit-time figure); GET and RSS are measured "
                    "`runs` times, each in a fresh process",
            "build_windows": logs, "raw": raw, "summary": medians(raw, STATE_FIELDS)}


def curve_anchoring(runs: int, work: Path, window: int, max_hashes: int, minutes: float,
                    nodes: int = 4) -> dict[str, Any]:
    """One devnet, benches of ``window / runs`` hashes each until ``max_hashes`` or ``minutes`` are reached."""
    from devnet.workloads_anchors import batch_size

    devnet = work / "devnet"
    _run([sys.executable, "-m", "devnet", "up", "--dir", str(devnet), "--nodes", str(nodes), "--fresh", "--detach",
          "--log-level", "warning"], timeout=300)
    size = batch_size(str(devnet))
    batches = max(1, round(window / size / runs))
    windows: list[dict[str, Any]] = []
    indexed = 0
    deadline = time.monotonic() + 60 * minutes
    try:
        while indexed < max_hashes and time.monotonic() < deadline:
            start = indexed
            samples: list[dict[str, Any]] = []
            for run in range(runs):
                report = _bench(["--dir", str(devnet), "--workload", "anchors", "--txs", str(batches),
                                 "--clients", "2"], work / f"anchors-{len(windows)}-{run}")
                hashes = report["committed"] * size
                samples.append({"index_before": indexed, "hashes": hashes,
                                "hashes_per_s": round(hashes / max(report["duration_s"], 1e-9), 1),
                                "duration_s": report["duration_s"], "cpu_ms_per_tx": report["cpu_ms_per_tx"],
                                "latency_ms": report["latency_ms"]})
                indexed += hashes
                print(f"  window {len(windows)} run {run + 1}/{runs}: index {indexed:,}, "
                      f"{samples[-1]['hashes_per_s']:,.0f} hashes/s", flush=True)
            windows.append({"index_start": start, "index_end": indexed, "runs": samples,
                            "hashes_per_s": spread(s["hashes_per_s"] for s in samples)})
    finally:
        _run([sys.executable, "-m", "devnet", "down", "--dir", str(devnet)], timeout=120)
    return {"curve": "anchoring", "runs": runs, "nodes": nodes, "batch_hashes": size, "batches_per_run": batches,
            "command": f"python -m devnet bench --dir D --workload anchors --txs {batches} --clients 2 "
                       f"(repeated on one {nodes}-validator devnet)",
            "windows": windows}


def anchoring_table(document: dict[str, Any]) -> str:
    """Per window: hashes/s and the node CPU per hash per node (CPU ms per batch ÷ batch ÷ nodes)."""
    per_hash = 1000 / (document["batch_hashes"] * document["nodes"])
    lines = ["| anchored index (hashes) | hashes/s median (range) | runs | node CPU µs per hash per node |",
             "|---|---|---|---|"]
    for w in document["windows"]:
        runs = " · ".join(f"{s['hashes_per_s']:,.0f}" for s in w["runs"])
        cpu = spread(s["cpu_ms_per_tx"] * per_hash if s.get("cpu_ms_per_tx") else None for s in w["runs"])
        lines.append(f"| {w['index_start']:,}–{w['index_end']:,} | {cell(w['hashes_per_s'])} | {runs} | {cell(cpu)} |")
    return "\n".join(lines)


def table_for(document: dict[str, Any]) -> str:
    """The Markdown table of a curve document (as written by this module)."""
    if document["curve"] == "validators":
        return markdown_table("validators", document["summary"], [
            ("committed tx/s", "committed_tx_per_s"), ("ceiling tx/s", "signature_ceiling.tx_per_s"),
            ("ratio to ceiling", "ceiling_ratio"), ("p50 ms", "latency_ms.p50"), ("p99 ms", "latency_ms.p99"),
            ("CPU ms/tx (all nodes)", "cpu_ms_per_tx"), ("CPU ms/tx per node", "cpu_ms_per_tx_per_node"),
            ("refused (503 queue_full)", "rejected_share")])
    if document["curve"] == "state":
        return markdown_table("assets", document["summary"], [
            ("GET p50 ms", "p50_ms"), ("GET p99 ms", "p99_ms"), ("RSS MB", "rss_mb"), ("of it anon MB", "rss_anon_mb"),
            ("of it file MB", "rss_file_mb"), ("s per 20k-asset block", "s_per_block"), ("build s", "build_s"),
            ("DB MB", "db_mb")])
    return anchoring_table(document)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.curves", description=__doc__.split("\n")[0])
    parser.add_argument("curve", choices=["validators", "state", "anchoring", "plot"])
    parser.add_argument("documents", nargs="*", help="with `plot`: curve-*.json files to redraw")
    parser.add_argument("--runs", type=int, default=3, help="alternated runs per point (median reported)")
    parser.add_argument("--out", default=str(FIGURES), help="where curve-<name>.json/.svg go")
    parser.add_argument("--work", default=None, help="scratch directory (default: a temp dir; state: reused builds)")
    parser.add_argument("--nodes", default=",".join(map(str, VALIDATORS)), help="validators: the n to run")
    parser.add_argument("--txs", action="append", default=[], metavar="N=T", help="validators: txs for n=N")
    parser.add_argument("--sizes", default=",".join(map(str, STATE_SIZES)), help="state: asset counts")
    parser.add_argument("--requests", type=int, default=2_000, help="state: GETs per measurement")
    parser.add_argument("--window", type=int, default=1_000_000, help="anchoring: hashes per window")
    parser.add_argument("--max-hashes", type=int, default=10_000_000, help="anchoring: stop at this index size")
    parser.add_argument("--minutes", type=float, default=15.0, help="anchoring: stop starting windows after this")
    parser.add_argument("--no-plot", action="store_true", help="write the JSON only")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # run the clean-up (devnet down, temp dir) on `kill` too
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    out = Path(args.out)
    if args.curve == "plot":
        if not args.documents:
            parser.error("plot needs one or more curve-*.json files")
        for name in args.documents:
            document = json.loads(Path(name).read_text())
            print(write_curve(out, document["curve"], document)[-1])
            print(table_for(document))
        return 0
    try:
        txs = dict(VALIDATOR_TXS) | {int(k): int(v) for k, v in (item.split("=", 1) for item in args.txs)}
        nodes = [int(n) for n in args.nodes.split(",")]
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError as exc:
        parser.error(f"--nodes/--txs/--sizes: {exc}")
    missing = [n for n in nodes if n not in txs]
    if args.curve == "validators" and missing:
        parser.error(f"--txs N=T missing for n = {missing}")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix=f"silkport-curve-{args.curve}-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.curve == "validators":
            document = curve_validators(args.runs, work, nodes, txs)
        elif args.curve == "state":
            document = curve_state(args.runs, work, sizes, args.requests)
        else:
            document = curve_anchoring(args.runs, work, args.window, args.max_hashes, args.minutes)
    finally:
        if not args.work:  # a temp dir of ours: the 10^6-asset database alone is ~2.8 GB
            shutil.rmtree(work, ignore_errors=True)
    document["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for path in write_curve(out, args.curve, document, plot=not args.no_plot):
        print(f"wrote {path}")
    print(table_for(document))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
